# Lab 3 — TorchServe. Included by the root Makefile; these explicit targets override its lab-% rules.
# Settings are LAB3_* variables, e.g.  LAB3_BATCH_SIZE=1 LAB3_WORKERS=2 make lab-3
.PHONY: lab-3 mar-3 bench-3

LAB3_DIR   := labs/lab3_torchserve
LAB3_STORE := $(LAB3_DIR)/model_store
LAB3_MARS  := $(LAB3_STORE)/digits_cnn_v1.mar $(LAB3_STORE)/digits_cnn_v2.mar
LAB3_INPUTS := $(LAB3_DIR)/lab3_torchserve/digits_handler.py $(LAB3_DIR)/lab3_torchserve/package.py \
               $(LAB3_DIR)/model-config.yaml shared/course_models/cnn.py

mar-3: $(LAB3_MARS) ## lab 3: package digits_cnn v1 and v2 as .mar archives (model_store/)

# Rebuilt when the handler, the model file, the model config or the trained weights change.
$(LAB3_STORE)/digits_cnn_v%.mar: $(TRAIN_STAMP) $(LAB3_INPUTS)
	$(PY) -m lab3_torchserve.package --version $* --store $(LAB3_STORE)

lab-3: $(LAB3_MARS)
	$(PY) -m lab3_torchserve.run

# One benchmark at a time on the shared cores.
bench-3: $(TRAIN_STAMP)
	$(BENCH_LOCK) $(PY) -m lab3_torchserve.bench $(BENCH_ARGS)
