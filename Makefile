# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

PORT ?= 5000

.PHONY: run test lint unit apt-deps clean dist

$(VENV)/.runtime-deps: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements-dev.txt $(VENV)/.runtime-deps
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(VENV)/.build-deps: requirements-build.txt $(VENV)/.runtime-deps
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-build.txt
	touch $@

apt-deps:
	scripts/install-apt.sh

## run: the server on embedded defaults (SQLite, local screenshot store, file outbox)
run: $(VENV)/.runtime-deps
	$(PY) scripts/run.py --port $(PORT)

## dist: the agent as one folder that runs without Python: dist/vinova/vinova (PyInstaller, packaging/)
AGENT_SOURCES := $(wildcard *.py) $(shell find agent contract -name '*.py') \
	packaging/vinova.spec packaging/vinova.png requirements.txt requirements-build.txt
dist/vinova/vinova: $(VENV)/.build-deps $(AGENT_SOURCES)
	$(VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build \
		packaging/vinova.spec
	touch $@

dist: dist/vinova/vinova

## test: install what the tests need, lint, type-check and run the whole suite
# The in-process pynput listener tests run in their own pytest process: a Tk window created later
# in a process whose listener was stopped segfaulted in Tk (see DEVELOPERS.md).
LISTENER_TESTS := tests/integration/test_input_on_x.py tests/integration/test_idle_on_x.py

# tests/integration/test_dist.py runs the built executable from dist/ (rebuilt when a source changed).
test: apt-deps lint dist
	$(PY) -m pytest $(LISTENER_TESTS)
	$(PY) -m pytest $(addprefix --ignore=,$(LISTENER_TESTS))

## lint: ruff and mypy (strict) over the whole tree
lint: $(VENV)/.dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## unit: the fast loop — every test that needs no X server, browser or other real part, on two workers
unit: $(VENV)/.dev-deps
	$(PY) -m pytest -q -n 2 -m "not integration" --ignore=tests/integration

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
