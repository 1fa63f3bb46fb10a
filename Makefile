# ml-connector developer commands. Every target builds .venv from the pinned versions first.
DEMO_ARGS ?= --customers 2000 --suppliers 800 --pipedrive-plan ultimate --pipedrive-seats 3
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: venv test cluster soak soak-writers soak-faults lint typecheck pytest demo sandbox airflow bench reference constraints clean

venv: $(STAMP)

# Rebuilt whenever the project metadata or the pins change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check ml_connector dags plugins tests
	$(BIN)/ruff format --check ml_connector dags plugins tests

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

# A whole Airflow deployment (api-server, scheduler, dag-processor, triggerer, two Celery workers) on
# PostgreSQL and Redis, driven through the REST API, the CLI and headless Chromium; logs and screenshots
# are kept in .artifacts/cluster/.
cluster: $(STAMP)
	$(BIN)/pytest -q -m cluster tests/cluster $(PYTEST_ARGS)

# The long versions, in two lanes at once (each lane's output is printed when it ends):
# - writers: ten rounds of two loads started together (same DAG, both DAGs) with random offsets (the seed
#   is printed, ML_CONNECTOR_CONCURRENCY_SEED replays it), then a load killed at 20 points;
# - faults: every cell of the fault matrix, then the randomized soak of 50 runs against the model (the
#   seed is printed, ML_CONNECTOR_SOAK_SEED replays it; figures in .artifacts/soak/summary.json).
SOAK_ROUNDS ?= 10
CRASH_POINTS ?= 20
SOAK_RUNS ?= 50
soak: $(STAMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target soak-writers soak-faults

soak-writers: $(STAMP)
	ML_CONNECTOR_CONCURRENCY_ROUNDS=$(SOAK_ROUNDS) $(BIN)/pytest -q -s tests/concurrency $(PYTEST_ARGS)
	ML_CONNECTOR_CRASH_POINTS=$(CRASH_POINTS) $(BIN)/pytest -q tests/integration/test_load_killed.py $(PYTEST_ARGS)

soak-faults: $(STAMP)
	ML_CONNECTOR_FAULT_CELLS=all $(BIN)/pytest -q tests/faults $(PYTEST_ARGS)
	ML_CONNECTOR_SOAK_RUNS=$(SOAK_RUNS) $(BIN)/pytest -q --show-capture=no tests/soak $(PYTEST_ARGS)
	@$(BIN)/python -c "import json; print(json.load(open('.artifacts/soak/summary.json'))['summary'])"

demo: $(STAMP)
	$(BIN)/ml-connector demo $(DEMO_ARGS)

sandbox: $(STAMP)
	$(BIN)/ml-connector sandbox $(SANDBOX_ARGS)

airflow: $(STAMP)
	@mkdir -p $(AIRFLOW_HOME)
	@echo "Airflow home: $(AIRFLOW_HOME)"
	@echo "Admin password (written on first start): $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated"
	$(BIN)/airflow db migrate > /dev/null
	$(BIN)/airflow pools set workday_api 1 "Workday API calls (ml-connector)" > /dev/null
	$(BIN)/airflow pools set pipedrive_api 1 "Pipedrive API calls (ml-connector)" > /dev/null
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/airflow standalone

# The real DAG tasks against the sandbox at scale (initial sync, rerun, 5% changed, throughput at the limit,
# 25k/250k suppliers, the naive way, the sandbox's own rate); results in bench/results/ (BENCH_ARGS=--smoke:
# every scenario on a few hundred records).
bench: $(STAMP)
	$(BIN)/python -m ml_connector.bench $(BENCH_ARGS)

# Re-derive the committed reference facts (tests/reference) from the official files beside the clone.
REFERENCE ?= ../shared/reference
reference: $(STAMP)
	$(BIN)/python tests/reference/derive.py $(REFERENCE)

# Re-resolve the pins from pyproject.toml (needs the package registry).
constraints:
	rm -rf /tmp/ml-connector-resolve && $(PYTHON) -m venv /tmp/ml-connector-resolve
	/tmp/ml-connector-resolve/bin/pip install --quiet --upgrade pip
	/tmp/ml-connector-resolve/bin/pip install --quiet -e ".[dev]"
	/tmp/ml-connector-resolve/bin/pip freeze --exclude-editable | grep -v '^ml-connector' > constraints.txt

clean:
	rm -rf $(VENV) $(AIRFLOW_HOME) .mypy_cache .ruff_cache .pytest_cache
