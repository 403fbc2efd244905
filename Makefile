# The two commands: `make run` (the whole product on embedded defaults) and `make test`.
# Both honour DATABASE_URL and CELERY_BROKER_URL (PostgreSQL and Redis in production).
# Both install from requirements.lock (exact versions with hashes); `make lock` remakes it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements.lock
# `make lock` resolves on public PyPI with this uv, whatever index pip is set to use here.
UV_VERSION := 0.13.9
LOCK_INDEX ?= https://pypi.org/simple
LOCK_TOOLS := var/lock-tools
LOCK_ARGS ?=
# What the lock is made from: pyproject.toml's dependencies, extras, Python and build
# requirements. The lock's last line carries its digest, so a stale lock is caught.
PYPROJECT_DIGEST = $(PYTHON) -c 'import hashlib, json, tomllib; \
  p = tomllib.load(open("pyproject.toml", "rb")); \
  keys = ("dependencies", "optional-dependencies", "requires-python"); \
  inputs = [p["project"].get(k) for k in keys] + [p["build-system"]["requires"]]; \
  print(hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest())'

.PHONY: run test venv lock lock-upgrade check-lock lint messages clean

# The venv is made anew from the lock whenever the lock changes: exactly what it lists, then
# the project itself (editable, no dependencies, built by the locked setuptools, whose warning
# that an editable install imports folders of the same name is silenced: that is the point).
# Two makes at once in one clone (two `make test`) build it one after the other, under flock
# (util-linux; without it, unguarded): the second finds it built.
ifeq ($(VENV_LOCKED),)
$(STAMP): $(LOCK)
	@mkdir -p var
	@$(if $(shell command -v flock),flock var/venv.lock) \
	  $(MAKE) --no-print-directory $(STAMP) VENV_LOCKED=1
else
$(STAMP): $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	PYTHONWARNINGS=ignore::UserWarning \
	  $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)
endif

venv: check-lock $(STAMP)

check-lock:
	@digest=$$($(PYPROJECT_DIGEST)) && \
	  grep -qx "# pyproject.toml digest: $$digest" $(LOCK) || { \
	  echo "$(LOCK) is not made from this pyproject.toml's dependencies: run 'make lock'." >&2; \
	  exit 1; }

# The one command after editing dependencies in pyproject.toml. The lock covers them and every
# extra (dev for make test), for Python 3.11 and later on any platform; it keeps every pin it
# can, adds what is new, drops what is gone. `make lock-upgrade` takes the newest of
# everything; one package: make lock LOCK_ARGS='--upgrade-package celery'.
lock:
	[ -x $(LOCK_TOOLS)/bin/uv ] && $(LOCK_TOOLS)/bin/uv --version | grep -q ' $(UV_VERSION) ' \
	  || { $(PYTHON) -m venv $(LOCK_TOOLS) && \
	       $(LOCK_TOOLS)/bin/pip install --quiet 'uv==$(UV_VERSION)'; }
	$(PYTHON) -c 'import tomllib; \
	  p = tomllib.load(open("pyproject.toml", "rb")); \
	  print("\n".join(["pip", *p["build-system"]["requires"]]))' \
	| $(LOCK_TOOLS)/bin/uv pip compile --quiet --no-config --default-index $(LOCK_INDEX) \
	  --universal --python-version 3.11 --generate-hashes --all-extras \
	  --custom-compile-command 'make lock' $(LOCK_ARGS) -o $(LOCK) pyproject.toml -
	echo "# pyproject.toml digest: $$($(PYPROJECT_DIGEST))" >> $(LOCK)

lock-upgrade:
	$(MAKE) --no-print-directory lock LOCK_ARGS=--upgrade

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
