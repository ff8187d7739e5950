# The students' interface. `make help` lists the targets. Every target that needs Python
# depends on `setup` (idempotent, stamp file), so a fresh clone needs nothing else typed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SETUP_STAMP := $(VENV)/.setup-stamp
TRAIN_STAMP := artifacts/.train-stamp
# torch is installed first and pinned: a plain `torch` would pull a multi-GB CUDA build.
# Students on Linux without a GPU can add  TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
EXTRAS ?= all,dev
# pytest options for `make test` (e.g. PYTEST_ARGS="-x -k lab1")
PYTEST_ARGS ?=
# bench-N targets run under one lock so two benchmarks never share the CPUs (a Python file
# lock: flock(1) is Linux-only).
BENCH_LOCK = $(PY) -m course_models.lock $(or $(TMPDIR),/tmp)/course-bench.lock --
# Where a running lab listens, for load-N (each lab.mk sets its own default port).
HOST ?= 127.0.0.1

lab_dir = $(firstword $(wildcard labs/lab$(1)_*))

.PHONY: help setup train test lint format doctor clean lock smoke
help: ## list the targets
	@echo "Production model serving course — make targets"
	@grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | sort -u | \
	  sed 's/%/N/' | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

setup: $(SETUP_STAMP) ## install system packages (redis, Java 17), create .venv, install everything pinned (idempotent)
# System packages first (python3.11-venv, redis-server, Java 17): installed through apt as root or
# password-less sudo, or Homebrew; otherwise setup stops with the exact command to run.
# NO_SYSTEM_PACKAGES=1 skips the step (labs 2 and 3 then need them installed by hand).
SYSTEM_STAMP := $(VENV)/.system-stamp
$(SYSTEM_STAMP): shared/course_models/sysdeps.py
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version.split()[0]} (set PYTHON=...)"'
	@if [ -n "$(NO_SYSTEM_PACKAGES)" ]; then echo ">> NO_SYSTEM_PACKAGES set: not checking redis-server and Java"; \
	else $(PYTHON) shared/course_models/sysdeps.py install && mkdir -p $(VENV) && touch $@; fi
$(SETUP_STAMP): pyproject.toml constraints.txt $(SYSTEM_STAMP)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo ">> installing $(TORCH_SPEC) first (CPU build), then the course (~100 s, ~4 GB)"
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	$(PIP) check
	@touch $@

train: $(TRAIN_STAMP) ## train all course models into artifacts/ (deterministic, offline)
# Retrain when the code that shapes the models changes (not for edits to CLI/bench helpers).
MODEL_CODE := $(addprefix shared/course_models/,schema.py datasets.py tabular.py cnn.py keras_model.py text_data.py transformer.py train.py)
$(TRAIN_STAMP): $(SETUP_STAMP) $(MODEL_CODE)
	$(PY) -m course_models train
	@touch $@

# --- labs -------------------------------------------------------------------------------
# Each built lab adds its targets in labs/<lab>/lab.mk (lab-N, bench-N, ...). The pattern
# rules below answer for a lab whose targets do not exist yet, with a clear message.
-include $(wildcard labs/*/lab.mk)

lab-%: ## run lab N locally in the foreground on embedded defaults (Ctrl-C stops it)
	@echo "Lab $* is not built yet — see $(call lab_dir,$*)/README.md for what is coming."; exit 2

bench-%: ## run lab N's benchmark script (table, JSON and PNG under artifacts/bench/)
	@echo "Lab $* has no benchmark yet — see $(call lab_dir,$*)/README.md."; exit 2

test-lab-%: $(TRAIN_STAMP) ## run lab N's tests
	$(PY) -m pytest tests/lab$* -m "not containers" $(PYTEST_ARGS)

# Per-task JSON report in artifacts/grades/labN.json. LABN_URL=... grades a running service;
# SUBMISSION=path/to/checkout grades a student's checkout with its own code (report in
# artifacts/grades/<student>/labN.json; STUDENT=name overrides the folder's name).
grade-%: $(TRAIN_STAMP) ## grade lab N per task; SUBMISSION=dir grades a student's checkout
	$(PY) -m course_grading grade $* $(if $(SUBMISSION),--submission "$(SUBMISSION)") \
	  $(if $(STUDENT),--student "$(STUDENT)") $(if $(PYTEST_ARGS),-- $(PYTEST_ARGS))

# BEGIN INSTRUCTOR
# A class at once: every checkout under SUBMISSIONS in its own sandbox, JOBS at a time; roster
# in artifacts/grades/labN-roster.csv/.md.
.PHONY: grade-class gradescope
grade-class: $(TRAIN_STAMP) ## grade LAB=N for every checkout in SUBMISSIONS=dir/ (JOBS=2)
	@test -n "$(LAB)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade-class LAB=N SUBMISSIONS=dir/ [JOBS=2]"; exit 2; }
	$(PY) -m course_grading grade-class $(LAB) "$(SUBMISSIONS)" --jobs $(or $(JOBS),2)
gradescope: $(SETUP_STAMP) ## write LAB=N's Gradescope autograder bundle (artifacts/gradescope/)
	@test -n "$(LAB)" || { echo "usage: make gradescope LAB=N"; exit 2; }
	$(PY) -m course_grading gradescope $(LAB)
# Release tooling (course_grading; the student edition leaves this block out).
.PHONY: student roster
student: $(SETUP_STAMP) ## write the student edition (OUT=../course-student, FORCE=1 replaces it)
	$(PY) -m course_grading student "$(or $(OUT),../course-student)" $(if $(FORCE),--force)
roster: $(SETUP_STAMP) ## merge grade reports into gradebook.csv/.md (REPORTS="artifacts/grades/*/lab*.json")
	$(PY) -m course_grading roster $(or $(REPORTS),artifacts/grades/*/lab*.json) \
	  --out artifacts/grades/gradebook.csv --summary artifacts/grades/gradebook.md
# END INSTRUCTOR

load-%: $(SETUP_STAMP) ## Locust headless against a running lab N (PORT=..., USERS=20, TIME=30s)
	@test -n "$(PORT)" || { echo "start the lab first (make lab-$*) and pass PORT=<its port>"; exit 2; }
	@mkdir -p artifacts/load
	$(VENV)/bin/locust -f $(call lab_dir,$*)/locustfile.py --headless -u $(or $(USERS),20) -r 5 \
	  -t $(or $(TIME),30s) --host http://$(HOST):$(PORT) --csv artifacts/load/lab$* --only-summary

# REPLICAS=3 (lab 1): N replicas behind nginx; `bash docker/compose.sh spread 1` shows the split.
REPLICAS ?= 1
up-%: ## compose: start lab N's stack next to Locust (lab 1: REPLICAS=3 puts nginx over 3 replicas)
	REPLICAS=$(REPLICAS) bash docker/compose.sh up $*
down-%: ## compose: stop lab N's stack (pass the same REPLICAS as for up)
	REPLICAS=$(REPLICAS) bash docker/compose.sh down $*
smoke-%: $(SETUP_STAMP) ## container smoke test of lab N (build, up, predict, 20 s Locust, down)
	$(PY) -m pytest tests/containers -m containers -k lab$* $(PYTEST_ARGS)
smoke: $(SETUP_STAMP) ## container smoke tests of every lab
	$(PY) -m pytest tests/containers -m containers $(PYTEST_ARGS)

# --- past one machine (deploy/README.md) ----------------------------------------------------
.PHONY: k8s-validate
k8s-validate: $(SETUP_STAMP) ## render every kustomize overlay and validate it offline (no cluster)
	$(PY) deploy/validate.py

# --- quality ------------------------------------------------------------------------------
test: $(TRAIN_STAMP) ## run every test except the container smoke tests
	$(PY) -m pytest -m "not containers" $(PYTEST_ARGS)

lint: $(SETUP_STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(SETUP_STAMP) ## ruff format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

doctor: ## check this machine for what each lab needs, in plain words
	@$(PYTHON) shared/course_models/doctor.py

lock: $(SETUP_STAMP) ## regenerate constraints.txt from the current venv
	@{ head -2 constraints.txt; $(PIP) freeze --exclude-editable | grep -vE '^(pip|setuptools|wheel)==' | \
	  sed -E 's/^(torch==[0-9.]+)\+cpu$$/\1/'; } > constraints.tmp && mv constraints.tmp constraints.txt

clean: ## remove the venv, artifacts and caches
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
