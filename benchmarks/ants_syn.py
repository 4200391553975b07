"""Run ANTs SyN (antspyx, default settings) on one pair; used by bench_register.py.

Runs in its own virtual environment (.venv-ants, made by `make bench`): antspyx 0.6.3 pins
numpy<2.4 and scipy<1.16, which conflict with finn-plus. Prints one JSON line with the time.

    .venv-ants/bin/python benchmarks/ants_syn.py FIXED MOVING MOVING_LABEL OUT_LABEL THREADS
"""

import json
import os
import sys
import time

fixed, moving, moving_label, out_label, threads = sys.argv[1:6]
# ITK reads its thread count once, at import
os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = threads
import ants  # noqa: E402

f, m, lab = ants.image_read(fixed), ants.image_read(moving), ants.image_read(moving_label)
t0 = time.perf_counter()
reg = ants.registration(f, m, type_of_transform="SyN")
seconds = time.perf_counter() - t0
warped = ants.apply_transforms(f, lab, reg["fwdtransforms"], interpolator="genericLabel")
ants.image_write(warped, out_label)
print(json.dumps({"seconds": seconds}))
