"""Shared code for the colorization scripts: colour space, data, models, engine, metrics, plots."""
import os
import time

STARTED = time.time()  # when the script began: how long a run takes to reach its first step

# libgomp, PyTorch's OpenMP on Linux, keeps idle threads spinning for 300,000 rounds after every
# parallel op, holding the cores that the OpenCV data pipeline needs next. 10,000 rounds leave the
# model step as fast and give the pipeline its cores (README, speed; `make bench` measures it).
# libgomp reads this once, when torch loads, so the scripts import `common` before torch.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")
