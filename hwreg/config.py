"""Typed, strict run configuration.

Every run is described by one dataclass tree that round-trips through YAML. Loading is strict:
an unknown key is refused with its dotted name, a value of the wrong type names the key, the
expected type and the value, and relative paths are resolved against the config file's folder.
Choices are ``str`` Enums so that YAML holds plain strings.

This module holds the machinery, the one default model grid (:data:`DEFAULT_GRID_SHAPE`,
:data:`DEFAULT_GRID_SPACING`: the shipped models' grid, also the default input grid of a FINN
build) and the data section. Every stage's config dataclass lives with its stage; a run composes
them (:class:`hwreg.run.RunConfig`).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hwreg.atomic import write_text
from hwreg.errors import ConfigError, UserError

T = TypeVar("T")

#: The default model grid (D, H, W) in voxels: the shipped models' grid, and a FINN build's input.
DEFAULT_GRID_SHAPE: tuple[int, int, int] = (48, 64, 48)
#: The default model grid spacing in mm (isotropic).
DEFAULT_GRID_SPACING: float = 3.0

#: The 32 IBSR/CMA label ids of the IBSR_18 manual segmentations (and the deepmriprep atlas).
IBSR_LABEL_IDS: tuple[int, ...] = (
    2, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 24, 26, 28,
    41, 42, 43, 44, 46, 47, 49, 50, 51, 52, 53, 54, 58, 60,
)  # fmt: skip


class Layout(enum.StrEnum):
    """How subjects are found in a dataset folder."""

    ibsr = "ibsr"  #: IBSR_18 as distributed: IBSR_XX/IBSR_XX_ana[_strip].nii.gz + _seg_ana
    glob = "glob"  #: image/label pairs matched by two globs (``image_glob``, ``label_glob``)


class GridCentre(enum.StrEnum):
    """Where the model grid is centred in each volume's world space."""

    mass = "mass"  #: the intensity centre of mass (a free translation pre-alignment)
    fov = "fov"  #: the centre of the field of view


class PairSource(enum.StrEnum):
    """Where training pairs come from."""

    dataset = "dataset"  #: random pairs of the dataset's training subjects
    atlas = "atlas"  #: pairs synthesised on the fly from the embedded atlas (unlimited)


@dataclass
class AtlasPairsConfig:
    """Strength of the random transforms and intensity augmentation of on-the-fly pairs."""

    #: sd (degrees) of each rotation angle of a subject's affine.
    rotation_deg: float = 3.0
    #: sd of each axis' log-scale of a subject's affine.
    scale: float = 0.03
    #: sd (mm) of each translation component (residual after centre-of-mass centring).
    translation_mm: float = 2.0
    #: Largest sd (mm) of the smooth displacement at its control points; each subject draws a
    #: magnitude uniformly in [0, warp_mm].
    warp_mm: float = 3.5
    #: Control-point spacings (mm) a subject's displacement is drawn from (one per subject).
    control_mm: list[float] = field(default_factory=lambda: [16.0, 24.0, 32.0, 48.0])
    #: sd of the log bias field at its control points (48 mm apart).
    bias: float = 0.2
    #: sd of the log gamma exponent.
    gamma: float = 0.25
    #: Largest noise sd relative to the 99.5th percentile (each image draws one in [0, noise]).
    noise: float = 0.03
    #: Probability of a Gaussian blur (sd in [0.3, 0.8] voxel) of an image (scanner resolution).
    blur: float = 0.3
    #: The pair's own anatomy: both images of a pair share one large random warp of the atlas
    #: (and flips), so that no two pairs show the same brain and the network must compare the
    #: two images instead of recognising the template. sd (degrees) of its rotation angles.
    anatomy_rotation_deg: float = 6.0
    #: sd of the shared warp's log-scales.
    anatomy_scale: float = 0.08
    #: Largest sd (mm) of the shared smooth displacement (drawn uniformly in [0, this]).
    anatomy_warp_mm: float = 6.0
    #: Control-point spacings (mm) of the shared displacement.
    anatomy_control_mm: list[float] = field(default_factory=lambda: [24.0, 32.0, 48.0])
    #: Probability of mirroring the pair's anatomy along each array axis (R-L, A-P, S-I).
    flip: list[float] = field(default_factory=lambda: [0.5, 0.25, 0.25])
    #: Probability that both images of a pair get the same intensity augmentation.
    same_intensity: float = 0.3


@dataclass
class DataConfig:
    """Where the subjects come from and how they are put on the model grid."""

    #: Dataset folder (``hwreg data prepare --out DIR`` writes the embedded default data there).
    root: Path | None = None
    #: How subjects are found in ``root``.
    layout: Layout = Layout.ibsr
    #: Glob (relative to ``root``) of the images, layout ``glob`` only; ``*`` parts name a subject.
    image_glob: str = "*/aligned_norm.nii.gz"
    #: Glob of the label maps, layout ``glob`` only; matched to images by their ``*`` parts.
    label_glob: str = "*/aligned_seg35.nii.gz"
    #: Model grid shape (D, H, W) in voxels; each axis divisible by 2**(network depth).
    grid_shape: tuple[int, int, int] = DEFAULT_GRID_SHAPE
    #: Model grid spacing in mm (isotropic).
    grid_spacing: float = DEFAULT_GRID_SPACING
    #: Where the model grid is centred in each volume.
    grid_centre: GridCentre = GridCentre.mass
    #: Label ids kept (others become background), in this order; ``None`` = the 32 IBSR ids.
    label_ids: list[int] | None = None
    #: Subjects used for training; the rest (up to ``n_test``) are held out.
    n_train: int = 13
    #: Held-out subjects for evaluation.
    n_test: int = 5
    #: Seed of the train/test split and of pair sampling.
    seed: int = 0
    #: Training pairs: the dataset's training subjects, or synthesised on the fly from the
    #: embedded atlas (evaluation still uses the dataset's held-out subjects).
    source: PairSource = PairSource.dataset
    #: Random transforms and intensity augmentation of ``source: atlas`` pairs.
    atlas: AtlasPairsConfig = field(default_factory=AtlasPairsConfig)

    def resolved_label_ids(self) -> tuple[int, ...]:
        """The label ids in use (the 32 IBSR ids when ``label_ids`` is unset)."""
        return tuple(self.label_ids) if self.label_ids else IBSR_LABEL_IDS

    def validate(self) -> None:
        """Raise ConfigError on a value out of range (see :data:`DATA_RULES`)."""
        check_rules(self, DATA_RULES, "data.")


#: A range rule: the predicate a value must satisfy and what it means, e.g.
#: ``(lambda v: v > 0, "> 0")``.
Rule = tuple[Callable[[Any], bool], str]

#: Range rules of :class:`DataConfig` (types are checked on loading; these are the values).
DATA_RULES: dict[str, Rule] = {
    "grid_shape": (lambda v: all(s >= 1 for s in v), "each axis >= 1"),
    "grid_spacing": (lambda v: v > 0, "> 0 mm"),
    "label_ids": (lambda v: v is None or (all(i > 0 for i in v) and len(set(v)) == len(v)),
                  "distinct ids > 0 (0 is the background)"),
    "n_train": (lambda v: v >= 0, ">= 0"),
    "n_test": (lambda v: v >= 2, ">= 2 (held-out pairs need two subjects)"),
    "atlas.rotation_deg": (lambda v: v >= 0, ">= 0"),
    "atlas.scale": (lambda v: v >= 0, ">= 0"),
    "atlas.translation_mm": (lambda v: v >= 0, ">= 0"),
    "atlas.warp_mm": (lambda v: v >= 0, ">= 0"),
    "atlas.control_mm": (lambda v: len(v) > 0 and all(c > 0 for c in v), "non-empty, each > 0"),
    "atlas.bias": (lambda v: v >= 0, ">= 0"),
    "atlas.gamma": (lambda v: v >= 0, ">= 0"),
    "atlas.noise": (lambda v: v >= 0, ">= 0"),
    "atlas.blur": (lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    "atlas.anatomy_rotation_deg": (lambda v: v >= 0, ">= 0"),
    "atlas.anatomy_scale": (lambda v: v >= 0, ">= 0"),
    "atlas.anatomy_warp_mm": (lambda v: v >= 0, ">= 0"),
    "atlas.anatomy_control_mm": (lambda v: len(v) > 0 and all(c > 0 for c in v),
                                 "non-empty, each > 0"),
    "atlas.flip": (lambda v: len(v) == 3 and all(0 <= p <= 1 for p in v),
                   "3 probabilities in [0, 1]"),
    "atlas.same_intensity": (lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
}


def check_rules(obj: Any, rules: dict[str, Rule], prefix: str = "") -> None:
    """Raise ConfigError naming the first dotted key of ``obj`` whose value breaks its rule."""
    for key, (ok, meaning) in rules.items():
        value = obj
        for part in key.split("."):
            value = getattr(value, part)
        if not ok(value):
            shown = list(value) if isinstance(value, tuple) else value
            raise ConfigError(f"{prefix}{key}: expected {meaning}, got {shown!r}")


def require_data_root(trained_on: Path | None, override: Path | None) -> Path:
    """The dataset folder to use: ``override``, else the training one if it still exists, else
    ``data/default`` (where ``make demo`` puts the default data)."""
    for candidate in (override, trained_on, Path("data/default")):
        if candidate is not None and Path(candidate).is_dir():
            return Path(candidate)
    if override is not None:
        raise UserError(f"{override}: dataset folder not found")
    raise UserError("no dataset folder: pass --data DIR (e.g. after 'hwreg data prepare')")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str, base: Path | None) -> Any:
    """Convert a YAML value to the annotated type ``tp`` or raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, base)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: invalid value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return _from_dict(tp, value, base, prefix=f"{key}.")
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, key, base) for v, a in zip(value, args, strict=True))
        item = args[0] if args else Any
        items = [_convert(v, item, key, base) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(m.value for m in tp)
            raise ConfigError(f"{key}: {value!r} is not one of {choices}") from None
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{key}: expected a path, got {value!r}")
        path = Path(value).expanduser()
        return path if path.is_absolute() or base is None else (base / path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if tp is Any:
        return value
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")


def _from_dict(cls: type[T], data: dict[str, Any], base: Path | None, prefix: str = "") -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix + unknown[0]!r}")
    kwargs = {k: _convert(v, hints[k], f"{prefix}{k}", base) for k, v in data.items()}
    return cls(**kwargs)


def from_dict(cls: type[T], data: dict[str, Any] | None, base: Path | None = None) -> T:
    """Build the dataclass ``cls`` from a plain dict, strictly (see module docstring)."""
    return _from_dict(cls, data or {}, base)


def to_dict(obj: Any) -> Any:
    """Plain YAML-able form of a config dataclass tree (Enums as strings, paths as strings)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def load_yaml(cls: type[T], path: str | Path) -> T:
    """Load a config of type ``cls`` from a YAML file; relative paths resolve against its folder."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, expected a YAML config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (binary data?), expected YAML") from None
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return from_dict(cls, data, base=path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def dump_yaml(obj: Any, path: str | Path) -> None:
    """Write a config dataclass tree as YAML."""
    write_text(path, yaml.safe_dump(to_dict(obj), sort_keys=False))


def replace_field(obj: T, **changes: Any) -> T:
    """``dataclasses.replace`` with a typed signature."""
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]


__all__ = [
    "DEFAULT_GRID_SHAPE",
    "DEFAULT_GRID_SPACING",
    "IBSR_LABEL_IDS",
    "AtlasPairsConfig",
    "DataConfig",
    "GridCentre",
    "Layout",
    "PairSource",
    "check_rules",
    "dump_yaml",
    "field",
    "from_dict",
    "load_yaml",
    "replace_field",
    "require_data_root",
    "to_dict",
]
