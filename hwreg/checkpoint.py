"""Model files: save, find, load (by name, path or ``random:`` spec).

A model file ``model.pt`` is a plain dict loadable with ``torch.load(weights_only=True)`` (no
pickled code): ``format``, ``config`` (the :class:`~hwreg.run.RunConfig` as a plain dict),
``state_dict``, ``step`` and ``metrics``; a quantized model's file also holds its inference form
(``inference``, :mod:`hwreg.inference`, added by :func:`with_inference_form`), which
:func:`load_for_inference` runs without Brevitas (a file without one, or whose weights changed
since, falls back to the Brevitas network). The package ships trained demo models by name
(:data:`SHIPPED`); every command that takes ``--model`` accepts a name or a path. The hardware
stages also take ``random:<preset>:w<W>a<A>[:h<head_level>]`` (:func:`load_model_spec`): an
untrained model with a non-trivial head, for trying the flow.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from hwreg.atomic import atomic_path
from hwreg.config import from_dict
from hwreg.errors import UserError
from hwreg.inference import FORM_KEY, InferenceNet, fingerprint, form_fits, freeze
from hwreg.model_config import ModelConfig
from hwreg.run import RunConfig

if TYPE_CHECKING:  # Brevitas (hwreg.model) is imported where a network is built
    from hwreg.model import RegNet

FORMAT = "hwreg-model-1"
#: Trained models shipped in the package (``hwreg/models/<name>.pt``).
SHIPPED = ("demo-float", "demo-w4a4", "demo-w4a4-p50", "demo-float-v1", "demo-float-v2",
           "demo-w4a4-v2", "demo-w4a4-v3", "demo-w4a4-v4")


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temp file in the same folder, then rename (never half-written)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def resolve_model(ref: str | Path) -> Path:
    """A model file from a path or a shipped model name."""
    path = Path(ref)
    if path.is_dir() and (path / "model.pt").exists():
        return path / "model.pt"
    if path.exists():
        return path
    if str(ref) in SHIPPED:
        shipped = Path(str(resources.files("hwreg") / "models" / f"{ref}.pt"))
        if not shipped.exists():
            raise UserError(f"{shipped}: shipped model '{ref}' is missing from the package")
        return shipped
    names = ", ".join(SHIPPED)
    raise UserError(f"{ref}: no such model file or shipped model name (names: {names})")


def read_model_file(path: Path) -> dict[str, Any]:
    """Load a model file's dict (weights only, no code) and check its format."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise UserError(f"{path}: not a readable hwreg model file ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path}: not an hwreg model file (format {FORMAT} expected)")
    return ckpt


def runtime_stats(model: torch.nn.Module) -> dict[str, dict[str, Any]]:
    """The state Brevitas' ``state_dict`` leaves out of a quantizer still collecting its
    activation statistics (``ParameterFromRuntimeStatsScaling``: its step counter and running
    buffer), by module name; empty once every quantizer has its learned scale."""
    from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling

    return {name: {"counter": int(m.counter), "buffer": m.buffer.detach().clone()}
            for name, m in model.named_modules()
            if isinstance(m, ParameterFromRuntimeStatsScaling)
            and m.counter <= m.collect_stats_steps}


def restore_runtime_stats(model: torch.nn.Module, saved: dict[str, dict[str, Any]],
                          where: str | Path) -> None:
    """Undo what loading a state_dict does to a quantizer saved mid-collection (Brevitas then
    stops collecting and takes the partial average as its scale): put back its counter and
    buffer, and its learned scale's starting value 1 (collection leaves it at 1: zero
    gradient), so a resumed run collects exactly as an uninterrupted one."""
    from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling

    if not isinstance(saved, dict):
        raise UserError(f"{where}: quantizer statistics are not a mapping")
    modules = dict(model.named_modules())
    for name, state in saved.items():
        m = modules.get(name)
        if not isinstance(m, ParameterFromRuntimeStatsScaling) or not isinstance(state, dict) \
                or not isinstance(state.get("buffer"), torch.Tensor) \
                or state["buffer"].shape != m.buffer.shape:
            raise UserError(f"{where}: quantizer statistics '{name}' do not fit the model")
        m.counter = int(state["counter"])
        with torch.no_grad():
            m.buffer.copy_(state["buffer"])
            m.value.fill_(1.0)


def load_state(model: RegNet, state_dict: Any, where: str | Path) -> None:
    """Load ``state_dict`` into ``model`` strictly, or raise a one-line UserError naming
    ``where``: keys missing or unexpected, a tensor of another shape (another architecture or
    bit width), or NaN/Inf weights."""
    if not isinstance(state_dict, dict) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise UserError(f"{where}: the state_dict is not a mapping of tensors")
    bad = [k for k, v in state_dict.items()
           if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise UserError(f"{where}: weight '{bad[0]}' has NaN/Inf values")
    own = model.state_dict()
    shape = [k for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if shape:
        k = shape[0]
        raise UserError(f"{where}: weights do not fit the architecture it names: '{k}' has shape "
                        f"{list(state_dict[k].shape)}, expected {list(own[k].shape)} (another "
                        "architecture or bit width?)")
    try:  # Brevitas' own hooks accept its lazily created quantizer scales; torch lists the rest
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        reason = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), str(exc))
        raise UserError(f"{where}: weights do not fit the architecture it names: "
                        f"{reason[:200]} (another architecture or bit width?)") from None


def _run_config(ckpt: dict[str, Any], where: str | Path) -> RunConfig:
    """The validated run config of a model file dict (UserError naming ``where``)."""
    try:
        cfg = from_dict(RunConfig, ckpt.get("config"))
        cfg.model.validate()
    except UserError as exc:
        raise UserError(f"{where}: invalid config in the model file: {exc}") from None
    return cfg


def model_from_checkpoint(ckpt: dict[str, Any],
                          where: str | Path = "model file") -> tuple[RegNet, RunConfig]:
    """Rebuild the network of a model file dict and load its weights (strictly); a fault is a
    UserError naming ``where``."""
    from hwreg.model import build_model

    cfg = _run_config(ckpt, where)
    model = build_model(cfg.model)
    load_state(model, ckpt.get("state_dict"), where)
    model.eval()
    return model, cfg


def load_model(ref: str | Path) -> tuple[RegNet, RunConfig, dict[str, Any]]:
    """Load a trained model by name or path: (network in eval mode, its run config, file dict)."""
    path = resolve_model(ref)
    ckpt = read_model_file(path)
    model, cfg = model_from_checkpoint(ckpt, path)
    return model, cfg, ckpt


def with_inference_form(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Add (or renew) the inference form of a quantized model file dict, read from the network
    exactly as :func:`model_from_checkpoint` loads it; a float model's dict is left as it is."""
    if _run_config(ckpt, "model file").model.quantized:
        model, _ = model_from_checkpoint(ckpt)
        ckpt[FORM_KEY] = freeze(model, fingerprint(ckpt["state_dict"]))
    return ckpt


def load_for_inference(ref: str | Path) -> tuple[torch.nn.Module, RunConfig, dict[str, Any]]:
    """Like :func:`load_model`, for running the network only: a quantized model whose file holds
    a fitting inference form comes back as an :class:`~hwreg.inference.InferenceNet` (no
    Brevitas import, the same DDF bit for bit); any other model as its Brevitas ``RegNet``."""
    path = resolve_model(ref)
    ckpt = read_model_file(path)
    cfg = _run_config(ckpt, path)
    form = ckpt.get(FORM_KEY)
    if cfg.model.quantized and form_fits(form, cfg.model, ckpt.get("state_dict")):
        return InferenceNet(form, cfg.model).eval(), cfg, ckpt
    model, cfg = model_from_checkpoint(ckpt, path)
    return model, cfg, ckpt


def source_state(ref: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict of model file ``ref`` (a name or a path), or a one-line UserError."""
    source = read_model_file(resolve_model(ref)).get("state_dict")
    if not isinstance(source, dict) or not all(isinstance(v, torch.Tensor)
                                               for v in source.values()):
        raise UserError(f"{ref}: the state_dict is not a mapping of tensors")
    bad = [k for k, v in source.items()
           if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise UserError(f"{ref}: weight '{bad[0]}' has NaN/Inf values")
    return source


def init_weights_from(model: RegNet, ref: str | Path, partial: bool = False) -> list[str]:
    """Copy conv weights/biases from another model (e.g. float -> quantized) by name.

    Every conv parameter of ``model`` must be found with the same shape, unless ``partial``:
    then those that are not (a layer the source lacks, a head of another width) keep their
    fresh initialisation, and at least one must be found. Quantizer parameters are copied too
    where the source has them with the same shape (e.g. a quantized model of the same bit
    widths), else left to initialise from statistics. Returns the copied conv names.
    """
    source = source_state(ref)
    own = model.state_dict()
    wanted = [k for k in own if k.endswith(("weight", "bias")) and "quant" not in k]
    missing = [k for k in wanted if k not in source or source[k].shape != own[k].shape]
    if missing and (not partial or len(missing) == len(wanted)):
        hint = ("no conv parameter fits" if partial else "another architecture? "
                "train.init_partial: true keeps the layers that do not fit as initialised")
        raise UserError(f"{ref}: cannot initialise from it, parameter '{missing[0]}' is missing "
                        f"or has another shape ({hint})")
    wanted = [k for k in wanted if k not in missing]
    # learned quantizer scales (absent from a fresh model's state_dict until initialised)
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers()), **own}
    extra = [k for k, v in tensors.items()
             if k not in wanted and k in source and source[k].shape == v.shape]
    model.load_state_dict({k: source[k] for k in [*wanted, *extra]}, strict=False)
    return wanted


_RANDOM = re.compile(r"^random:(\w+):w(\d)a(\d)(?::h([01]))?$")


def random_model(preset: str, weight_bits: int, act_bits: int, head_level: int = 0,
                 seed: int = 0, grid: tuple[int, int, int] = (8, 8, 8)) -> RegNet:
    """An untrained quantised RegNet with a perturbed head and calibrated activation scales."""
    from hwreg.model import build_model

    torch.manual_seed(seed)
    model = build_model(ModelConfig(preset=preset, weight_bits=weight_bits,  # type: ignore[arg-type]
                                    act_bits=act_bits, head_level=head_level))
    torch.nn.init.normal_(model.head.weight, std=0.3)
    model.train()
    with torch.no_grad():
        for _ in range(2):  # let the activation quantisers see data
            model.core(torch.rand(1, 2, *grid))
    return model.eval()


def load_model_and_config(spec: str) -> tuple[RegNet, RunConfig | None]:
    """The model named by ``spec`` (a model file, run folder, shipped name or ``random:...``)
    and its :class:`RunConfig` (None for a random model)."""
    if spec.startswith("random:"):
        m = _RANDOM.match(spec)
        if m is None:
            raise UserError(f"--model {spec}: expected random:<preset>:w<W>a<A>[:h<0|1>]")
        try:
            cfg = from_dict(ModelConfig, {"preset": m.group(1), "weight_bits": int(m.group(2)),
                                          "act_bits": int(m.group(3)),
                                          "head_level": int(m.group(4) or 0)})
            cfg.validate()
        except UserError as exc:
            raise UserError(f"--model {spec}: {exc}") from None
        return random_model(cfg.preset, int(m.group(2)), int(m.group(3)),
                            int(m.group(4) or 0)), None
    model, cfg, _ = load_model(spec)
    return model, cfg


def load_model_spec(spec: str) -> tuple[RegNet, tuple[int, int, int] | None]:
    """The model named by ``spec`` (see :func:`load_model_and_config`) and the grid its run
    config names (None for a random model)."""
    model, cfg = load_model_and_config(spec)
    return model, (tuple(cfg.data.grid_shape) if cfg is not None else None)  # type: ignore
