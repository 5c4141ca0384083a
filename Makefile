# The two commands a newcomer needs: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck layering install clean bench bench-core browser docs lint-deploy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml plugins/mastodon/pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q -e ./plugins/mastodon
	# Amazon's Creators API SDK checks the test kit's stand-in; its pins would downgrade urllib3.
	$(BIN)/pip install -q --no-deps amazon-creatorsapi-python-sdk==1.2.0
	touch $(STAMP)

# Reply catalogs compiled at install time; a missing or older .mo compiles in memory instead.
CATALOGS := $(patsubst %.po,%.mo,$(wildcard core/hashcart/i18n/*.po))

core/hashcart/i18n/%.mo: core/hashcart/i18n/%.po $(STAMP)
	$(BIN)/python -m hashcart.i18n $*

install: $(STAMP) $(CATALOGS)

run: install
	$(BIN)/hashcart db upgrade
	$(BIN)/hashcart catalog import core/hashcart/data/sample_catalog.json
	$(BIN)/hashcart playground

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy -p hashcart -p hashcart_amazon -p hashcart_twitter -p hashcart_slack -p hashcart_discord \
	  -p hashcart_mastodon -p hashcart_shop

layering: $(STAMP)
	$(BIN)/lint-imports

# deploy/ cannot run here (no Docker, no cluster): hadolint, the compose schema, yamllint,
# kubernetes-validate and systemd-analyze check it instead.
lint-deploy: $(STAMP)
	sh deploy/lint.sh $(BIN)

# Plugin-author docs; --strict makes every warning (a broken link, an undocumented hook) fail.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

# Browser tests drive Debian's Chromium (a browser download from the web is not possible here).
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && \
	  { apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; }; } || \
	  echo "chromium could not be installed: the browser tests will skip (and fail under CI=true)"

test: install lint typecheck layering lint-deploy docs browser
	$(BIN)/pytest -q

# The side-by-side table of bench/README.md (both databases, ~10 minutes; BENCH_ARGS=--quick
# halves it). bench-core: the core alone, no HTTP.
bench: $(STAMP)
	$(BIN)/python bench/all.py $(BENCH_ARGS)

bench-core: $(STAMP)
	$(BIN)/python bench/core.py

clean:
	rm -rf $(VENV) build *.egg-info
