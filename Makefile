# The local stack runs as plain processes under .local/ (see README). Every target is idempotent.
PYTHON ?= python3
STACK := $(PYTHON) -m local.stack
APP_PY := $(or $(CHAT_STATE_DIR),.local)/venvs/app/bin/python
DEV_PORT ?= 8000
STATE_DIR := $(or $(CHAT_STATE_DIR),$(CURDIR)/.local)
# The quick variants CI runs after `make test` (QUICK=1): small, but each still asserts.
BENCH_QUICK := --quick --only writers --section-timeout 300
FUZZ_QUICK_EXAMPLES := 10

.PHONY: help up down status deploy dev web user-token counts test test-unit lint format bench logs chaos fuzz audit reindex lock deploy-aws deploy-aws-data aws-data-outputs

help:          ## this list: every target with what it does
	@awk -F ':.*## ' '/^[a-z-]+:.*## / {printf "  make %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up:            ## install what is missing, start MariaDB, Redis, Elasticsearch, LocalStack; deploy
	@$(STACK) up

down:          ## stop everything `make up` started
	@$(STACK) down

status:        ## what runs, where, and its log
	@$(STACK) status

deploy:        ## rebuild and redeploy infra/template.yaml into the running LocalStack
	@$(STACK) deploy

dev:           ## serve the API with `chalice local` at 127.0.0.1:8000 (DEV_PORT), reloading on save
	@$(STACK) dev --port $(DEV_PORT)

web:           ## serve web/ from disk on WEB_PORT (default LOCALSTACK_PORT+1) against the deployed API
	@$(STACK) web

user-token:    ## a user token of the local demo application, to sign in on the web page: make user-token NAME=Ana
	@$(STACK) user-token --name "$(or $(NAME),$(error NAME= is required))" $(if $(USER_ID),--user-id "$(USER_ID)") $(if $(ACCESS),--access $(ACCESS))

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

test-unit:     ## tests that need no running service: the use cases on fakes, parsing, templates
	@$(STACK) venv
	@$(APP_PY) -m pytest tests/unit tests/infra $(PYTEST_ARGS)

lint:          ## the gate CI runs first: formatting, lint findings, types, layers (ruff, mypy, import-linter)
	@$(STACK) venv
	@$(APP_PY) -m ruff format --check functions ops local tests
	@$(APP_PY) -m ruff check functions ops local tests
	@$(APP_PY) -m mypy
	@PYTHONPATH=functions $(dir $(APP_PY))lint-imports

format:        ## rewrite the tree in the project's format and apply ruff's safe fixes
	@$(STACK) venv
	@$(APP_PY) -m ruff format functions ops local tests
	@$(APP_PY) -m ruff check --fix functions ops local tests

bench:         ## measure the performance targets against the running stack (docs/performance.md); QUICK=1: the writers' processes, ~2 min (CI)
	@$(STACK) venv
	@$(APP_PY) -c 'import matplotlib, pyinstrument' 2>/dev/null || $(APP_PY) -m pip install -q --require-hashes --no-deps -r local/bench-requirements.txt
	@$(APP_PY) -m tests.bench.run $(if $(QUICK),$(BENCH_QUICK)) $(BENCH_ARGS)

# Every scenario runs, then the fuzzing, whatever failed before; the exit status says if anything did.
chaos:         ## fault matrix, load, soak and fuzzing against the running stack: ~1 h (docs/reliability.md); QUICK=1: ~5 min (CI)
	@$(STACK) venv
	@since="$$(date '+%F %T')"; status=0; \
	CHAOS=1 $(if $(QUICK),CHAOS_QUICK=1) $(APP_PY) -m pytest tests/chaos $(if $(QUICK),-m chaos_quick) $(PYTEST_ARGS) || status=1; \
	$(if $(QUICK),FUZZ_EXAMPLES=$(FUZZ_QUICK_EXAMPLES)) $(APP_PY) -m tests.chaos.fuzz || status=1; \
	$(APP_PY) -m tests.chaos.report --since "$$since"; \
	echo "make chaos: $$( [ $$status = 0 ] && echo passed || echo FAILED), scenarios above, fuzzing's reports in $(STATE_DIR)/chaos/schemathesis"; \
	exit $$status

fuzz:          ## schemathesis from docs/openapi.yaml against the running API (FUZZ_EXAMPLES=100)
	@$(STACK) venv
	@$(APP_PY) -m tests.chaos.fuzz

# The operator tools (ops/, not shipped in the functions' code) read the settings the functions read; these point them at the
# local stack (its ports, and the queue `make up` deployed).
OPS_ENV = PYTHONPATH=functions MYSQL_PORT=$${MYSQL_PORT:-3306} REDIS_URL=redis://127.0.0.1:$${REDIS_PORT:-6379}/0 \
	ELASTICSEARCH_URL=$${ELASTICSEARCH_URL:-http://127.0.0.1:$${ES_PORT:-9200}}

audit:         ## numbers handed out that never reached MySQL, and clashes kept aside; REDRIVE=1 queues the lost again
	@$(STACK) venv
	@$(OPS_ENV) CREATIONS_QUEUE_URL=$$($(PYTHON) -c 'import json; print(json.load(open("$(STATE_DIR)/stack-outputs.json"))["QueueUrl"])') \
		AWS_ENDPOINT_URL=http://127.0.0.1:$${LOCALSTACK_PORT:-4566} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
		AWS_DEFAULT_REGION=us-east-1 $(APP_PY) -m ops.audit $(if $(REDRIVE),--redrive)

reindex:       ## rebuild the search index from MySQL behind its alias while the API serves (REINDEX_ARGS=--help)
	@$(STACK) venv
	@$(OPS_ENV) $(APP_PY) -m ops.reindex $(REINDEX_ARGS)

lock:          ## recompile the lock files (hashes) from their .in files and pyproject.toml; UPGRADE=1 to upgrade
	@$(STACK) venv
	@$(PYTHON) -m local.stack.locks $(if $(UPGRADE),--upgrade)

# -- a real AWS account (docs/deploy-aws.md); never from CI --------------------------------------
SAM ?= $(if $(shell command -v sam),sam,$(STATE_DIR)/venvs/sam/bin/sam)
AWS ?= $(if $(shell command -v aws),aws,$(STATE_DIR)/venvs/app/bin/aws)
DATA_STACK ?= chat-data
# Checks before an AWS deploy: not in CI, SAM CLI at hand, samconfig's [$(1)] filled in.
define aws_preflight
	@if [ -n "$$CI" ]; then echo "refusing: $@ deploys to a real AWS account and never runs in CI" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys, tomllib; env = tomllib.load(open("infra/samconfig.toml", "rb"))["$(1)"]; \
		sys.exit("infra/samconfig.toml [$(1)] still has REPLACE-... values: fill them in (docs/deploy-aws.md)" \
		         if "REPLACE-" in repr(env) else 0)'
	@test -x "$$(command -v $(SAM))" || $(PYTHON) -c 'from local.stack import config, install; print("sam venv", install.sam_venv(config.load()))'
endef

deploy-aws-data: ## deploy infra/data.yaml (Aurora + RDS Proxy, ElastiCache) with samconfig's [data]
	$(call aws_preflight,data)
	cd infra && $(SAM) deploy --config-env data

aws-data-outputs: ## print the data stack's outputs as lines for samconfig's [aws] parameter_overrides
	@$(AWS) cloudformation describe-stacks --stack-name $(DATA_STACK) --output text \
		--query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' | awk '{printf "    \"%s=%s\",\n", $$1, $$2}'

deploy-aws:    ## sam build + sam deploy of infra/template.yaml with samconfig's [aws], then web/ to its bucket
	$(call aws_preflight,aws)
	cd infra && $(SAM) build --config-env aws $(if $(USE_CONTAINER),--use-container)
	cd infra && $(SAM) deploy --config-env aws
	$(PYTHON) -m local.stack web-upload-aws $(AWS)
