# Bursar: two commands. `make run` serves the product; `make test` runs every test.
# Both install what is missing first (uv + Python deps; softhsm2 through apt when root), and a
# second run skips what is already there.

SHELL := /bin/bash
.DEFAULT_GOAL := help
TOOLS := .data/tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV := .venv
STAMP := $(VENV)/.synced

.PHONY: help run test lint bench deps system-deps clean

help:
	@echo "make run    serve the core (:8000) and the vault (:8001) with local PostgreSQL and SoftHSM"
	@echo "make test   run the whole test suite"
	@echo "make bench  run the benchmarks (see docs/performance.md)"

run: deps
	$(VENV)/bin/bursar run

test: deps
	$(VENV)/bin/pytest

lint: deps
	$(VENV)/bin/lint-imports

bench: deps
	$(VENV)/bin/bursar bench all

deps: system-deps $(STAMP)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

# uv itself, when the machine has none: a private copy under .data/tools.
$(TOOLS)/bin/uv:
	@command -v python3 >/dev/null || { echo "Bursar needs python3 (3.11 or 3.12): apt-get install python3 python3-venv"; exit 1; }
	@python3 -m venv $(TOOLS) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv $(TOOLS); \
	  else echo "Bursar needs the python3-venv package: sudo apt-get install python3-venv"; exit 1; fi; }
	$(TOOLS)/bin/pip install --quiet uv

# SoftHSM2 (the PKCS#11 token used in development and tests) comes from the distribution.
system-deps:
	@command -v softhsm2-util >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then echo "installing softhsm2 (apt)"; \
	    (apt-get install -y -qq softhsm2 >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq softhsm2 >/dev/null)); \
	  else echo "Bursar needs SoftHSM2 for its development HSM: sudo apt-get install softhsm2"; exit 1; fi; }

clean:
	rm -rf $(VENV) .data/tools
