# Developer entry points. `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
RUNTIME := .venv-runtime
RUNTIME_STAMP := $(RUNTIME)/.installed
MINISTACK := .venv-ministack
MINISTACK_STAMP := $(MINISTACK)/.installed
NODE_TOOLS := devtools/node
NODE_STAMP := $(NODE_TOOLS)/node_modules/.installed
# The commit whose OpenAPI document `make api-diff` compares with.
BASE ?= main
ENV ?= development
# The region of every AWS command here: AWS_REGION / AWS_DEFAULT_REGION when set.
REGION ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),us-east-1)

# SAM CLI: no telemetry, no update checks (both would reach for the network).
export SAM_CLI_TELEMETRY := 0
export SAM_CLI_DISABLE_VERSION_CHECK := 1

FN ?= ApiFunction
# Empty: the function's own sample event (devtools/invoke.py).
EVENT ?=

.PHONY: help venv runtime lock schemas api-diff env-vars acceptance dev test unit lint format build deploy validate audit invoke bench redrive clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# uv builds every environment from the locks (requirements*.txt, `make lock`), checking every
# distribution's hash. Where uv is not on PATH, it is installed into .uv/ first, with pip and the
# Python 3.13 found (one hash-checked wheel: requirements-uv.txt).
UV_HOME := $(dir $(abspath $(lastword $(MAKEFILE_LIST)))).uv
UV := $(or $(shell command -v uv 2>/dev/null),$(UV_HOME)/bin/uv)
export UV
UV_INSTALL := $(UV) pip sync --quiet --require-hashes

$(UV_HOME)/bin/uv: requirements-uv.txt scripts/find-python313
	@python313="$$(scripts/find-python313)" || exit 1; \
	echo "uv is not on PATH: installing uv $$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements-uv.txt) into .uv/ with $$python313"; \
	"$$python313" -m pip --version >/dev/null 2>&1 || { \
		echo "error: $$python313 has no pip: install uv (then make uses it) or pip"; exit 1; }; \
	rm -rf $(UV_HOME) && "$$python313" -m pip install --quiet --disable-pip-version-check \
		--no-warn-script-location --root-user-action=ignore --isolated \
		--require-hashes --no-deps --target $(UV_HOME) -r requirements-uv.txt && \
	touch $(UV_HOME)/bin/uv

# A virtualenv is made anew when it is missing or not a Python 3.13 one, then synced to its lock
# (packages the lock lacks are removed).
define make-venv
	@python313="$$(scripts/find-python313)" || exit 1; \
	if [ -x $(1)/bin/python ] && ! $(1)/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then \
		echo "removing $(1): not a Python 3.13 environment"; rm -rf $(1); fi; \
	if [ -x $(1)/bin/python ]; then echo "$(1): syncing to $(2)"; else \
		echo "$(1): building a Python 3.13 environment from $(2) with uv"; \
		$(UV) venv --quiet --python "$$python313" $(1); fi
	@$(UV_INSTALL) $(3) --python $(1)/bin/python $(2)
endef

$(STAMP): requirements-dev.txt $(UV) scripts/find-python313
	$(call make-venv,$(VENV),requirements-dev.txt)
	@touch $@

venv: $(STAMP)  ## create .venv with Python 3.13 and the dev requirements

$(TOOLS_STAMP): requirements-tools.txt $(UV) scripts/find-python313
	$(call make-venv,$(TOOLS),requirements-tools.txt)
	@touch $@

# What a function imports on Lambda and nothing else: requirements.txt and the runtime's boto3,
# compiled to bytecode as the layer is. The local stack's workers and `make bench` run here;
# snapstart/ holds the SnapStart hooks package, on the workers' path in SnapStart mode only.
$(RUNTIME_STAMP): requirements-runtime.txt requirements-snapstart.txt $(UV) scripts/find-python313
	$(call make-venv,$(RUNTIME),requirements-runtime.txt,--compile-bytecode)
	@rm -rf $(RUNTIME)/snapstart
	@$(UV) pip install --quiet --require-hashes --no-deps --target $(RUNTIME)/snapstart \
		-r requirements-snapstart.txt
	@touch $@

$(MINISTACK_STAMP): requirements-ministack.txt $(UV) scripts/find-python313
	$(call make-venv,$(MINISTACK),requirements-ministack.txt)
	@touch $@

# Node tools (api-smart-diff for `make api-diff`), from their lock with its integrity hashes.
$(NODE_STAMP): $(NODE_TOOLS)/package.json $(NODE_TOOLS)/package-lock.json
	@command -v npm >/dev/null || { echo "error: make api-diff needs Node.js and npm on PATH"; exit 1; }
	npm ci --prefix $(NODE_TOOLS) --silent --no-audit --no-fund
	@touch $@

runtime: $(RUNTIME_STAMP)  ## create .venv-runtime: the runtime requirements only, as on Lambda

# UPGRADE=<package> lets that package (a transitive one too) move to its newest allowed version.
lock: $(UV)  ## re-resolve the locks (requirements*.txt) from their inputs (requirements*.in)
	@python313="$$(scripts/find-python313)" || exit 1; \
	"$$python313" -m devtools.lock $(foreach package,$(UPGRADE),--upgrade-package $(package))

schemas: $(STAMP)  ## docs/openapi.json and docs/schemas/: the published contracts, from the models
	$(PY) -m devtools.schemas

api-diff: $(STAMP) $(NODE_STAMP)  ## breaking changes in the OpenAPI document against BASE's (default main)
	$(PY) -m devtools.api_diff --base $(BASE)

dev: $(STAMP) $(RUNTIME_STAMP)  ## the whole service locally (API :3000, AWS emulator :4566) until Ctrl-C
	$(PY) -m devtools.local

test: $(STAMP) $(RUNTIME_STAMP) $(MINISTACK_STAMP) $(NODE_STAMP)  ## ruff, mypy, the template checks, the API's breaking changes, every test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory validate
	$(MAKE) --no-print-directory api-diff
	$(PY) -m pytest --iam-report --durations=15 --numprocesses auto --dist loadfile --no-loadscope-reorder

# ENV given (make acceptance ENV=staging): that deployed stack, with your AWS configuration as
# it is (credentials, profile, region); REGION=... given overrides the region.
acceptance: $(STAMP) $(RUNTIME_STAMP)  ## the end-to-end suite on a local stack it starts, or on ENV's stack
ifneq ($(filter command line environment,$(origin ENV)),)
	STACK_NAME="$$($(PY) -c 'from devtools.stack import stack_name; print(stack_name("$(ENV)"))')" \
	$(if $(filter command line environment,$(origin REGION)),AWS_REGION=$(REGION) AWS_DEFAULT_REGION=$(REGION)) \
	$(PY) -m pytest tests/integration/test_acceptance.py
else
	$(PY) -m pytest tests/integration/test_acceptance.py
endif

unit: $(STAMP) $(RUNTIME_STAMP)  ## run the unit tests only
	$(PY) -m pytest tests/unit

lint: $(STAMP)  ## ruff, mypy, the template linters and the API's breaking changes
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory validate
	$(MAKE) --no-print-directory api-diff

format: $(STAMP)  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

validate: $(STAMP) $(TOOLS_STAMP)  ## cfn-lint, sam validate --lint and checkov on template.yaml
	$(BIN)/cfn-lint template.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam validate --lint --region $(REGION)
	BC_SKIP_MAPPING=TRUE $(TOOLS)/bin/checkov --config-file .checkov.yaml

# Known vulnerabilities in the locked runtime set (PyPI's advisory data): exactly the pinned,
# hash-checked packages, with no resolution of its own.
audit: $(TOOLS_STAMP)  ## pip-audit over the lock requirements.txt
	$(TOOLS)/bin/pip-audit --requirement requirements.txt --require-hashes --no-deps \
		--disable-pip --progress-spinner off

build: $(STAMP)  ## sam build: arm64 artifacts holding src/ and runtime dependencies only
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam build

deploy: build  ## sam build, then sam deploy --config-env $(ENV)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sam deploy --config-env $(ENV) --region $(REGION)

invoke: $(STAMP)  ## run FN's handler here with EVENT (default: FN's sample), AWS in-process
	$(PY) -m devtools.invoke $(FN) $(EVENT)

bench: $(STAMP) $(RUNTIME_STAMP)  ## cold starts, warm latencies, AWS calls and sizes against their budgets
	$(PY) -m devtools.bench

env-vars: $(STAMP)  ## .aws-sam/env-$(ENV).json: `sam local --env-vars` for ENV's deployed stack
	$(PY) -m devtools.env_vars --env $(ENV) --region $(REGION)

redrive: $(STAMP)  ## move ENV's order DLQ back to the order queue (SHOW=1: each message's reason, moving nothing)
	$(PY) -m devtools.redrive --env $(ENV) --region $(REGION)$(if $(SHOW), --show)

clean:  ## remove build output and caches (keeps the virtualenvs)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage htmlcov

# --- SAM makefile builds (template.yaml: Metadata BuildMethod makefile) -------------------------
# sam build runs these with ARTIFACTS_DIR set. Functions get src/ only; the shared layer gets the
# runtime requirements as aarch64 wheels for CPython 3.13 (boto3 comes with the runtime).
# src/ goes with its bytecode, compiled here: /var/task is read-only, so without it every cold
# start compiles src/ again (docs/deploying.md, "What is deployed"). Unchecked-hash .pyc files
# stay valid whatever timestamps the zip gives the sources, which stay for readable tracebacks.
build-ApiFunction build-SqsHandlerFunction build-S3HandlerFunction build-AccessTokenFunction: $(STAMP)
	mkdir -p "$(ARTIFACTS_DIR)"
	tar --exclude='__pycache__' --exclude='*.pyc' -cf - src | tar -xf - -C "$(ARTIFACTS_DIR)"
	$(PY) -m compileall -q --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)/src" > /dev/null

# The layer is "sourceless": each module compiled once here (CPython 3.13, the runtime's bytecode)
# and shipped as .pyc without its .py: /opt is read-only, so sources alone are compiled again at
# every cold start, and sources beside their bytecode only add size (docs/deploying.md).
# dnspython is removed: email-validator imports it only for deliverability (DNS) checks, which
# the service turns off (tests/integration/test_build.py proves validation works without it).
build-DependenciesLayer: $(STAMP)
	$(UV) pip install --quiet --require-hashes --no-deps --only-binary :all: \
		--python-platform aarch64-manylinux_2_28 --python-version 3.13 \
		--target "$(ARTIFACTS_DIR)/python" -r requirements.txt
	rm -rf "$(ARTIFACTS_DIR)/python/dns" "$(ARTIFACTS_DIR)"/python/dnspython-*.dist-info \
		"$(ARTIFACTS_DIR)/python/bin"
	# GET /docs serves two files of Swagger UI's distribution; the rest (source maps, other
	# bundles) is left out.
	find "$(ARTIFACTS_DIR)/python/swagger_ui_bundle/vendor" -type f \
		! -name swagger-ui-bundle.js ! -name swagger-ui.css ! -name 'LICENSE*' -delete
	$(PY) -m compileall -q -b -j 0 "$(ARTIFACTS_DIR)/python" > /dev/null
	find "$(ARTIFACTS_DIR)/python" -name '*.py' -delete
