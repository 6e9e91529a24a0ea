# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# CPU build first: with torch already installed, the package's torch requirement pulls nothing
TORCH  ?= torch==2.13.0
WEIGHTS ?=
DEMO_OUT ?= demo-output

.PHONY: demo test test-fast lint install clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	@WEIGHTS="$(WEIGHTS)" DEMO_OUT="$(DEMO_OUT)" PY="$(PY)" bash scripts/demo.sh

lint: $(VENV)/.installed
	$(PY) -m ruff check xmem tests scripts examples
	$(PY) -m ruff format --check xmem tests scripts examples
	$(PY) -m mypy xmem tests
	$(PY) -m mypy --strict xmem

# CI: lint, then every test (slow ones included; gpu ones skip themselves without CUDA)
test: $(VENV)/.installed lint
	$(PY) -m pytest -q

# the inner loop: tests not marked slow, no lint
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache .mypy_cache
