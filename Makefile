# Two commands on a fresh machine: `make run` (the service on SQLite + local outbox) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The local PostgreSQL the scale-path tests run on; set it empty to skip those tests.
NEWSLETTER_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
export NEWSLETTER_TEST_POSTGRES_URL

.PHONY: run test venv system-deps clean

# From npm, for the tests: axe-core (accessibility of every page) and mjml (the reference the
# shipped email templates are compared with in chromium).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Debian's chromium drives the browser tests (never a downloaded browser); openssl makes the
# test SMTP server's certificates; dovecot-imapd is the real IMAP server the inbound polling
# tests start; postfix is the real MTA whose bounces the inbound tests read; faketime runs
# workers on clocks that disagree.
# Idempotent: installs only what is missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	command -v faketime >/dev/null 2>&1 || missing="$$missing faketime"; \
	test -x /usr/sbin/dovecot || missing="$$missing dovecot-imapd"; \
	test -x /usr/sbin/postfix || missing="$$missing postfix"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "missing:$$missing: run 'sudo apt-get install$$missing'" >&2; exit 1; fi; \
	fi

# `newsletter run` supervises the web app, a worker and the scheduler as one group: Ctrl-C stops
# them all; if one dies the others are stopped too. Ingesting seeds/ and composing are idempotent.
run: venv
	$(BIN)/newsletter db upgrade
	-$(BIN)/newsletter ingest seeds
	-$(BIN)/newsletter issues compose
	@echo "admin password: $$(cat var/admin_password 2>/dev/null || echo "\$$NEWSLETTER_ADMIN_PASSWORD")"
	@echo "outbox: var/outbox (one .eml per message)"
	exec $(BIN)/newsletter run --host $(HOST) --port $(PORT)

# Three workers on two cores: a third of the suite waits on subprocesses, servers and chromium,
# so a third worker fills the cores (measured: 355 s against 407 s with two).
# mypy (~15 s of one core on a fresh clone, no cache) runs beside pytest, which leaves a core idle
# part of the time; its report is printed after pytest's, and either failing fails the target.
test: venv system-deps node_modules/.installed
	$(BIN)/ruff check newsletter tests bench scheduler.py
	$(BIN)/deptry .
	@log=$$(mktemp); $(BIN)/mypy >$$log 2>&1 & mypy=$$!; \
	$(BIN)/python -m pytest -q -n 3 -p no:cacheprovider; tests=$$?; \
	wait $$mypy; types=$$?; echo "mypy:"; cat $$log; rm -f $$log; \
	test $$tests = 0 && test $$types = 0

clean:
	rm -rf $(VENV) var .pytest_cache node_modules
