# Colorization toolkit. `make test` evaluates the shipped model; `make check` runs lint and tests.
PYTHON_BASE ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
DATA    ?= data/face_images
SPLIT   ?= data/split
SEED    ?= 42
SPLIT_SEED ?= 42
SIZE    ?= 128
SEEDS   ?= $(SEED)
NET     ?= 3
TANH    ?=
CLASSIFIER ?=
HINTS   ?=
RECOLOUR ?=
REGIONS ?=
INIT    ?=
HINT_POINTS ?= 0 1 2 5 10 20 50 100
EPOCHS  ?= 200
SCHEDULE ?= none
DEVICE  ?= auto
EMA     ?=
AMP     ?= auto
COMPILE ?=
TEMPERATURE ?=
MIRROR  ?=
RUNS    ?= runs
BACKBONE := $(if $(HINTS),unet,$(NET))
TAG     := $(if $(CLASSIFIER),classifier-)$(if $(HINTS),unet-hints,$(if $(filter unet,$(NET)),unet,net$(NET))$(if $(TANH),-tanh))
OUT     ?= $(RUNS)/$(TAG)
NPROC   ?=
LAUNCH  := $(if $(NPROC),$(VENV)/bin/torchrun --standalone --nproc_per_node=$(NPROC),$(PY))
CHECKPOINT ?= pretrained/$(if $(HINTS),hints,$(if $(TANH),tanh,$(if $(filter unet,$(NET)),unet$(if $(CLASSIFIER),_classifier),$(if $(CLASSIFIER),classifier,network3)))).pt
export DATA

PORT    ?= 8000

.PHONY: setup setup-browser data photos split train decoding train-regressor test ensemble compare experiments experiments-unet schedules bench demo serve \
	eval-video lint check test-fast clean

setup: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Debian's Chromium and its driver, for the page's browser test (apt needs root; sudo is used when there)
setup-browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver; }

data: setup
	$(PY) fetch_data.py --out $(DATA)

# the region protocol's 20 photos from OpenCV's source release on PyPI (docs/hints.md); 95 MB fetched once
OPENCV_SAMPLES := https://files.pythonhosted.org/packages/ac/71/25c98e634b6bdeca4727c7f6d6927b056080668c5008ad3c8fc9e7f8f6ec/opencv-python-4.12.0.88.tar.gz\#sha256=8b738389cede219405f6f3880b851efa3415ccd674752219377353f017d2994d
photos: setup
	$(PY) fetch_data.py --archive "$(OPENCV_SAMPLES)" --manifest data/opencv_photos.sha256 --out data/opencv_photos

split: data
	$(PY) split_data.py --src $(DATA) --out $(SPLIT) --seed $(SPLIT_SEED) --size $(SIZE)

RECIPE   = --net $(BACKBONE) $(if $(TANH),--tanh) \
	$(if $(HINTS),--hints $(if $(RECOLOUR),--recolour $(RECOLOUR)) $(if $(REGIONS),--regions $(REGIONS))) $(if $(INIT),--init $(INIT)) \
	$(if $(CLASSIFIER),--classifier $(if $(TEMPERATURE),--temperature $(TEMPERATURE))) $(if $(MIRROR),--mirror) \
	$(if $(EMA),--ema $(EMA)) $(if $(RESUME),--resume $(RESUME)) \
	--epochs $(EPOCHS) --lr-schedule $(SCHEDULE) --size $(SIZE) --seed $(SEED) --device $(DEVICE) --amp $(AMP) $(if $(COMPILE),--compile)
train: split
	$(LAUNCH) train_colorizer.py --data $(SPLIT) $(RECIPE) --out $(OUT)

# a model's own decoding (a classifier's temperature, the mirror average), chosen on validation faces cut from the
# training photos, never the test split: the recipe trained on the rest, swept, and test_colorizer.py's rule applied
# (decoding.json); unet_classifier.pt's: make decoding NET=unet CLASSIFIER=1 EPOCHS=200 SCHEDULE=cosine EMA=0.999
# AMP=bf16 COMPILE=1
VAL     ?= $(SPLIT)-val
TEMPERATURES ?= 0.2 0.25 0.3 0.35 0.4 0.45 0.5 0.55 0.6 0.65 0.7 0.75 0.8 0.85 0.9 0.95 1
decoding: split
	$(PY) split_data.py --within $(SPLIT) --out $(VAL) --seed $(SPLIT_SEED) --size $(SIZE)
	$(LAUNCH) train_colorizer.py --data $(VAL) $(RECIPE) --out $(RUNS)/$(TAG)-val
	$(PY) test_colorizer.py --data $(VAL) --checkpoint $(RUNS)/$(TAG)-val/model.pt --mirror off on \
		$(if $(CLASSIFIER),--temperature $(TEMPERATURES)) --device $(DEVICE) --out $(RUNS)/$(TAG)-val/decodings

train-regressor: split
	$(LAUNCH) train_regressor.py --data $(SPLIT) --epochs $(EPOCHS) --seed $(SEED) --device $(DEVICE) \
		--out $(RUNS)/regressor

test: split $(if $(HINTS),photos)
	$(PY) test_colorizer.py --data $(SPLIT) --checkpoint $(CHECKPOINT) --device $(DEVICE) \
		$(if $(HINTS),--hints $(HINT_POINTS)) --out $(RUNS)/test-$(basename $(notdir $(CHECKPOINT)))

# the default, unet_ensemble.pt: the two shipped U-Nets averaged, scored on the test split, its metrics stored
MEMBERS ?= pretrained/unet.pt pretrained/unet_classifier.pt
ensemble: split
	$(PY) ensemble.py $(MEMBERS) --out $(RUNS)/unet_ensemble.pt
	$(PY) test_colorizer.py --data $(SPLIT) --checkpoint $(RUNS)/unet_ensemble.pt --store --device $(DEVICE) \
		--out $(RUNS)/test-unet_ensemble

compare: split
	$(PY) test_colorizer.py --data $(SPLIT) --checkpoint pretrained/unet_ensemble.pt pretrained/unet_classifier.pt \
		pretrained/unet.pt \
		pretrained/network3.pt pretrained/classifier.pt pretrained/tanh.pt --temperature 0.55 0.38 1 \
		--device $(DEVICE) --out $(RUNS)/compare

EXP     := $(RUNS)/experiments
experiments: split
	for s in $(SEEDS); do \
	  for n in 1 2 3; do $(MAKE) --no-print-directory train NET=$$n TANH= CLASSIFIER= SEED=$$s \
	    OUT=$(EXP)/net$$n-seed$$s || exit 1; done; \
	  $(MAKE) --no-print-directory train NET=3 TANH= CLASSIFIER=1 SEED=$$s OUT=$(EXP)/classifier-seed$$s || exit 1; \
	done
	$(PY) experiments.py $(foreach s,$(SEEDS),$(foreach m,net1 net2 net3 classifier,$(EXP)/$(m)-seed$(s))) \
		--out $(EXP)/results.md

# one run of an experiment in folder $(1) with make variables $(2): skipped once its model.pt is there, resumed from
# its last.pt when one is (a series of 200-epoch runs on a CPU goes on where it stopped)
member = test -f $(1)/model.pt || $(MAKE) --no-print-directory train $(2) OUT=$(1) \
	  RESUME=$$(test -f $(1)/last.pt && echo $(1)/last.pt)

# the automatic U-Net models, regression and classifier, once per seed, and their average; the recipe of the shipped
# unet.pt, unet_classifier.pt and unet_ensemble.pt: make experiments-unet EPOCHS=200 SCHEDULE=cosine EMA=0.999
# AMP=bf16 COMPILE=1 TEMPERATURE=0.55 MIRROR=1 SEEDS="42 43 44" (TEMPERATURE and MIRROR: the classifier's decoding)
experiments-unet: split
	for s in $(SEEDS); do \
	  $(call member,$(EXP)/unet-seed$$s,NET=unet TANH= HINTS= CLASSIFIER= MIRROR= SEED=$$s) || exit 1; \
	  $(call member,$(EXP)/classifier-unet-seed$$s,NET=unet TANH= HINTS= CLASSIFIER=1 SEED=$$s) || exit 1; \
	  $(PY) ensemble.py $(EXP)/unet-seed$$s/model.pt $(EXP)/classifier-unet-seed$$s/model.pt \
	    --out $(EXP)/ensemble-unet-seed$$s.pt || exit 1; \
	  $(PY) test_colorizer.py --data $(SPLIT) --checkpoint $(EXP)/ensemble-unet-seed$$s.pt --store --device $(DEVICE) \
	    --out $(EXP)/test-ensemble-unet-seed$$s || exit 1; \
	done
	$(PY) experiments.py $(foreach s,$(SEEDS),$(foreach m,unet classifier-unet,$(EXP)/$(m)-seed$(s)) \
		$(EXP)/ensemble-unet-seed$(s).pt) --out $(EXP)/results-unet.md

schedules: split
	$(MAKE) --no-print-directory train NET=3 TANH= CLASSIFIER= SCHEDULE=none OUT=$(RUNS)/schedules/constant
	$(MAKE) --no-print-directory train NET=3 TANH= CLASSIFIER= SCHEDULE=cosine OUT=$(RUNS)/schedules/cosine
	$(PY) experiments.py $(RUNS)/schedules/constant $(RUNS)/schedules/cosine --curves $(RUNS)/schedules/test_loss.png

bench: split
	$(PY) bench.py --data $(SPLIT) --device $(DEVICE) --photos --json $(RUNS)/bench.json

demo: setup
	$(PY) colorize.py "$$($(PY) -c "import matplotlib.cbook as c; print(c.get_sample_data('grace_hopper.jpg').name)")" \
		"$$($(PY) -c "import skimage.data, os; print(os.path.join(os.path.dirname(skimage.data.__file__), 'astronaut.png'))")" \
		-o $(RUNS)/demo --compare --overwrite --device $(DEVICE)

serve: setup
	$(PY) serve.py --port $(PORT) --device $(DEVICE)

# steady against frame-by-frame colour on clips of known colour made from the test faces
eval-video: split
	$(PY) eval_video.py --data $(SPLIT) --device $(DEVICE) --out $(RUNS)/video

lint: setup
	$(VENV)/bin/ruff check .

check: lint
	$(PY) -m pytest -q tests

# the tests that need no training run, subprocess, server process or real data: a quick answer while editing
test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf $(RUNS) $(SPLIT)
