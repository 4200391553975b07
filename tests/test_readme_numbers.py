"""Every README number that cites a committed results file matches that file."""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


@cache
def _checker() -> ModuleType:
    """``benchmarks/check_readme_numbers.py`` as a module (``benchmarks/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "check_readme_numbers", ROOT / "benchmarks" / "check_readme_numbers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_readme_numbers_match_their_results_files() -> None:
    checker = _checker()
    assert len(checker.CLAIMS) > 100
    assert checker.check((ROOT / "README.md").read_text()) == []


def test_a_stale_or_reworded_number_fails(tmp_path: Path) -> None:
    checker = _checker()
    readme = (ROOT / "README.md").read_text()
    stale = readme.replace("| 2 | 0.284 | 1.47x |", "| 2 | 0.300 | 1.47x |")
    faults = checker.check(stale)
    # both claims on that row (pairs/s and speed-up) fail: the README no longer shows the file's
    assert faults == ["README no longer says '| 2 | 0.284 | 1.47x |' (reworded? update "
                      f"{checker.__file__})"] * 2
    # a value changed in the file (a re-run) while the README still shows the old one
    ddp = json.loads((ROOT / "benchmarks/results/ddp.json").read_text())
    ddp["rows"][1]["speedup"] = 1.62
    (tmp_path / "ddp.json").write_text(json.dumps(ddp))
    claim = checker.Claim("| 2 | 0.284 | 1.47x |", str(tmp_path / "ddp.json"),
                          "rows/1/speedup", "{:.2f}x")
    assert checker.check(readme, (claim,)) == [
        f"{tmp_path / 'ddp.json'} [rows/1/speedup] reads 1.62x, the README says "
        "'| 2 | 0.284 | 1.47x |'"]


def test_every_cited_results_file_is_committed_and_cited() -> None:
    """Each results file a claim reads exists, and the README names every results file."""
    checker = _checker()
    readme = (ROOT / "README.md").read_text()
    for source in {c.source for c in checker.CLAIMS}:
        assert (ROOT / source).is_file(), source
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        assert path.name in readme, f"{path.name} is not cited by the README"


def test_the_fuzz_table_size_the_readme_gives() -> None:
    from tests.cli.test_fuzz_cli import CASES

    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"`tests/cli/test_fuzz_cli.py` runs {len(CASES)} malformed inputs" in readme
