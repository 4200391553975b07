"""Run ANTs SyN (antspyx, default settings) on one pair; used by the register benchmarks.

Runs in its own virtual environment (.venv-ants, made by `make bench`): antspyx 0.6.3 pins
numpy<2.4 and scipy<1.16, which conflict with finn-plus. Warps each MOVING_LABEL to OUT_LABEL
(genericLabel interpolation) and prints one JSON line with the registration time.

    .venv-ants/bin/python benchmarks/ants_syn.py FIXED MOVING THREADS LABEL OUT [LABEL OUT ...]
"""

import json
import os
import sys
import time

fixed, moving, threads = sys.argv[1:4]
labels = sys.argv[4:]
if not labels or len(labels) % 2:
    sys.exit("usage: ants_syn.py FIXED MOVING THREADS LABEL OUT [LABEL OUT ...]")
# ITK reads its thread count once, at import
os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = threads
import ants  # noqa: E402

f, m = ants.image_read(fixed), ants.image_read(moving)
t0 = time.perf_counter()
reg = ants.registration(f, m, type_of_transform="SyN")
seconds = time.perf_counter() - t0
for label, out in zip(labels[::2], labels[1::2], strict=True):
    warped = ants.apply_transforms(f, ants.image_read(label), reg["fwdtransforms"],
                                   interpolator="genericLabel")
    ants.image_write(warped, out)
print(json.dumps({"seconds": seconds}))
