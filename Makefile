# Developer entry points. Every target sets up what it needs, so on a fresh machine
# `make demo` and `make test` are the only two commands to run.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_SCHEMA ?= tests/data/every-shape.json
PYTEST_ARGS ?=
# pytest-xdist workers for `make test`: most of the suite waits on real processes, not on
# the CPU, so there are more workers than cores (docs/testbed.md, "Workers").
# TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 3
# The end-to-end modules whose outcome depends on how writes are done: `make test` runs them
# a second time with the CLI driver (the first run uses the default, the plugin protocol).
# See docs/testbed.md, "Both drivers".
CLI_DRIVER_TESTS ?= $(addprefix tests/runtime/test_e2e_,$(addsuffix .py,\
	random random_id local_file policies errors crash ownership cluster_scope credentials \
	hostile leader plugin_poll faults create_writes))

.PHONY: venv demo testbed test lint clean

# The venv is rebuilt whenever pyproject.toml changes.
$(BIN)/jetgen: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/jetgen

# Main job: generate a provider (CRDs, models, examples, docs, kinds.json) from a bundled schema.
demo: venv
	$(BIN)/jetgen generate --schema $(DEMO_SCHEMA) --output build/demo
	@echo "generated into build/demo"

# Builds and installs the pinned test bed into $${JETGEN_TESTBED_DIR:-~/.cache/jetgen-testbed}.
testbed: venv
	scripts/testbed install

test: testbed lint
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)
	$(BIN)/pytest -n $(TEST_WORKERS) --driver cli $(PYTEST_ARGS) $(CLI_DRIVER_TESTS)

# ruff (lint + format), mypy (strict) and import-linter (the layers of docs/architecture.md).
lint: venv
	$(BIN)/python scripts/lint

clean:
	rm -rf build .pytest_cache
