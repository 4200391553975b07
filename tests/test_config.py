"""The strict typed config: unknown keys by name, types, enums, paths, YAML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwreg.config import DataConfig, GridCentre, Layout, dump_yaml, load_yaml
from hwreg.errors import ConfigError


def test_round_trip_and_relative_paths(tmp_path: Path) -> None:
    cfg_file = tmp_path / "cfg" / "data.yaml"
    cfg_file.parent.mkdir()
    cfg_file.write_text("root: ../subjects\nlayout: glob\ngrid_shape: [16, 24, 16]\n"
                        "grid_centre: fov\nlabel_ids: [2, 41]\n")
    cfg = load_yaml(DataConfig, cfg_file)
    assert cfg.root == cfg_file.parent / "../subjects"
    assert cfg.layout is Layout.glob and cfg.grid_centre is GridCentre.fov
    assert cfg.grid_shape == (16, 24, 16) and cfg.resolved_label_ids() == (2, 41)
    dump_yaml(cfg, tmp_path / "copy.yaml")
    assert load_yaml(DataConfig, tmp_path / "copy.yaml") == cfg


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grid_spacing: 2\nbogus_key: 1\n", "unknown config key 'bogus_key'"),
        ("layout: nifti\n", "layout: 'nifti' is not one of ibsr, glob"),
        ("grid_shape: [16, 16]\n", "grid_shape: expected 3 values, got 2"),
        ("n_train: ten\n", "n_train: expected an integer, got 'ten'"),
        ("grid_spacing: [1]\n", "grid_spacing: expected a number"),
        ("- a\n- b\n", "expected a mapping at the top level"),
        ("root: [unclosed\n", "invalid YAML at line"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_yaml(DataConfig, path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_yaml(DataConfig, tmp_path / "nope.yaml")
