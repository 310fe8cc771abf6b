# vaxpass developer entry points. `make demo` and `make test` are the two a new user needs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v pyenv >/dev/null 2>&1 && [ -x "$$(pyenv root)/versions/3.12.1/bin/python" ] && echo "$$(pyenv root)/versions/3.12.1/bin/python" || command -v python3.12 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
# Local targets get LocalStack's endpoint and dummy credentials from localstack/common.sh;
# deploy uses whatever AWS credentials the operator's environment holds.

.PHONY: venv browser lint test unit demo demo-stop localstack-up localstack-down bench clean deploy package

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -c "import chalice, pynamodb, pycose, cbor2, zxingcpp, pytest, mypy"
	$(PY) -m ruff --version >/dev/null
	# The `vaxpass` command (pyproject.toml), editable: it runs this checkout from any directory.
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 | grep -v '^WARNING: Location' || true
	$(VENV)/bin/vaxpass --help >/dev/null
	touch $@

venv: $(VENV)/.installed

## Lint and type check (pinned ruff and mypy; their configuration is in pyproject.toml).
lint: venv
	$(PY) -m ruff check .
	$(PY) -m mypy

## Lints, then runs the whole suite (unit + integration on LocalStack); starts LocalStack if
## needed and stops it again if this target started it.
test: venv browser lint
	@bash scripts/with-localstack.sh $(PY) -m pytest $(PYTEST_ARGS)

## Debian's chromium and the pinned playwright-core for the browser tests (idempotent; fails if
## they cannot be installed, so the browser test fails rather than being skipped).
browser:
	bash scripts/install-browser.sh

## Unit tests and the fake half of the contract tests (no LocalStack): the LocalStack half of
## tests/contracts/ is marked integration and runs in `make test`.
unit: venv
	$(PY) -m pytest tests/unit tests/contracts -m "not integration" $(PYTEST_ARGS)

localstack-up:
	bash localstack/up.sh

localstack-down:
	bash localstack/down.sh

bench: venv
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .run demo-output test-artifacts .pytest_cache .mypy_cache .ruff_cache node_modules

## Brings up LocalStack, the resources, chalice local and the event runner, and runs the pipeline.
demo: venv
	bash scripts/demo.sh

demo-stop:
	bash scripts/demo-stop.sh

## Deploys to AWS: the resources stack from infra/ first, then the Chalice app (STAGE=dev|prod).
STAGE ?= dev
deploy: venv
	mkdir -p build
	$(PY) -m infra template --stage $(STAGE) > build/$(STAGE)-resources.json
	aws cloudformation deploy --stack-name vaxpass-$(STAGE)-resources --template-file build/$(STAGE)-resources.json
	$(PY) -m infra policies --stage $(STAGE)
	$(VENV)/bin/chalice deploy --stage $(STAGE)

## Alternative: one SAM template with the app and the resources (chalice package + infra merge).
package: venv
	$(PY) -m infra package --stage $(STAGE) --out build/package-$(STAGE)
