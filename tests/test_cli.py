import subprocess
import sys

import pytest

PROBE = """
import torch
from common.cli import keep_freed_memory

def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

def kept_after_free():
    before = resident_mb()
    x = torch.ones(2**23)  # 32 MB, a batch-sized tensor
    del x
    return resident_mb() - before

print(round(kept_after_free()), keep_freed_memory(), round(kept_after_free()))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_tensor_memory_stays_with_the_process_for_the_next_step():
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout.split()
    default_kept, applied, tuned_kept = int(out[0]), out[1], int(out[2])
    assert default_kept < 4 and applied == "True" and tuned_kept >= 30


ORDER = """
import sys
import {script}
import torch  # a script may load torch only once it runs; common must still come first
names = list(sys.modules)
print(names.index("common") < names.index("torch"))
"""


@pytest.mark.slow
def test_scripts_set_openmp_spin_count_before_torch_loads():
    scripts = ["bench", "colorize", "serve", "test_colorizer", "train_colorizer", "train_regressor"]
    runs = {s: subprocess.Popen([sys.executable, "-c", ORDER.format(script=s)], stdout=subprocess.PIPE, text=True)
            for s in scripts}  # side by side: each is mostly an import of torch on one core
    assert {s: run.communicate()[0].strip() for s, run in runs.items()} == dict.fromkeys(scripts, "True")
