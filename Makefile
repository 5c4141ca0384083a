# The two commands a newcomer needs: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck layering install clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/hashcart db upgrade
	$(BIN)/hashcart catalog import core/hashcart/data/sample_catalog.json
	$(BIN)/hashcart serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy -p hashcart -p hashcart_amazon -p hashcart_twitter -p hashcart_slack -p hashcart_discord

layering: $(STAMP)
	$(BIN)/lint-imports

test: $(STAMP) lint typecheck layering
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/core.py

clean:
	rm -rf $(VENV) build *.egg-info
