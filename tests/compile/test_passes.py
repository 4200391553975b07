"""A model that makes several accelerator passes per pair (cascade, flips) registers fewer
pairs per second than the accelerator makes passes, and the estimates say so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hwreg.compile.steps import resume_build
from hwreg.model import ModelConfig, build_model


def test_pairs_per_second_divide_by_the_models_passes(tiny_build, tmp_path: Path) -> None:
    _, _, out = tiny_build
    build = tmp_path / "build"
    shutil.copytree(out, build)
    passes = build_model(ModelConfig(preset="tiny", cascade=2, flips=1)).passes
    assert passes == 4
    resume_build(build, "step_estimates", passes_per_pair=passes)
    one = json.loads((out / "report" / "estimate_network_performance.json").read_text())
    four = json.loads((build / "report" / "estimate_network_performance.json").read_text())
    assert one["passes_per_pair"] == 1
    assert one["estimated_passes_per_s"] == one["estimated_pairs_per_s"]
    assert four["passes_per_pair"] == 4
    assert four["estimated_passes_per_s"] == one["estimated_passes_per_s"]
    assert four["estimated_pairs_per_s"] == one["estimated_pairs_per_s"] / 4
    assert "4 per pair" in (build / "report" / "estimates.md").read_text()
