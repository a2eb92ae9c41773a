# Two set-up commands: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO   ?= demo-output

.PHONY: demo test venv bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/snapstamps demo --out $(DEMO)

test: venv
	@command -v octave-cli >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends octave >/dev/null; } || echo "octave-cli not installed: the Octave tests will skip"
	$(PY) -m pytest -q

bench: venv
	$(PY) bench/psi.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
