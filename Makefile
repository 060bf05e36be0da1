# The two commands a user needs: `make up` runs the whole platform, `make test` tests it.
# Both install what is missing first (stack/bootstrap.sh; cheap when all is there).
PY := .venv/bin/python

.PHONY: up down reset test lint bootstrap bench

up: bootstrap
	@$(PY) -m stack up

down:
	@if [ -x $(PY) ]; then $(PY) -m stack down; fi

# Wipes the local data (Kafka's topics, Redis, the database, the logs) for a fresh start.
reset:
	@if [ -x $(PY) ]; then $(PY) -m stack reset; fi

test: bootstrap
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(PY) -m mypy
	@$(PY) -m pytest -q

lint: bootstrap
	@$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy

bootstrap:
	@bash stack/bootstrap.sh
