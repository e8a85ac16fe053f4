# Atalaia: `make run` to try it, `make test` to check it. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT
# `make run` catches the demo's e-mail locally (shown on /mailcatcher/) unless a mail
# server is configured.
ATALAIA_MAILCATCHER_PORT ?= 1025
ATALAIA_SMTP_PORT ?= $(ATALAIA_MAILCATCHER_PORT)

.PHONY: run test test-fast test-future test-sqlite test-postgres lint install system-deps oidc-provider bench bench-live bench-intake bench-prober bench-detection bench-false-alarms bench-fanout bench-paging bench-deps bench-statuspage bench-broadcast bench-remote clean

$(BIN)/atalaia: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/atalaia

install: $(BIN)/atalaia

# The real OpenID provider the single sign-on tests sign in at (oidc-provider, npm, run
# with the machine's Node.js), installed from tests/oidc/package-lock.json when missing.
oidc-provider:
	@[ -d tests/oidc/node_modules/oidc-provider ] || npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error

# Debian packages the tests need (Chromium for browser tests, Graphviz for the
# dependency picture, Prometheus Alertmanager as a real intake client, Pango and fonts
# for WeasyPrint's PDFs, poppler-utils to read them back, stress-ng to keep a core busy
# during `make test-future`). Installed only when missing and when we are root.
system-deps:
	@missing=""; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	[ -x "$${ATALAIA_CHROMIUM:-/usr/bin/chromium}" ] || missing="$$missing chromium"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	[ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	for pkg in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" \
	    || missing="$$missing $$pkg"; \
	done; \
	command -v pdftoppm >/dev/null && command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	command -v stress-ng >/dev/null || missing="$$missing stress-ng"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "WARNING: could not install$$missing"; \
	  else echo "WARNING: missing$$missing (run as root or install them)"; fi; \
	fi

# Debian packages the status page benchmark needs (wrk as the load generator, nginx
# serving the static export as the ceiling). Installed only when missing and when we are root.
bench-deps:
	@missing=""; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "WARNING: could not install$$missing"; \
	  else echo "WARNING: missing$$missing (run as root or install them)"; fi; \
	fi

run: install
	@if ! command -v dot >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null || true; fi
	$(BIN)/atalaia migrate --verbosity 0
	$(BIN)/atalaia demo --if-empty
	@echo "Atalaia is starting at http://127.0.0.1:$(PORT)/  (Ctrl-C stops it)"
	ATALAIA_MAILCATCHER_PORT=$(ATALAIA_MAILCATCHER_PORT) ATALAIA_SMTP_PORT=$(ATALAIA_SMTP_PORT) \
	  ATALAIA_SITE_URL=$${ATALAIA_SITE_URL:-http://127.0.0.1:$(PORT)} $(BIN)/atalaia run

lint: install
	$(BIN)/ruff check atalaia tests bench conftest.py
	$(BIN)/mypy atalaia
	$(BIN)/lint-imports

test: install system-deps oidc-provider lint
	ATALAIA_DATA_DIR=$(CURDIR)/data/test $(BIN)/pytest -q

test-fast: install oidc-provider lint
	ATALAIA_DATA_DIR=$(CURDIR)/data/test $(BIN)/pytest -q -m "not slow"

# The whole suite (SQLite) with the clock a year ahead and one core kept busy beside it:
# no test may depend on today's date or on the machine's speed. The clock is moved by
# tests/clock/sitecustomize.py (time-machine, in pytest and in every Python process the
# tests start; libfaketime hangs Python 3.11's timed waits). TEST_CLOCK_DAYS moves it
# elsewhere.
TEST_CLOCK_DAYS ?= 365
test-future: install system-deps oidc-provider lint
	@busy=""; \
	if command -v stress-ng >/dev/null; then stress-ng --cpu 1 --timeout 3h --quiet & busy=$$!; \
	else echo "WARNING: stress-ng is missing: the suite runs without a busy core beside it"; fi; \
	ATALAIA_TEST_CLOCK_OFFSET_DAYS=$(TEST_CLOCK_DAYS) PYTHONPATH=$(CURDIR)/tests/clock \
	  ATALAIA_DATA_DIR=$(CURDIR)/data/test $(BIN)/pytest -q \
	  -W ignore::pytest.PytestAssertRewriteWarning; status=$$?; \
	[ -z "$$busy" ] || kill $$busy; exit $$status

test-postgres: install system-deps oidc-provider
	ATALAIA_DATABASE_URL=$${ATALAIA_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/atalaia} \
	ATALAIA_SECRET_KEY=$${ATALAIA_SECRET_KEY:-test-secret-key-that-is-long-enough-123456} \
	ATALAIA_DATA_DIR=$(CURDIR)/data/test $(BIN)/pytest -q

bench: install
	$(BIN)/python bench/impact.py

bench-live: install
	$(BIN)/python bench/live.py

bench-intake: install
	$(BIN)/python bench/intake.py

bench-prober: install
	$(BIN)/python bench/prober.py --max

bench-detection: install
	$(BIN)/python bench/detection.py

bench-false-alarms: install
	$(BIN)/python bench/false_alarms.py

bench-fanout: install
	$(BIN)/python bench/fanout.py

bench-paging: install
	$(BIN)/python bench/paging.py

bench-statuspage: install bench-deps
	$(BIN)/python bench/statuspage.py

bench-broadcast: install
	$(BIN)/python bench/broadcast.py

bench-remote: install
	$(BIN)/python bench/remote.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
