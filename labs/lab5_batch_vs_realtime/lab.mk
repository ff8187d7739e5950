# Lab 5 — batch vs real-time. Included by the root Makefile (PY, SETUP_STAMP, TRAIN_STAMP).
LAB5_PKG := lab5_batch_vs_realtime
# The models `make lab-5` trains (python -m course_models train --only ...).
LAB5_MODELS := churn
# The date `make batch-5` scores (default: yesterday, UTC).
DATE ?= $(shell date -u -d yesterday +%F 2>/dev/null || date -u +%F)

.PHONY: lab-5 serve-5 batch-5 bench-5 tenants-5

lab-5: $(call lab_ready,5) ## lab 5: real-time service + airflow standalone (Ctrl-C stops both)
	$(PY) -m $(LAB5_PKG) up

serve-5: $(call lab_ready,5) ## lab 5: only the real-time service (LAB5_PORT, default 8005)
	$(PY) -m $(LAB5_PKG) serve

batch-5: $(call lab_ready,5) ## lab 5: land + score + validate one date without Airflow (DATE=YYYY-MM-DD)
	$(PY) -m $(LAB5_PKG) day --date $(DATE)

tenants-5: $(call lab_ready,5) ## lab 5: publish demo tenant models (acme, globex, initech)
	$(PY) -m $(LAB5_PKG) tenants

bench-5: $(TRAIN_STAMP) ## lab 5: real-time vs batch vs raw trade-off report (BENCH_ARGS="--requests 600" for a shorter run)
	$(BENCH_LOCK) $(PY) -m $(LAB5_PKG).bench $(BENCH_ARGS)

.PHONY: chaos-5
chaos-5: $(TRAIN_STAMP) ## lab 5: kill drills (SIGKILL a batch run mid-write, local and on moto S3) + memory bound
	$(PY) -m pytest tests/lab5/test_chaos.py -m "not containers" -v $(PYTEST_ARGS)

# The BigQuery emulator's own venv (pins of its own: labs/lab5_batch_vs_realtime/bq-emulator-requirements.txt).
.PHONY: bq-emulator bq-emulator-5
bq-emulator: $(SETUP_STAMP) ## lab 5: set up the BigQuery emulator's own venv (idempotent; make test needs it)
	$(PY) -m $(LAB5_PKG).bq_emulator setup
test test-lab-5: bq-emulator
bq-emulator-5: $(SETUP_STAMP) ## lab 5: run the BigQuery emulator on PORT (9050) in the foreground
	$(PY) -m $(LAB5_PKG).bq_emulator run --port $(or $(PORT),9050)
