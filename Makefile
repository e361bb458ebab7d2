# The local stack runs as plain processes under .local/ (see README). Every target is idempotent.
PYTHON ?= python3
STACK := $(PYTHON) -m local.stack
APP_PY := .local/venvs/app/bin/python

.PHONY: up down status deploy counts test test-unit logs

up:            ## install what is missing, start MariaDB, Redis, Elasticsearch, LocalStack; deploy
	@$(STACK) up

down:          ## stop everything `make up` started
	@$(STACK) down

status:        ## what runs, where, and its log
	@$(STACK) status

deploy:        ## rebuild and redeploy infra/template.yaml into the running LocalStack
	@$(STACK) deploy

counts:        ## refresh chats_count and messages_count now
	@$(STACK) counts

logs:          ## last lines of a service's log: make logs SERVICE=elasticsearch
	@$(STACK) logs $(SERVICE)

test:          ## bring the stack up, then run every test against it (SKIP_UP=1: it already runs)
ifdef SKIP_UP
	@$(STACK) venv
else
	@$(STACK) up
endif
	@$(APP_PY) -m pytest $(PYTEST_ARGS)

test-unit:     ## tests that need no running service
	@$(STACK) venv
	@$(APP_PY) -m pytest tests/unit $(PYTEST_ARGS)
