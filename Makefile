# Two commands for a fresh machine: `make demo` opens JupyterLab on the notebooks,
# `make test` runs lint, type checks and every test suite. Both create .venv first.
# The JupyterLab extension (labextension/) needs Node.js 20+ to build; the browser tests
# need Debian's chromium (`apt-get install chromium`; .ci/run installs it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CHROMIUM ?= /usr/bin/chromium
# jlpm and the extension's build scripts find `jupyter-builder` and `python` in the venv.
VENV_PATH := PATH="$(CURDIR)/$(BIN):$$PATH"
JLPM := $(VENV_PATH) $(CURDIR)/$(BIN)/jlpm

LABEXT_SOURCES := $(shell find labextension/src labextension/style labextension/schema \
	-type f -not -path '*/__tests__/*' 2>/dev/null) \
	labextension/package.json labextension/tsconfig.json
LABEXT_BUILT := agent_kernel/labextension/package.json
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/agent-kernel

.PHONY: demo test lint typecheck jstest browser-test labextension bench install-test \
	install-lab clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The extension is built by the targets below, not by pip's build hook (SKIP_JUPYTER_BUILDER),
# so a Python change does not rebuild it and a TypeScript change does.
install-test: $(BIN)/python
	SKIP_JUPYTER_BUILDER=1 $(PIP) install --quiet -e ".[test]"

install-lab: $(BIN)/python
	SKIP_JUPYTER_BUILDER=1 $(PIP) install --quiet -e ".[lab]"

demo: install-lab labextension
	$(BIN)/jupyter lab --notebook-dir=notebooks

lint: install-test
	$(BIN)/ruff check agent_kernel tests benchmarks
	$(BIN)/ruff format --check agent_kernel tests benchmarks

typecheck: install-test
	$(BIN)/mypy

# pytest last: its summary closes the output.
test: lint typecheck jstest browser-test
	$(BIN)/python -m pytest

# -- JupyterLab extension -------------------------------------------------------------------
labextension/node_modules/.yarn-state.yml: labextension/package.json labextension/yarn.lock \
		| $(BIN)/jlpm
	cd labextension && $(JLPM) install --immutable
	touch $@

$(LABEXT_BUILT): $(LABEXT_SOURCES) labextension/node_modules/.yarn-state.yml
	cd labextension && $(JLPM) build:prod

# jlpm and jupyter-builder (also a dependency of JupyterLab 4.6).
$(BIN)/jlpm: $(BIN)/python
	$(PIP) install --quiet "jupyter_builder>=1.3"

# Built into agent_kernel/labextension and linked into the venv, as `pip install .` would put it.
labextension: $(LABEXT_BUILT)
	@test -L $(LABEXT_LINK) || $(VENV_PATH) $(BIN)/jupyter-builder develop --overwrite .

jstest: labextension/node_modules/.yarn-state.yml
	cd labextension && $(JLPM) test

labextension/ui-tests/node_modules/.yarn-state.yml: labextension/ui-tests/package.json \
		labextension/ui-tests/yarn.lock | $(BIN)/jlpm
	cd labextension/ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(JLPM) install --immutable
	touch $@

# Galata (Playwright) in Debian's Chromium; screenshots go to labextension/ui-tests/artifacts/.
browser-test: install-test labextension labextension/ui-tests/node_modules/.yarn-state.yml
	@test -x $(CHROMIUM) || { echo "browser-test needs Chromium at $(CHROMIUM):" \
		"apt-get install chromium (or CHROMIUM=/path/to/chromium make browser-test)"; exit 1; }
	cd labextension/ui-tests && CHROMIUM=$(CHROMIUM) PYTHON=$(CURDIR)/$(BIN)/python \
		$(JLPM) playwright test

bench: install-test
	$(BIN)/python benchmarks/bench_load_ext.py
	$(BIN)/python benchmarks/bench_step_overhead.py
	$(BIN)/python benchmarks/bench_tools.py
	$(BIN)/python benchmarks/bench_embedding.py
	$(BIN)/python benchmarks/bench_recall.py
	$(BIN)/python benchmarks/bench_context.py
	$(BIN)/python benchmarks/bench_concurrent_writers.py
	$(BIN)/python benchmarks/bench_injection.py
	$(BIN)/python benchmarks/bench_verifier.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache agent_kernel/labextension \
		labextension/node_modules labextension/lib labextension/tsconfig.tsbuildinfo \
		labextension/ui-tests/node_modules labextension/ui-tests/artifacts
