# QuantDesk: `make up` runs the platform, `make test` runs every test suite.
# Both bootstrap .venv on a fresh machine and do nothing extra when it is current.

VENV    := .venv
PYTHON  := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# The repository's Jupyter kernel (kernels/quantdesk) is found through JUPYTER_PATH.
export JUPYTER_PATH := $(CURDIR)$(if $(JUPYTER_PATH),:$(JUPYTER_PATH))

.PHONY: up test bench system-deps clean-venv

up: $(STAMP)
	$(VENV)/bin/quantdesk up

test: $(STAMP) system-deps
	$(PYTHON) -m pytest

# The benchmarks compare against libraries the platform does not need (vectorbt): the `bench` extra.
bench: $(STAMP)
	$(PYTHON) -m pip install --quiet -e '.[test,bench]'
	set -e; for script in tests/benchmarks/bench_*.py; do echo "== $$script"; $(PYTHON) $$script; done

# The first Python >= 3.12 on PATH, then in pyenv's versions directory (nautilus_trader needs 3.12+).
$(STAMP): pyproject.toml
	@set -e; \
	if [ ! -x $(PYTHON) ]; then \
	  found=""; \
	  for candidate in $$(for name in python3.13 python3.12 python3 python; do command -v $$name || true; done) \
	                   $${PYENV_ROOT:-$$HOME/.pyenv}/versions/*/bin/python3; do \
	    if [ -x "$$candidate" ] && "$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	      found=$$candidate; break; \
	    fi; \
	  done; \
	  if [ -z "$$found" ]; then echo "No Python >= 3.12 on PATH or under pyenv: install one (e.g. pyenv install 3.12)" >&2; exit 1; fi; \
	  echo "Creating $(VENV) with $$found"; \
	  "$$found" -m venv $(VENV); \
	fi
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	@# Plain `.venv/bin/jupyter` finds the repository kernel too (start-kernel resolves the link).
	@mkdir -p $(VENV)/share/jupyter/kernels && ln -sfn $(CURDIR)/kernels/quantdesk $(VENV)/share/jupyter/kernels/quantdesk
	@touch $(STAMP)

# Debian's Chromium drives the dashboard tests (Playwright's own browser download cannot work offline);
# the service tests start real Redis and PostgreSQL servers (quantdesk.testing.services), never the
# system's own instances, so the packages' services may stay stopped.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "Installing Debian's redis-server for the service tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q redis-server; }
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "Installing Debian's postgresql for the service tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q postgresql; }

clean-venv:
	rm -rf $(VENV)
