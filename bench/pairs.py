"""Two or more sides of a benchmark run interleaved, and their ratios taken pair by pair.

Each run measures every side once, in an order that rotates from run to run, so that a machine that slows
down or speeds up during the benchmark weighs on all sides alike; a ratio is taken within each run.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable


def interleaved(sides: dict[str, Callable[[], float]], runs: int) -> dict[str, list[float]]:
    """`runs` measurements of each side (whatever each callable returns), interleaved run by run."""
    names = list(sides)
    measured: dict[str, list[float]] = {name: [] for name in names}
    for run in range(runs):
        shift = run % len(names)
        for name in names[shift:] + names[:shift]:
            measured[name].append(sides[name]())
    return measured


def pair_ratios(ours: list[float], theirs: list[float]) -> list[float]:
    return [a / b for a, b in zip(ours, theirs, strict=True)]


def describe(values: list[float], unit: str, scale: float = 1.0) -> str:
    """median (min, max) of `values` times `scale`, e.g. seconds shown as ms."""
    scaled = sorted(v * scale for v in values)
    digits = 2 if unit == "s" else 1
    median, low, high = (f"{v:.{digits}f}" for v in (statistics.median(scaled), scaled[0], scaled[-1]))
    return f"median {median} {unit} (min {low}, max {high})"


def describe_ratio(ratios: list[float], target: float | None = None, *, at_least: float | None = None) -> str:
    """The ratios' median and range, and whether the median meets `target` (at most) or `at_least`."""
    ordered = sorted(ratios)
    median = statistics.median(ordered)
    text = f"median {median:.2f}x (min {ordered[0]:.2f}x, max {ordered[-1]:.2f}x; {len(ordered)} pairs)"
    if target is not None:
        text += f"; target <= {target}x: {'met' if median <= target else 'NOT met'}"
    if at_least is not None:
        text += f"; target >= {at_least}x: {'met' if median >= at_least else 'NOT met'}"
    return text
