"""Table-driven CLI fuzz: malformed inputs to every command that reads a file.

Each case writes one hostile input under its own folder and runs ``hwreg`` in-process
(:func:`hwreg.cli.main`, the console script's entry). Every case must be refused the same way:
exit status 2, no traceback (no exception escapes ``main``), exactly one stderr line
``hwreg: error: ...`` naming the file or option at fault, and nothing written (the case
folder and the shared inputs hold the same files before and after).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from hwreg.cli import main
from tests.conftest import blob_subject, write_nifti
from tests.malformed import BAD_IMAGES, BAD_LABELS, pickle_payload

GRID = ("8", "8", "8")
RANDOM = "random:tiny:w4a4:h0"


@dataclass
class World:
    """Valid inputs shared by the cases (never written by them)."""

    root: Path
    data: Path
    fixed: Path
    moving: Path
    label: Path
    model: Path
    build: Path


def _model_file(path: Path, data: Path, **model: object) -> Path:
    from hwreg.checkpoint import atomic_save
    from hwreg.config import DataConfig
    from hwreg.model import ModelConfig, build_model
    from hwreg.run import RunConfig
    from hwreg.train import model_dict

    torch.manual_seed(0)
    cfg = RunConfig(data=DataConfig(root=data, grid_shape=(8, 8, 8), grid_spacing=2.0,
                                    n_train=2, n_test=2, label_ids=[2, 41]),
                    model=ModelConfig(preset="tiny", **model))  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(model_dict(cfg, build_model(cfg.model), 0, {}), path)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from hwreg.checkpoint import random_model
    from hwreg.compile.config import BuildConfig
    from hwreg.compile.steps import build
    from hwreg.export import export_checked

    root = tmp_path_factory.mktemp("fuzz") / "shared"
    data = root / "data"
    rng = np.random.default_rng(0)
    for i in range(4):
        sid = f"IBSR_{i + 1:02d}"
        img, lab = blob_subject((16, 12, 16), i % 2, rng)
        write_nifti(data / sid / f"{sid}_ana_strip.nii.gz", img)
        write_nifti(data / sid / f"{sid}_seg_ana.nii.gz", lab)
    model = _model_file(root / "model.pt", data)
    out = root / "build"
    out.mkdir()
    export_checked(random_model("tiny", 4, 4, grid=(8, 8, 8)), (8, 8, 8), out / "export.onnx")
    build(out / "export.onnx", BuildConfig(grid_shape=(8, 8, 8), target_fps=1000.0), out,
          to_step="step_set_folding")
    s1 = data / "IBSR_01"
    return World(root, data, s1 / "IBSR_01_ana_strip.nii.gz",
                 data / "IBSR_02" / "IBSR_02_ana_strip.nii.gz", s1 / "IBSR_01_seg_ana.nii.gz",
                 model, out)


#: A case: (world, its own empty folder) -> (argv, text the error line must contain).
Case = Callable[[World, Path], tuple[list[str], str]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def add(fn: Case) -> Case:
        assert name not in CASES
        CASES[name] = fn
        return fn
    return add


def _dataset_with(w: World, d: Path, which: str, make: Callable[[Path], Path]) -> Path:
    """A copy of the shared dataset with one file replaced by ``make``'s."""
    root = d / "data"
    shutil.copytree(w.data, root)
    target = root / "IBSR_03" / f"IBSR_03_{which}.nii.gz"
    target.unlink()
    make(target)
    return target


# ---- NIfTI: data check (image and label map), register (fixed, moving label) ---------------
for _kind, _make in BAD_IMAGES.items():
    def _check(w: World, d: Path, make=_make) -> tuple[list[str], str]:
        bad = _dataset_with(w, d, "ana_strip", make)
        return ["data", "check", str(d / "data")], bad.name

    def _reg(w: World, d: Path, make=_make) -> tuple[list[str], str]:
        bad = make(d / "in" / "fixed.nii.gz")
        return (["register", str(bad), str(w.moving), "--model", str(w.model), "--device",
                 "cpu", "--out", str(d / "out")], bad.name)

    case(f"data-check-image-{_kind}")(_check)
    case(f"register-fixed-{_kind}")(_reg)

for _kind, _make in BAD_LABELS.items():
    def _check_lab(w: World, d: Path, make=_make) -> tuple[list[str], str]:
        bad = _dataset_with(w, d, "seg_ana", make)
        return ["data", "check", str(d / "data")], bad.name

    def _reg_lab(w: World, d: Path, make=_make) -> tuple[list[str], str]:
        bad = make(d / "in" / "label.nii.gz")
        return (["register", str(w.fixed), str(w.moving), "--moving-label", str(bad),
                 "--model", str(w.model), "--device", "cpu", "--out", str(d / "out")], bad.name)

    case(f"data-check-labels-{_kind}")(_check_lab)
    case(f"register-label-{_kind}")(_reg_lab)


# ---- run configs: train --config ------------------------------------------------------------
def _base_config(w: World) -> dict:
    return {"data": {"root": str(w.data), "grid_shape": [8, 8, 8], "grid_spacing": 2.0,
                     "n_train": 2, "n_test": 2, "label_ids": [2, 41]},
            "model": {"preset": "tiny"},
            "train": {"steps": 2, "batch_size": 1, "eval_every": 1, "eval_pairs": 1,
                      "checkpoint_every": 1, "device": "cpu"}}


BAD_CONFIGS: dict[str, tuple[str, str, object]] = {
    # name: (section, key, value) merged into the base config
    "grid-shape-zero": ("data", "grid_shape", [0, 0, 0]),
    "grid-shape-two": ("data", "grid_shape", [8, 8]),
    "grid-spacing-negative": ("data", "grid_spacing", -3),
    "n-train-too-large": ("data", "n_train", 40),
    "n-test-zero": ("data", "n_test", 0),
    "label-ids-negative": ("data", "label_ids", [-1, 2]),
    "layout-unknown": ("data", "layout", "nifti"),
    "root-missing": ("data", "root", "/nonexistent/hwreg-data"),
    "flip-probability": ("data", "atlas", {"flip": [2.0, 0.0, 0.0]}),
    "lr-nan": ("train", "lr", float("nan")),
    "lr-negative": ("train", "lr", -0.01),
    "lr-string": ("train", "lr", "fast"),
    "checkpoint-every-zero": ("train", "checkpoint_every", 0),
    "eval-every-zero": ("train", "eval_every", 0),
    "batch-size-zero": ("train", "batch_size", 0),
    "steps-negative": ("train", "steps", -1),
    "device-unknown": ("train", "device", "tpu"),
    "unknown-key": ("train", "learning_rate", 0.1),
    "preset-unknown": ("model", "preset", "bogus"),
    "weight-bits-5": ("model", "weight_bits", 5),
    "reg-weight-negative": ("loss", "reg_weight", -1.0),
    "lncc-window-even": ("loss", "lncc_window", 4),
    "dice-sigmas-inf": ("loss", "dice_sigmas", [0.0, float("inf")]),
}

for _name, (_section, _key, _value) in BAD_CONFIGS.items():
    def _train(w: World, d: Path, section=_section, key=_key, value=_value
               ) -> tuple[list[str], str]:
        import yaml

        cfg = _base_config(w)
        cfg.setdefault(section, {})[key] = value
        path = d / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        named = "/nonexistent/hwreg-data" if key == "root" else (
            "data" if key == "n_train" else path.name)
        return ["train", "--config", str(path), "--out", str(d / "run"), "--quiet"], named

    case(f"train-config-{_name}")(_train)


@case("train-config-binary")
def _binary_cfg(w: World, d: Path) -> tuple[list[str], str]:
    (d / "cfg.yaml").write_bytes(bytes(range(256)) * 4)
    return ["train", "--config", str(d / "cfg.yaml"), "--out", str(d / "run")], "cfg.yaml"


@case("train-config-garbage-yaml")
def _garbage_cfg(w: World, d: Path) -> tuple[list[str], str]:
    (d / "cfg.yaml").write_text("data: [unclosed\n  : : :\n")
    return ["train", "--config", str(d / "cfg.yaml"), "--out", str(d / "run")], "cfg.yaml"


@case("train-config-a-list")
def _list_cfg(w: World, d: Path) -> tuple[list[str], str]:
    (d / "cfg.yaml").write_text("- 1\n- 2\n")
    return ["train", "--config", str(d / "cfg.yaml"), "--out", str(d / "run")], "cfg.yaml"


@case("train-config-is-a-folder")
def _dir_cfg(w: World, d: Path) -> tuple[list[str], str]:
    (d / "cfg.yaml").mkdir()
    return ["train", "--config", str(d / "cfg.yaml"), "--out", str(d / "run")], "cfg.yaml"


@case("train-run-folder-garbage-config")
def _garbage_run(w: World, d: Path) -> tuple[list[str], str]:
    import yaml

    (d / "cfg.yaml").write_text(yaml.safe_dump(_base_config(w)))
    (d / "run").mkdir()
    (d / "run" / "config.yaml").write_bytes(b"\xff\xfe garbage \x00\x01")
    return ["train", "--config", str(d / "cfg.yaml"), "--out", str(d / "run")], "config.yaml"


@case("train-out-is-a-file")
def _out_file(w: World, d: Path) -> tuple[list[str], str]:
    import yaml

    (d / "cfg.yaml").write_text(yaml.safe_dump(_base_config(w)))
    (d / "run").write_text("a file")
    return ["train", "--config", str(d / "cfg.yaml"), "--out", str(d / "run")], "run"


@case("train-init-from-other-architecture")
def _init_other(w: World, d: Path) -> tuple[list[str], str]:
    import yaml

    other = _model_file(d / "other.pt", w.data, channels=[2, 3])
    cfg = _base_config(w)
    cfg["train"]["init_from"] = str(other)
    (d / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return ["train", "--config", str(d / "cfg.yaml"), "--out", str(d / "run")], "other.pt"


# ---- model files: evaluate, export, build, register, emulate --------------------------------
def _other_arch(w: World, d: Path) -> Path:
    """A model file whose state_dict is another architecture's (its config says tiny)."""
    good = torch.load(w.model, weights_only=True)
    other = torch.load(_model_file(d / "x.pt", w.data, channels=[2, 3]), weights_only=True)
    (d / "x.pt").unlink()
    good["state_dict"] = other["state_dict"]
    torch.save(good, d / "m.pt")
    return d / "m.pt"


def _bits_claimed(w: World, d: Path) -> Path:
    """A float model's weights in a file that claims W4A4."""
    ckpt = torch.load(w.model, weights_only=True)
    ckpt["config"]["model"]["weight_bits"] = ckpt["config"]["model"]["act_bits"] = 4
    torch.save(ckpt, d / "m.pt")
    return d / "m.pt"


def _nan_weights(w: World, d: Path) -> Path:
    ckpt = torch.load(w.model, weights_only=True)
    key = next(k for k in ckpt["state_dict"] if k.endswith("weight"))
    ckpt["state_dict"][key][...] = float("nan")
    torch.save(ckpt, d / "m.pt")
    return d / "m.pt"


def _missing_key(w: World, d: Path) -> Path:
    ckpt = torch.load(w.model, weights_only=True)
    ckpt["state_dict"].pop(next(iter(ckpt["state_dict"])))
    torch.save(ckpt, d / "m.pt")
    return d / "m.pt"


def _bad_config_in_model(w: World, d: Path) -> Path:
    ckpt = torch.load(w.model, weights_only=True)
    ckpt["config"]["model"]["preset"] = "bogus"
    torch.save(ckpt, d / "m.pt")
    return d / "m.pt"


def _not_hwreg(w: World, d: Path) -> Path:
    torch.save({"weights": torch.zeros(3)}, d / "m.pt")
    return d / "m.pt"


BAD_MODELS: dict[str, Callable[[World, Path], Path]] = {
    "garbage": lambda w, d: _write(d / "m.pt", b"\x80\x04garbage"),
    "pickle-payload": lambda w, d: pickle_payload(d / "m.pt"),
    "other-architecture": _other_arch,
    "float-weights-claiming-w4a4": _bits_claimed,
    "nan-weights": _nan_weights,
    "missing-key": _missing_key,
    "bad-config": _bad_config_in_model,
    "not-an-hwreg-file": _not_hwreg,
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


for _kind, _make in BAD_MODELS.items():
    def _eval(w: World, d: Path, make=_make) -> tuple[list[str], str]:
        m = make(w, d)
        return ["evaluate", "--model", str(m), "--data", str(w.data), "--out", str(d / "ev"),
                "--quiet", "--no-oracle"], m.name

    case(f"evaluate-model-{_kind}")(_eval)

for _kind in ("other-architecture", "nan-weights", "garbage"):
    def _export(w: World, d: Path, make=BAD_MODELS[_kind]) -> tuple[list[str], str]:
        m = make(w, d)
        return ["export", "--model", str(m), "--grid", *GRID, "--out", str(d / "x.onnx")], m.name

    def _build(w: World, d: Path, make=BAD_MODELS[_kind]) -> tuple[list[str], str]:
        m = make(w, d)
        return ["build", "--model", str(m), "--out", str(d / "b")], m.name

    def _reg_model(w: World, d: Path, make=BAD_MODELS[_kind]) -> tuple[list[str], str]:
        m = make(w, d)
        return (["register", str(w.fixed), str(w.moving), "--model", str(m), "--device", "cpu",
                 "--out", str(d / "out")], m.name)

    def _emu_model(w: World, d: Path, make=BAD_MODELS[_kind]) -> tuple[list[str], str]:
        m = make(w, d)
        return (["emulate", "--model", str(m), "--build", str(w.build), "--pairs", "1",
                 "--out", str(d / "emu")], m.name)

    case(f"export-model-{_kind}")(_export)
    case(f"build-model-{_kind}")(_build)
    case(f"register-model-{_kind}")(_reg_model)
    case(f"emulate-model-{_kind}")(_emu_model)


# ---- folding JSON: build --folding-config ---------------------------------------------------
BAD_FOLDING: dict[str, bytes] = {
    "invalid-json": b"{\"MVAU_0\": {\"PE\": 2,,}}",
    "empty-object": b"{}",
    "empty-file": b"",
    "a-list": b"[1, 2, 3]",
    "binary": bytes(range(256)),
    "unknown-attribute": json.dumps({"MVAU_0": {"XYZ": 1}}).encode(),
    "non-int-pe": json.dumps({"MVAU_0": {"PE": "two"}}).encode(),
    "pe-zero": json.dumps({"MVAU_0": {"PE": 0}}).encode(),
    "pe-negative": json.dumps({"MVAU_0": {"PE": -4}}).encode(),
    "pe-float": json.dumps({"MVAU_0": {"PE": 2.5}}).encode(),
    "bad-ram-style": json.dumps({"MVAU_0": {"ram_style": "magnetic"}}).encode(),
    "node-not-a-mapping": json.dumps({"MVAU_0": 4}).encode(),
    # these need the graph: the build runs up to step_set_folding, then refuses (nothing kept)
    "unknown-node": json.dumps({"MVAU_99": {"PE": 1}}).encode(),
    "pe-not-dividing": json.dumps({"MVAU_0": {"PE": 3}}).encode(),
    "attribute-of-another-op": json.dumps({"Thresholding_0": {"SIMD": 2}}).encode(),
}

for _kind, _text in BAD_FOLDING.items():
    def _fold(w: World, d: Path, text=_text) -> tuple[list[str], str]:
        (d / "fold.json").write_bytes(text)
        return ["build", "--model", RANDOM, "--grid", *GRID, "--folding-config",
                str(d / "fold.json"), "--out", str(d / "b")], "fold.json"

    case(f"build-folding-{_kind}")(_fold)


# ---- numeric options and specs --------------------------------------------------------------
BAD_OPTIONS: dict[str, tuple[list[str], str]] = {
    "build-target-fps-nan": (["build", "--model", RANDOM, "--grid", *GRID, "--target-fps", "nan"],
                             "--target-fps"),
    "build-target-fps-negative": (["build", "--model", RANDOM, "--grid", *GRID,
                                   "--target-fps", "-1"], "--target-fps"),
    "build-target-fps-inf": (["build", "--model", RANDOM, "--grid", *GRID,
                              "--target-fps", "inf"], "--target-fps"),
    "build-grid-zero": (["build", "--model", RANDOM, "--grid", "0", "8", "8"], "--grid"),
    "build-model-random-bogus": (["build", "--model", "random:bogus:w4a4", "--grid", *GRID],
                                 "random:bogus:w4a4"),
    "export-model-random-bits": (["export", "--model", "random:tiny:w5a5", "--grid", *GRID],
                                 "random:tiny:w5a5"),
    "emulate-pairs-zero": (["emulate", "--model", RANDOM, "--build", "B", "--pairs", "0"],
                           "--pairs"),
    "evaluate-pairs-negative": (["evaluate", "--model", "M", "--pairs", "-3"], "--pairs"),
    "train-steps-negative": (["train", "--config", "C", "--steps", "-1"], "--steps"),
    "prune-sparsity-above-one": (["prune", "--model", "M", "--sparsity", "1.5"], "--sparsity"),
    "prune-sparsity-nan": (["prune", "--model", "M", "--sparsity", "nan"], "--sparsity"),
    "prepare-spacing-zero": (["data", "prepare", "--spacing", "0"], "--spacing"),
    "prepare-subjects-one": (["data", "prepare", "--subjects", "1"], "--subjects"),
    "synth-jobs-zero": (["synth", "--build", "B", "--jobs", "0"], "--jobs"),
}

for _name, (_argv, _named) in BAD_OPTIONS.items():
    def _opt(w: World, d: Path, argv=_argv, named=_named) -> tuple[list[str], str]:
        return [*argv, "--out", str(d / ("out.onnx" if argv[0] == "export" else "out"))], named

    case(f"option-{_name}")(_opt)


@case("build-config-clock-negative")
def _clock(w: World, d: Path) -> tuple[list[str], str]:
    (d / "b.yaml").write_text("clock_ns: -5\n")
    return ["build", "--model", RANDOM, "--grid", *GRID, "--config", str(d / "b.yaml"),
            "--out", str(d / "b")], "b.yaml"


# ---- build folders: emulate ----------------------------------------------------------------
def _damaged_build(w: World, d: Path, rel: str, data: bytes | None) -> Path:
    b = d / "build"
    shutil.copytree(w.build, b)
    target = b / rel
    if data is None:
        target.unlink()
    else:
        target.write_bytes(target.read_bytes()[:200] if data == b"TRUNC" else data)
    return target


BAD_BUILDS: dict[str, tuple[str, bytes | None]] = {
    "export-truncated": ("export.onnx", b"TRUNC"),
    "hw-graph-truncated": ("intermediate_models/step_set_folding.onnx", b"TRUNC"),
    "lowered-garbage": ("intermediate_models/step_lower_to_integer.onnx", b"garbage"),
    "hw-graph-missing": ("intermediate_models/step_set_folding.onnx", None),
    "build-config-garbage": ("build_config.yaml", b"\xff\x00 not yaml ["),
    "build-config-missing": ("build_config.yaml", None),
}

for _kind, (_rel, _data) in BAD_BUILDS.items():
    def _emu(w: World, d: Path, rel=_rel, data=_data) -> tuple[list[str], str]:
        target = _damaged_build(w, d, rel, data)
        return (["emulate", "--model", RANDOM, "--build", str(d / "build"), "--pairs", "1",
                 "--out", str(d / "emu")], target.name)

    case(f"emulate-build-{_kind}")(_emu)


# ---- existing outputs without --force ------------------------------------------------------
@case("export-out-exists")
def _export_exists(w: World, d: Path) -> tuple[list[str], str]:
    (d / "x.onnx").write_text("mine")
    return ["export", "--model", RANDOM, "--grid", *GRID, "--out", str(d / "x.onnx")], "x.onnx"


@case("build-out-exists")
def _build_exists(w: World, d: Path) -> tuple[list[str], str]:
    (d / "b").mkdir()
    (d / "b" / "mine.txt").write_text("mine")
    return ["build", "--model", RANDOM, "--grid", *GRID, "--out", str(d / "b")], "--force"


@case("build-out-is-a-file")
def _build_file(w: World, d: Path) -> tuple[list[str], str]:
    (d / "b").write_text("mine")
    return ["build", "--model", RANDOM, "--grid", *GRID, "--out", str(d / "b")], "not a folder"


@case("emulate-out-exists")
def _emu_exists(w: World, d: Path) -> tuple[list[str], str]:
    (d / "emu").mkdir()
    (d / "emu" / "emulation.json").write_text("{}")
    return ["emulate", "--model", RANDOM, "--build", str(w.build), "--pairs", "1", "--out",
            str(d / "emu")], "--force"


@case("evaluate-out-exists")
def _eval_exists(w: World, d: Path) -> tuple[list[str], str]:
    (d / "ev").mkdir()
    (d / "ev" / "metrics.json").write_text("{}")
    return ["evaluate", "--model", str(w.model), "--out", str(d / "ev")], "metrics.json"


@case("register-out-is-a-file")
def _reg_out_file(w: World, d: Path) -> tuple[list[str], str]:
    (d / "out").write_text("mine")
    return ["register", str(w.fixed), str(w.moving), "--model", str(w.model), "--device", "cpu",
            "--out", str(d / "out")], "out"


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 60


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_is_refused_cleanly(name: str, world: World, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    argv, named = CASES[name](world, tmp_path)
    before, shared = _files(tmp_path), _files(world.root)
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        status = exc.code
    out = capsys.readouterr()
    lines = [ln for ln in out.err.splitlines() if ln.strip()]
    assert status == 2, f"exit {status}; stderr: {out.err}"
    assert len(lines) == 1 and lines[0].startswith("hwreg: error: "), out.err
    assert named in lines[0], lines[0]
    assert "PAYLOAD EXECUTED" not in out.out + out.err
    assert _files(tmp_path) == before, "a refused command wrote files"
    assert _files(world.root) == shared, "a refused command wrote into its inputs"
