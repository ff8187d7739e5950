# Lab 1 — FastAPI. Included by the root Makefile; these explicit targets override its lab-% rules.
# Settings are LAB1_* variables, e.g.  LAB1_WORKERS=2 LAB1_PREDICT_MODE=batched make lab-1
.PHONY: lab-1 bench-1 contract-1
# The models `make lab-1` trains (python -m course_models train --only ...).
LAB1_MODELS := churn

lab-1: $(call lab_ready,1)
	$(PY) -m lab1_fastapi

bench-1: $(call lab_ready,1) ## lab 1: the benchmark (BENCH_ARGS="--seconds 2" for a shorter run)
	$(BENCH_LOCK) $(PY) -m lab1_fastapi.bench $(BENCH_ARGS)

contract-1: $(SETUP_STAMP) ## lab 1: check the v1 OpenAPI contract (CONTRACT_ARGS=--write to refresh)
	$(PY) -m lab1_fastapi.contract $(CONTRACT_ARGS)
