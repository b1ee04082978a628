# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint unit apt-deps clean

$(VENV)/.runtime-deps: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements-dev.txt $(VENV)/.runtime-deps
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

apt-deps:
	scripts/install-apt.sh

## run: the server on embedded defaults (SQLite, local screenshot store, file outbox)
run: $(VENV)/.runtime-deps
	$(PY) scripts/run.py

## test: install what the tests need, lint, type-check and run the whole suite
# The in-process pynput listener tests run in their own pytest process: a Tk window created later
# in a process whose listener was stopped segfaulted in Tk (see DEVELOPERS.md).
LISTENER_TESTS := tests/integration/test_input_on_x.py tests/integration/test_idle_on_x.py

test: apt-deps lint
	$(PY) -m pytest $(LISTENER_TESTS)
	$(PY) -m pytest $(addprefix --ignore=,$(LISTENER_TESTS))

## lint: ruff and mypy (strict) over the whole tree
lint: $(VENV)/.dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## unit: the fast loop — every test that needs no X server, browser or other real part
unit: $(VENV)/.dev-deps
	$(PY) -m pytest -q -m "not integration" --ignore=tests/integration

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
