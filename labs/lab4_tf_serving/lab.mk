# Lab 4 — TensorFlow Serving. Included by the root Makefile; explicit targets override lab-%.
# Settings are LAB4_* variables, e.g.  LAB4_ENGINE=local make lab-4   (auto|binary|docker|podman|local)
LAB4_MODELS ?= artifacts/lab4/models
# Re-export whenever the Keras models are retrained or the export code changes.
LAB4_STAMP := $(LAB4_MODELS)/.export-stamp
.PHONY: export-4 lab-4 bench-4 inspect-4
# The models `make lab-4` trains (python -m course_models train --only ...).
LAB4_MODELS := digits_keras

$(LAB4_STAMP): $(call lab_ready,4) labs/lab4_tf_serving/lab4_tf_serving/export.py
	$(PY) -m lab4_tf_serving export --out $(LAB4_MODELS)
	@touch $@

export-4: $(call lab_ready,4) ## lab 4: export the Keras digits models as SavedModels (artifacts/lab4/models)
	$(PY) -m lab4_tf_serving export --out $(LAB4_MODELS)
	@touch $(LAB4_STAMP)

inspect-4: $(LAB4_STAMP) ## lab 4: print the exported signatures (like saved_model_cli show --all)
	$(PY) -m lab4_tf_serving inspect $(LAB4_MODELS)/digits

lab-4: $(LAB4_STAMP)
	$(PY) -m lab4_tf_serving lab

bench-4: $(LAB4_STAMP)
	$(BENCH_LOCK) $(PY) -m lab4_tf_serving bench
