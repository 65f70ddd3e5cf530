"""The benchmark report: Markdown tables whose every number is traced to a computed value.

Each numeric cell is made by :meth:`Ledger.num` (or :meth:`Ledger.stat` for mean ± std over
seeds), which refuses non-finite values and records the text it produced. The report's
``results.json`` lists those texts, so a check can trace every table cell back to a number
the run computed (``tests/bench/test_quick.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Ledger", "Table"]


@dataclass
class Ledger:
    """Numeric cells of the report and the values behind them."""

    cells: dict[str, list[float]] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)

    def num(self, value: float, digits: int = 3, *, unit: str = "") -> str:
        """Format one computed number (``digits`` after the point, or an integer)."""
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"report value is not finite: {value!r}")
        text = (f"{int(round(v)):,}" if digits == 0 else f"{v:,.{digits}f}") + unit
        self.cells.setdefault(text, []).append(v)
        return text

    def stat(self, values, digits: int = 3) -> str:
        """``mean ± std`` over seeds (sample std); one value is printed alone."""
        vals = [float(x) for x in values]
        if not vals or not all(math.isfinite(x) for x in vals):
            raise ValueError(f"report values are missing or not finite: {vals!r}")
        mean = float(np.mean(vals))
        if len(vals) == 1:
            text = f"{mean:.{digits}f}"
        else:
            text = f"{mean:.{digits}f} ± {float(np.std(vals, ddof=1)):.{digits}f}"
        self.cells.setdefault(text, []).extend(vals)
        return text

    def label(self, text: str) -> str:
        """A row or column label (configuration, not a measurement)."""
        self.labels.add(text)
        return text


@dataclass
class Table:
    """A Markdown table; the first column holds labels."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        if len(cells) != len(self.header):
            raise ValueError(f"row has {len(cells)} cells, the table {len(self.header)}")
        self.rows.append(list(cells))

    def markdown(self) -> str:
        out = ["| " + " | ".join(self.header) + " |",
               "|" + "|".join("---" for _ in self.header) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(out)
