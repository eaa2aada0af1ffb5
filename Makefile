# optimist: every target installs what it needs first; stamp files keep set-up idempotent.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
export ZIG_GLOBAL_CACHE_DIR := $(CURDIR)/.zig-cache
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup test demo bench lint clean doctor mutation browser-deps

# pip and npm are independent: run them side by side, then the builds that need both.
setup:
	@$(MAKE) --no-print-directory -j2 $(STAMPS)/venv $(STAMPS)/npm
	@$(MAKE) --no-print-directory $(STAMPS)/build

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Native + mipsel builds (SoftFloat fetched from its pinned registry sdist, minidnn cffi module, runtime.elf).
$(STAMPS)/build: $(STAMPS)/venv $(STAMPS)/npm $(wildcard minidnn/csrc/*.c minidnn/csrc/*.h minidnn/*.py)
	@mkdir -p $(STAMPS)
	@if [ -f minidnn/build.py ]; then $(PY) -m minidnn.build; fi
	@touch $@

test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=20

# Mutation testing (not part of `make test`): mutmut over the Python core, our own mutants of MIPS.sol,
# Optimist.sol, NodeChecker.sol, ModelRegistry.sol and OptimistBatches.sol; writes docs/mutation.md. MUTATION_ARGS="--sol-limit 60" samples them.
mutation: setup
	$(PY) tools/mutation.py $(MUTATION_ARGS)

demo: setup
	$(VENV)/bin/optimist demo

bench: setup
	$(VENV)/bin/optimist bench

doctor: setup
	$(VENV)/bin/optimist doctor

# Headless Chromium for the explorer's browser test (tests/test_explorer_browser.py skips without it): Debian's
# chromium + chromium-driver via apt-get, as root. Not part of `make test`.
browser-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium and chromedriver are installed"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && apt-get install -y -q chromium chromium-driver; \
	else \
		echo "needs root: sudo apt-get install chromium chromium-driver"; exit 1; \
	fi

lint: $(STAMPS)/venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf build $(STAMPS) .pytest_cache .ruff_cache mutants
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
