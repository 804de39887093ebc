# Two commands: `make demo` runs the whole job on the embedded default,
# `make test` runs every check. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean i18n i18n-extract i18n-update i18n-compile i18n-init

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/newsletter demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The suite runs in TEST_PROCESSES processes (pytest-xdist), a test file to a process.
TEST_PROCESSES ?= 2
test: lint
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile --cov --cov-report=term $(PYTEST_ARGS)

# Translations (docs/languages.md): extract the marked strings into one template per
# domain, merge them into every language's catalog, compile the catalogs that ship.
LOCALES := newsletter/locale
KEYWORDS := -k gettext_for:2 -k ngettext_for:2,3 -k _ -k gettext -k ngettext:1,2
i18n: i18n-extract i18n-update i18n-compile

i18n-extract: $(STAMP)
	for d in email web; do \
	  $(BIN)/pybabel -q extract -F $(LOCALES)/$$d.cfg $(KEYWORDS) --no-wrap --sort-by-file \
	    --omit-header -o $(LOCALES)/$$d.pot . || exit 1; \
	done

i18n-update: $(STAMP)
	for d in email web; do \
	  $(BIN)/pybabel -q update -D $$d -i $(LOCALES)/$$d.pot -d $(LOCALES) --no-wrap \
	    --ignore-obsolete --no-fuzzy-matching || exit 1; \
	done

i18n-compile: $(STAMP)
	for d in email web; do $(BIN)/pybabel compile -D $$d -d $(LOCALES) --statistics || exit 1; done

# make i18n-init LANGUAGE=it: start catalogs for a new language.
i18n-init: $(STAMP)
	for d in email web; do \
	  $(BIN)/pybabel init -D $$d -i $(LOCALES)/$$d.pot -d $(LOCALES) -l $(LANGUAGE) --no-wrap || exit 1; \
	done

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .coverage
