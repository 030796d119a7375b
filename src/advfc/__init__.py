"""advfc: make small function-calling models robust by attacking them."""

__version__ = "0.1.0"
