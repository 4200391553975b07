"""Benchmark: `hwreg data prepare` for the default 18 subjects, and one warp on the model grid.

    .venv/bin/python benchmarks/bench_data.py --out benchmarks/results/data.json

Writes a JSON file with the timings and the machine's thread count.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from hwreg.data.synth import prepare_default
from hwreg.warp import warp_image, warp_labels


def bench_warp(shape: tuple[int, int, int], repeats: int = 5) -> dict[str, float]:
    """Median seconds of one trilinear image warp and one nearest label warp (batch 1)."""
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 1, *shape, generator=gen)
    labels = torch.randint(0, 33, (1, 1, *shape), generator=gen)
    ddf = 3.0 * torch.randn(1, 3, *shape, generator=gen)
    out = {}
    for name, fn in (("image", lambda: warp_image(image, ddf)),
                     ("labels", lambda: warp_labels(labels, ddf))):
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[f"warp_{name}_s"] = sorted(times)[len(times) // 2]
    return out


#: Grid of the warp timings (the data stage's default grid when they were first measured; kept
#: so that results/data.json stays comparable).
WARP_GRID = (80, 96, 80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    parser.add_argument("--subjects", type=int, default=18)
    args = parser.parse_args()
    result: dict[str, object] = {"machine": platform.machine(), "torch_threads":
                                 torch.get_num_threads(), "subjects": args.subjects}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        prepare_default(Path(tmp) / "default", subjects=args.subjects, progress=False)
        result["prepare_s"] = time.perf_counter() - t0
    shape = WARP_GRID
    result["grid_shape"] = list(shape)
    result.update(bench_warp(shape))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
