"""Typed numeric command-line options: each refuses NaN, infinities and out-of-range values
with argparse's one-line error (``hwreg: error: argument --X: ...``, exit 2), before a command
starts."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def ranged(kind: type, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], float | int]:
    """An argparse ``type`` for ``kind`` (int or float) in [low, high] (ends open if asked)."""

    def parse(text: str) -> float | int:
        value = _number(text, kind)
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
            hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
            raise argparse.ArgumentTypeError(
                f"expected a value {' and '.join(x for x in (lo, hi) if x)}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


#: > 0 (a rate, a spacing, a learning rate, seconds).
positive_float = ranged(float, 0, low_open=True)
#: >= 1 (a count of pairs, jobs, subjects).
positive_int = ranged(int, 1)
#: >= 0 (steps).
non_negative_int = ranged(int, 0)
#: [0, 1) (a sparsity).
fraction = ranged(float, 0, 1, high_open=True)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: ``hwreg: error: ...`` (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print one line naming the option and its fault; exit with status 2."""
        self.exit(2, f"hwreg: error: {message} (see '{self.prog} --help')\n")
