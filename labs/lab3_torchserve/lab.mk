# Lab 3 — TorchServe. Included by the root Makefile; these explicit targets override its lab-% rules.
# Settings are LAB3_* variables, e.g.  LAB3_BATCH_SIZE=1 LAB3_WORKERS=2 make lab-3
.PHONY: lab-3 mar-3 bench-3 ready-3
# The models `make lab-3` trains (python -m course_models train --only ...).
LAB3_MODELS := digits_cnn support_intent

LAB3_DIR   := labs/lab3_torchserve
LAB3_STORE := $(LAB3_DIR)/model_store
LAB3_MARS  := $(LAB3_STORE)/digits_cnn_v1.mar $(LAB3_STORE)/digits_cnn_v2.mar
LAB3_TEXT_MAR := $(LAB3_STORE)/support_intent_v1.mar
LAB3_INPUTS := $(LAB3_DIR)/lab3_torchserve/digits_handler.py $(LAB3_DIR)/lab3_torchserve/package.py \
               $(LAB3_DIR)/model-config.yaml shared/course_models/cnn.py
LAB3_TEXT_INPUTS := $(LAB3_DIR)/lab3_torchserve/text_handler.py $(LAB3_DIR)/lab3_torchserve/package.py \
               $(LAB3_DIR)/text-model-config.yaml

mar-3: $(LAB3_MARS) $(LAB3_TEXT_MAR) ## lab 3: package digits_cnn v1, v2 and support_intent as .mar archives

# Rebuilt when the handler, the model file, the model config or the trained weights change.
$(LAB3_STORE)/digits_cnn_v%.mar: $(call lab_ready,3) $(LAB3_INPUTS)
	$(PY) -m lab3_torchserve.package --version $* --store $(LAB3_STORE)

$(LAB3_TEXT_MAR): $(call lab_ready,3) $(LAB3_TEXT_INPUTS)
	$(PY) -m lab3_torchserve.package --model support_intent --store $(LAB3_STORE)

# The transformer's archive is built by run.py when missing, so that a student edition whose
# packaging task is a stub still starts (and says which task is missing).
lab-3: $(LAB3_MARS)
	-@$(MAKE) --no-print-directory $(LAB3_TEXT_MAR)
	$(PY) -m lab3_torchserve.run

# Exit 0 when every registered model's default version has a READY worker (what probes run).
ready-3:
	$(PY) -m lab3_torchserve.ready --management $(or $(LAB3_MANAGEMENT_URL),http://127.0.0.1:8081)

# One benchmark at a time on the shared cores.
bench-3: $(TRAIN_STAMP)
	$(BENCH_LOCK) $(PY) -m lab3_torchserve.bench $(BENCH_ARGS)
