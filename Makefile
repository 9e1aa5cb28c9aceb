# The two commands of the README. Both run as root on a Debian machine.
#   make up    install what is missing, start the platform, deploy the example Space
#   make test  the same, then the whole test suite
#   make down  stop what `make up` started (Spaces come back on the next `make up`)
PY := .venv/bin/python
export SPACES_DATA_DIR ?= /var/lib/spaces

.PHONY: up test down status install unit bench

install:
	@bash deploy/install.sh

up: install
	@$(PY) deploy/lifecycle.py up

test: up
	@bash tests/run

unit: install
	@$(PY) -m pytest -ra tests/unit

down:
	@$(PY) deploy/lifecycle.py down

status:
	@$(PY) deploy/lifecycle.py status

bench: up
	@$(PY) bench/push_to_url.py
