"""One row of the benchmark table, and the table printer used by ``benchmarks/run_all.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Row:
    """A measured figure next to the reference it is compared with, both from the same run.

    ``ratio`` is ``value / reference_value`` (how many times the reference the measurement takes); ``target`` is
    the criterion of the issue that set it (empty when the figure is descriptive) and ``met`` whether it holds.
    """

    capability: str
    measurement: str
    value: float
    unit: str
    reference: str = ""
    reference_value: float | None = None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.reference_value is None or self.reference_value == 0:
            return None
        return self.value / self.reference_value


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0 or not math.isfinite(x):
        return f"{x}"
    if abs(x) >= 1000 or abs(x) < 0.01:
        return f"{x:.3g}"
    return f"{x:.3f}".rstrip("0").rstrip(".") if abs(x) < 10 else f"{x:.1f}"


def format_table(rows: list[Row]) -> str:
    """The rows as one fixed-width table (capability, measurement, value, reference, ratio, target, met?)."""
    head = ("capability", "measurement", "value", "reference", "ratio", "target", "met?")
    body = []
    for r in rows:
        ref = f"{r.reference} = {_fmt(r.reference_value)} {r.unit}".strip() if r.reference else "-"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        body.append((r.capability, r.measurement, f"{_fmt(r.value)} {r.unit}", ref,
                     _fmt(r.ratio) + ("x" if r.ratio is not None else ""), r.target or "-", met))
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head), "-+-".join("-" * w for w in widths), *(line(b) for b in body)])
