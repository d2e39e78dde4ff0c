# archlab — every target does its own set-up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints/cpu.txt scripts/setup-env.sh
	bash scripts/setup-env.sh $(VENV)

demo: setup
	$(VENV)/bin/archlab demo

test: setup
	bash scripts/test.sh $(VENV)

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
