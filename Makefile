# The two commands: `make run` (the whole product on embedded defaults) and `make test`.
# Both honour DATABASE_URL and CELERY_BROKER_URL (PostgreSQL and Redis in production).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test venv lint messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo_data
	$(BIN)/python manage.py run_product

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Needs GNU gettext; the compiled .mo files are committed so installs need not have it.
messages: venv
	$(BIN)/python manage.py makemessages -l es --ignore '.venv/*' --ignore 'tests/*' --ignore 'bench/*' --ignore 'frontend/*'
	$(BIN)/python manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf $(VENV) var
