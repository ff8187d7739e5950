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
# uv when it is there or installs from your index (pip install uv), pip otherwise; INSTALLER=pip
# forces pip. Both use constraints.txt and your pip configuration (index, find-links).
INSTALLER ?= auto
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

# --- the venv, one lab at a time ----------------------------------------------------------
# `make lab-N` installs the core packages, then lab N's extra in pyproject.toml (`labN`), and
# trains only the models lab N names (LABN_MODELS in its lab.mk); the next lab adds its own on
# top. `make setup` installs everything at once (EXTRAS=all,dev) and marks every lab as ready.
# Each step prints one line; its full log is in .venv/logs/ (installer.py says which on failure).
INSTALLER_PY := shared/course_models/installer.py
INSTALL = $(PYTHON) $(INSTALLER_PY) install --venv $(VENV) --installer $(INSTALLER) \
  --torch-spec "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--torch-index "$(TORCH_INDEX)")
STEP = $(PYTHON) $(INSTALLER_PY) run --log-dir $(VENV)/logs --
CORE_STAMP := $(VENV)/.core-stamp
LABS := 1 2 3 4 5
LAB_STAMPS := $(foreach n,$(LABS),$(VENV)/.lab$(n)-stamp)
# System packages (python3.11-venv; redis-server for lab 2; Java 17 for lab 3; Prometheus and
# nginx for the deploy tests): installed through apt as root or password-less sudo, or
# Homebrew; otherwise the step stops with the exact command to run. NO_SYSTEM_PACKAGES=1 skips it.
sysdeps = $(if $(NO_SYSTEM_PACKAGES),echo ">> NO_SYSTEM_PACKAGES set: not checking system packages", \
  $(PYTHON) shared/course_models/sysdeps.py install $(if $(1),--lab $(1)))
ENV_INPUTS := pyproject.toml constraints.txt shared/course_models/sysdeps.py

# The core packages alone (what training churn needs), when no lab has installed them yet.
$(CORE_STAMP): $(ENV_INPUTS)
	@$(call sysdeps,0)
	@$(INSTALL)
	@touch $@
# A lab's environment: the core packages and its extra, in one install (a new dependency of
# lab N is one line in its extra `labN` in pyproject.toml).
$(VENV)/.lab%-stamp: $(ENV_INPUTS)
	@$(call sysdeps,$*)
	@$(INSTALL) --extras lab$*
	@touch $(CORE_STAMP) $@

setup: $(SETUP_STAMP) ## install system packages (redis, Java 17), create .venv, install everything pinned (idempotent)
$(SETUP_STAMP): $(ENV_INPUTS)
	@$(call sysdeps,)
	@$(INSTALL) --extras $(EXTRAS) --check
	@touch $(CORE_STAMP) $(LAB_STAMPS) $@

# --- models -------------------------------------------------------------------------------
# One stamp per model, retrained when the code that shapes it (or a pinned version) changes,
# not for edits to CLI/bench helpers. MODEL_ENV_x: the lab environment that can train model x.
CM := shared/course_models
MODELS := churn digits_cnn digits_keras support_intent
MODEL_CODE_churn          := $(CM)/schema.py $(CM)/datasets.py $(CM)/tabular.py
MODEL_CODE_digits_cnn     := $(CM)/datasets.py $(CM)/cnn.py
MODEL_CODE_digits_keras   := $(CM)/datasets.py $(CM)/keras_model.py
MODEL_CODE_support_intent := $(CM)/text_data.py $(CM)/transformer.py
MODEL_ENV_churn          := core
MODEL_ENV_digits_cnn     := lab3
MODEL_ENV_digits_keras   := lab4
MODEL_ENV_support_intent := lab3
trained = $(foreach m,$(1),artifacts/.trained-$(m))
# What `make lab-N` needs before it starts: lab N's environment and the models it names.
lab_ready = $(VENV)/.lab$(1)-stamp $(call trained,$(LAB$(1)_MODELS))
define train_rule
$(call trained,$(1)): $(CM)/train.py $(MODEL_CODE_$(1)) constraints.txt | $(VENV)/.$(MODEL_ENV_$(1))-stamp
	@$$(STEP) "train $(1)" $$(PY) -m course_models train --only $(1)
	@touch $$@
endef
$(foreach m,$(MODELS),$(eval $(call train_rule,$(m))))

train: $(TRAIN_STAMP) ## train all course models into artifacts/ (deterministic, offline)
$(TRAIN_STAMP): $(SETUP_STAMP) $(call trained,$(MODELS))
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
# `make lint` also checks the classroom.yml the edition gets (generated, so not in the tree).
.PHONY: lint-classroom
lint: lint-classroom
lint-classroom: $(SETUP_STAMP)
	@mkdir -p artifacts/lint
	$(PY) -m course_grading workflow --out artifacts/lint/classroom.yml
	$(VENV)/bin/zizmor --offline --quiet artifacts/lint/classroom.yml
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

# --- all labs side by side -------------------------------------------------------------------
.PHONY: report advise
report: $(SETUP_STAMP) ## every lab's latest benchmark, costs and plots on one offline page (artifacts/report/)
	$(PY) -m course_models report $(REPORT_ARGS)

advise: $(SETUP_STAMP) ## which measured modes meet a constraint, e.g. ADVISE="--p95-ms 50 --rps 200"
	$(PY) -m course_models advise $(or $(ADVISE),--p95-ms 50 --rps 200)

# --- past one machine (deploy/README.md) ----------------------------------------------------
.PHONY: k8s-validate
k8s-validate: $(SETUP_STAMP) ## render every kustomize overlay and validate it offline (no cluster)
	$(PY) deploy/validate.py

# --- quality ------------------------------------------------------------------------------
test: $(TRAIN_STAMP) ## run every test except the container smoke tests
	$(PY) -m pytest -m "not containers" $(PYTEST_ARGS)

lint: $(SETUP_STAMP) ## ruff lint and format check, zizmor on the GitHub workflows
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/zizmor --offline --quiet .github/workflows

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
