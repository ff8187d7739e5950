# Lab 4 — TensorFlow Serving. Included by the root Makefile; explicit targets override lab-%.
# Settings are LAB4_* variables, e.g.  LAB4_ENGINE=local make lab-4   (auto|docker|podman|local)
LAB4_MODELS ?= artifacts/lab4/models
.PHONY: export-4 lab-4 bench-4 inspect-4

export-4: $(TRAIN_STAMP) ## lab 4: export the Keras digits models as SavedModels (artifacts/lab4/models)
	$(PY) -m lab4_tf_serving export --out $(LAB4_MODELS)

inspect-4: $(SETUP_STAMP) ## lab 4: print the exported signatures (like saved_model_cli show --all)
	$(PY) -m lab4_tf_serving inspect $(LAB4_MODELS)/digits

lab-4: $(TRAIN_STAMP)
	@test -d $(LAB4_MODELS)/digits || $(MAKE) --no-print-directory export-4
	$(PY) -m lab4_tf_serving lab

bench-4: $(TRAIN_STAMP)
	@test -d $(LAB4_MODELS)/digits || $(MAKE) --no-print-directory export-4
	flock /tmp/course-bench.lock $(PY) -m lab4_tf_serving bench
