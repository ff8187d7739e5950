# Lab 2 — Flask + Gunicorn + Celery/Redis. Included by the root Makefile.
LAB2_DIR := labs/lab2_flask_celery
LIGHT ?= 4
HEAVY ?= 2
CLASSES ?= LightUser HeavyUser
DIAG_ARGS ?=
# The models `make lab-2` trains (python -m course_models train --only ...).
LAB2_MODELS := churn

.PHONY: lab-2 load-2 diagnose-2 gil-2 bench-2 chaos-2

lab-2: $(call lab_ready,2) ## lab 2: redis-server + Celery worker + gunicorn (LAB2_* settings; Ctrl-C stops all)
	$(PY) -m lab2_flask_celery.run

# CLASSES="LightUser OffloadUser" sends the heavy work through Celery instead.
load-2: $(SETUP_STAMP) ## lab 2: Locust headless, CSV in artifacts/load/lab2_* (PORT=..., LIGHT, HEAVY, TIME, CLASSES)
	@test -n "$(PORT)" || { echo "start the lab first (make lab-2) and pass PORT=<its port>"; exit 2; }
	@mkdir -p artifacts/load
	LAB2_LOAD_LIGHT=$(LIGHT) LAB2_LOAD_HEAVY=$(HEAVY) $(VENV)/bin/locust -f $(LAB2_DIR)/locustfile.py \
	  --headless -u $$(( $(LIGHT) + $(HEAVY) )) -r 10 -t $(or $(TIME),30s) \
	  --host http://$(HOST):$(PORT) --csv artifacts/load/lab2 --only-summary $(CLASSES)

diagnose-2: $(TRAIN_STAMP) ## lab 2: same load vs sync/gthread/threads/Celery/broken variants (~5 min)
	$(BENCH_LOCK) $(PY) -m lab2_flask_celery.diagnose $(DIAG_ARGS)

gil-2: $(TRAIN_STAMP) ## lab 2: threads vs processes on the heavy path (GIL demo)
	$(BENCH_LOCK) $(PY) -m lab2_flask_celery.gil_demo

bench-2: diagnose-2 gil-2 ## lab 2: diagnosis table + GIL demo (JSON/PNG in artifacts/bench/)

chaos-2: $(TRAIN_STAMP) ## lab 2: inject faults for real (chunked/oversized bodies, Redis restart, worker SIGKILL) and print the figures
	$(PY) -m lab2_flask_celery.chaos $(CHAOS_ARGS)
