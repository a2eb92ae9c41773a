# Two set-up commands: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO   ?= demo-output

.PHONY: demo test venv bench clean browser-deps app-package interfaces serve lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/snapstamps demo --out $(DEMO)

test: venv browser-deps lint
	@command -v octave-cli >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends octave >/dev/null; } || echo "octave-cli not installed: the Octave tests will skip"
	@[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null; } || echo "postgresql not installed: the PostgreSQL job-store tests will skip"
	$(PY) -m pytest -q

# ruff (src, tests, scripts, bench) and mypy (strict on the numerical kernels), configured in pyproject.toml
lint: venv
	$(VENV)/bin/ruff check src tests scripts bench
	$(VENV)/bin/mypy

# headless Chromium and playwright-core for the viewer's browser tests (skipped, with the reason, when absent)
browser-deps:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; } || echo "chromium not installed: the browser tests will skip"
	@[ -d web/node_modules/playwright-core ] || { command -v npm >/dev/null && (cd web && npm ci --no-audit --no-fund --silent); } || echo "playwright-core not installed: the browser tests will skip"

# regenerate the packed OGC application packages (tests fail when they are stale)
app-package: venv
	$(PY) scripts/pack_app_packages.py

# regenerate what is derived from the configuration models (process descriptions, CWL inputs), then the packages
interfaces: venv
	$(PY) scripts/generate_interfaces.py

serve: venv
	$(VENV)/bin/snapstamps serve --port 5000

bench: venv
	$(PY) bench/psi.py
	$(PY) bench/ifg.py
	$(PY) bench/viewer.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
