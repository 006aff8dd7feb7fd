# posturewatch — the two commands a newcomer needs: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_PKGS := mosquitto mosquitto-clients victoria-metrics chromium systemd poppler-utils

.PHONY: demo test lint bench system-deps venv clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## Run everything in one process on a simulated wearer with embedded defaults.
demo: $(STAMP)
	$(BIN)/posturewatch demo

## Install what the tests need (venv; as root the Debian servers) and run the whole suite.
test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/pytest -q

# The integration tests start private Mosquitto and VictoriaMetrics instances and render the
# report in headless Chromium; install the Debian packages when running as root and missing.
system-deps:
	@missing=""; for p in $(DEBIAN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	    systemctl disable --now mosquitto victoria-metrics >/dev/null 2>&1 || true; \
	  else \
	    echo "not root: cannot install$$missing (tests that need them will fail under CI=true, skip otherwise)"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/replay_day.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
