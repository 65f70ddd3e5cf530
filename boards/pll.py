"""Clock generation for the board top-levels: PLL settings and the PLL primitives.

:func:`ice40_pll` and :func:`ecp5_pll` search every legal divider setting of the family's PLL
for the output frequency closest to a request, and refuse (:class:`PllError`) when none comes
within a tolerance. :class:`Ice40Pll` and :class:`Ecp5Pll` instantiate the vendor primitive
(``SB_PLL40_CORE`` or ``SB_PLL40_PAD`` in SIMPLE feedback, ``EHXPLLL`` fed back from CLKOP)
with such a setting, create the core's clock domain from its output and hold the domain in
reset until the PLL has locked (:class:`LockReset`).

Where the limits come from:

* iCE40: Lattice, *iCE40 sysCLOCK PLL Design and Usage Guide* (TN1251; formula, divider
  fields, FILTER_RANGE table) and the iCE40 LP/HX and UltraPlus data sheets (sysCLOCK PLL
  timing), as encoded in Project IceStorm's ``icepll`` (``icepll/icepll.cc``), which also
  records that DIVF reaches 127 in SIMPLE mode although the guide prints 63 (IceStorm issue
  #83 / pull request #84: iCEcube2 itself emits DIVF 66).
* ECP5: Lattice, *ECP5 and ECP5-5G sysCLOCK PLL/DLL Design and Usage Guide* (TN1263) and the
  ECP5 family data sheet (DS1044, sysCLOCK PLL timing), as encoded in Project Trellis'
  ``ecppll`` (``libtrellis/tools/ecppll.cpp``) and LiteX (``litex/soc/cores/clock/
  lattice_ecp5.py``). Two limits are contested there; see the comments at :data:`ECP5_PFD_HZ`
  and :data:`ECP5_CLKFB_DIV`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from amaranth.hdl import (
    ClockDomain,
    ClockSignal,
    Const,
    Elaboratable,
    Instance,
    Module,
    ResetSignal,
    Signal,
)
from amaranth.lib.cdc import FFSynchronizer

from ..model.errors import SnnfpgaError

__all__ = [
    "DEFAULT_TOLERANCE", "ECP5_CLKFB_DIV", "ECP5_CLKI_DIV", "ECP5_CLKOP_DIV", "ECP5_F_IN_HZ",
    "ECP5_F_OUT_HZ", "ECP5_PFD_HZ", "ECP5_VCO_HZ", "ICE40_DIVF", "ICE40_DIVQ", "ICE40_DIVR",
    "ICE40_F_IN_HZ", "ICE40_F_OUT_HZ", "ICE40_PFD_HZ", "ICE40_VCO_HZ", "Ecp5Pll",
    "Ecp5PllParams", "Ice40Pll", "Ice40PllParams", "LockReset", "PllError", "ecp5_pll",
    "ice40_filter_range", "ice40_pll",
]

#: Default tolerance of a PLL request: the achieved frequency may differ by 1 % of it.
DEFAULT_TOLERANCE = 0.01

# --- iCE40 SB_PLL40, SIMPLE feedback (limits inclusive, in Hz) -----------------------------
#: Reference clock at REFERENCECLK: 10..133 MHz (TN1251; icepll.cc ``limit_in``).
ICE40_F_IN_HZ = (10e6, 133e6)
#: Phase detector input, f_in / (DIVR + 1): 10..133 MHz (TN1251; icepll.cc ``limit_pfd``).
ICE40_PFD_HZ = (10e6, 133e6)
#: VCO, f_pfd * (DIVF + 1) in SIMPLE mode: 533..1066 MHz (TN1251; icepll.cc ``limit_vco``).
ICE40_VCO_HZ = (533e6, 1066e6)
#: Output, f_vco / 2**DIVQ: 16..275 MHz (TN1251, data sheet; icepll.cc ``limit_out``).
ICE40_F_OUT_HZ = (16e6, 275e6)
#: DIVR is a 4-bit field: 0..15 (TN1251).
ICE40_DIVR = (0, 15)
#: DIVF is a 7-bit field, all of it usable in SIMPLE mode: 0..127 (icepll.cc's note on the
#: guide's 63; IceStorm issue #83, pull request #84).
ICE40_DIVF = (0, 127)
#: DIVQ divides the VCO by 2**DIVQ, 1..6 in SIMPLE mode (TN1251; icepll.cc loops 1..6).
ICE40_DIVQ = (1, 6)
#: FILTER_RANGE by phase detector frequency (TN1251's loop filter table, as in icepll.cc):
#: below 17 MHz 1, below 26 MHz 2, below 44 MHz 3, below 66 MHz 4, below 101 MHz 5, else 6.
_ICE40_FILTER_STEPS_HZ = ((17e6, 1), (26e6, 2), (44e6, 3), (66e6, 4), (101e6, 5))
_ICE40_FILTER_TOP = 6

# --- ECP5 EHXPLLL, feedback from CLKOP (limits inclusive, in Hz) ----------------------------
#: Reference clock at CLKI: 8..400 MHz (TN1263, DS1044; ecppll.cpp INPUT_MIN/MAX, LiteX
#: ``clki_freq_range``).
ECP5_F_IN_HZ = (8e6, 400e6)
#: Phase detector input, f_in / CLKI_DIV: 3.125..400 MHz (ecppll.cpp PFD_MIN/MAX, the figure
#: attributed to TN1263). Contested: LiteX (``pfd_freq_range``, pull request #965) and
#: microwatt (pull request #337) read 10 MHz as the minimum in the ECP5 data sheet. With
#: CLKOP feedback the output is a multiple of this frequency, and 10 MHz would rule out the
#: ULX3S's 25 -> 60 MHz (it needs 5 MHz); the search prefers the highest phase detector
#: frequency among equally close settings, so it goes below 10 MHz only when it must.
ECP5_PFD_HZ = (3.125e6, 400e6)
#: VCO, f_out * CLKOP_DIV: 400..800 MHz (DS1044 sysCLOCK PLL timing, LiteX pull request #400;
#: ecppll.cpp VCO_MIN/MAX).
ECP5_VCO_HZ = (400e6, 800e6)
#: Output at CLKOP: 3.125..400 MHz (DS1044; LiteX ``clko_freq_range``).
ECP5_F_OUT_HZ = (3.125e6, 400e6)
#: CLKI_DIV and CLKOP_DIV: 1..128 (TN1263; ecppll.cpp, LiteX).
ECP5_CLKI_DIV = (1, 128)
ECP5_CLKOP_DIV = (1, 128)
#: CLKFB_DIV: 1..80, not the 128 of the other dividers. ecppll.cpp searches only up to 80, and
#: the Lattice FPGA Libraries Reference Guide gives 80 for EHXPLLL (as cited in Amaranth issue
#: #425); the stricter bound costs this project nothing.
ECP5_CLKFB_DIV = (1, 80)
#: Middle of the VCO range: among settings with the same output, the CLKOP_DIV whose VCO is
#: nearest it, leaving margin on both sides (ecppll.cpp prefers 600 MHz the same way).
_ECP5_VCO_MID_HZ = 600e6
_ICE40_VCO_MID_HZ = 800e6


class PllError(SnnfpgaError, ValueError):
    """A PLL request that no legal setting meets, or that is malformed."""


def _mhz(f_hz: float) -> str:
    return f"{f_hz / 1e6:.6g} MHz"


def _range_mhz(limits: tuple[float, float]) -> str:
    return f"{limits[0] / 1e6:g}..{limits[1] / 1e6:g} MHz"


def _within(f: float, limits: tuple[float, float]) -> bool:
    return limits[0] <= f <= limits[1]


def _check_request(family: str, f_in_hz, f_out_hz, tolerance, f_in_limits) -> None:
    for what, f in (("input", f_in_hz), ("output", f_out_hz)):
        if isinstance(f, bool) or not isinstance(f, numbers.Real) or not math.isfinite(f) \
                or f <= 0:
            raise PllError(f"{family} PLL: expected a positive {what} frequency in Hz, "
                           f"got {f!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) \
            or not math.isfinite(tolerance) or tolerance < 0:
        raise PllError(f"{family} PLL: expected a tolerance >= 0 (a fraction of the request, "
                       f"0.01 for 1 %), got {tolerance!r}")
    if not _within(f_in_hz, f_in_limits):
        raise PllError(f"{family} PLL: input {_mhz(f_in_hz)} is outside the reference clock "
                       f"range; expected {_range_mhz(f_in_limits)}")


def _no_match(family, f_in_hz, f_out_hz, tolerance, nearest, out_limits) -> PllError:
    text = (f"{family} PLL cannot make {_mhz(f_out_hz)} from {_mhz(f_in_hz)} within "
            f"{tolerance * 100:g} %")
    if nearest is None:
        return PllError(f"{text}: no divider setting is legal")
    rel = (nearest - f_out_hz) / f_out_hz
    text += f": the nearest achievable is {_mhz(nearest)} ({rel * 100:+.2f} %)"
    if not _within(f_out_hz, out_limits):
        text += f"; the PLL's output range is {_range_mhz(out_limits)}"
    return PllError(text)


# --- iCE40 --------------------------------------------------------------------------------

def ice40_filter_range(f_pfd_hz: float) -> int:
    """The SB_PLL40 FILTER_RANGE for a phase detector frequency (TN1251's table)."""
    for bound, value in _ICE40_FILTER_STEPS_HZ:
        if f_pfd_hz < bound:
            return value
    return _ICE40_FILTER_TOP


@dataclass(frozen=True)
class Ice40PllParams:
    """A setting of the iCE40 SB_PLL40 in SIMPLE feedback mode.

    Attributes
    ----------
    divr, divf, divq : int
        The divider fields: f_pfd = f_in / (divr + 1), f_vco = f_pfd * (divf + 1),
        f_out = f_vco / 2**divq.
    filter_range : int
        The loop filter setting for ``f_pfd``.
    f_in, f_pfd, f_vco, f_out : float
        Frequencies in Hz, computed from the dividers in that order.
    """

    divr: int
    divf: int
    divq: int
    filter_range: int
    f_in: float
    f_pfd: float
    f_vco: float
    f_out: float

    def summary(self) -> str:
        """One line, e.g. ``12 MHz -> 24.000 MHz (VCO 768 MHz, DIVR 0 DIVF 63 DIVQ 5)``."""
        return (f"{self.f_in / 1e6:g} MHz -> {self.f_out / 1e6:.3f} MHz (VCO "
                f"{self.f_vco / 1e6:g} MHz, DIVR {self.divr} DIVF {self.divf} DIVQ {self.divq})")


def ice40_pll(f_in_hz: float, f_out_hz: float, *,
              tolerance: float = DEFAULT_TOLERANCE) -> Ice40PllParams:
    """The SB_PLL40 setting (SIMPLE feedback) whose output is closest to ``f_out_hz``.

    Every legal (DIVR, DIVF, DIVQ) is considered. Among equally close outputs the lower
    output frequency wins (the safer clock for timing), then the higher phase detector
    frequency (the smaller feedback multiplication, hence less jitter), then the VCO nearer
    the middle of its range.

    Parameters
    ----------
    f_in_hz : float
        Reference clock, Hz.
    f_out_hz : float
        Requested output clock, Hz.
    tolerance : float
        Largest accepted relative error of the output, default 0.01 (1 %).

    Returns
    -------
    Ice40PllParams

    Raises
    ------
    PllError
        Malformed request, input outside the PLL's range, or no setting within tolerance
        (the message names the nearest achievable frequency).
    """
    _check_request("iCE40", f_in_hz, f_out_hz, tolerance, ICE40_F_IN_HZ)
    f_in = float(f_in_hz)
    best, best_key = None, None
    for divr in range(ICE40_DIVR[0], ICE40_DIVR[1] + 1):
        f_pfd = f_in / (divr + 1)
        if not _within(f_pfd, ICE40_PFD_HZ):
            continue
        for divf in range(ICE40_DIVF[0], ICE40_DIVF[1] + 1):
            f_vco = f_pfd * (divf + 1)
            if f_vco < ICE40_VCO_HZ[0]:
                continue
            if f_vco > ICE40_VCO_HZ[1]:
                break
            for divq in range(ICE40_DIVQ[0], ICE40_DIVQ[1] + 1):
                f_out = f_vco / 2 ** divq
                if not _within(f_out, ICE40_F_OUT_HZ):
                    continue
                # the output as f_in times a reduced fraction: settings with the same ratio
                # compare exactly equal, so the tie-breaks below decide between them
                num, den = divf + 1, (divr + 1) << divq
                g = math.gcd(num, den)
                out = f_in * (num // g) / (den // g)
                key = (abs(out - f_out_hz), out, divr, abs(f_vco - _ICE40_VCO_MID_HZ))
                if best_key is None or key < best_key:
                    best_key = key
                    best = Ice40PllParams(divr=divr, divf=divf, divq=divq,
                                          filter_range=ice40_filter_range(f_pfd), f_in=f_in,
                                          f_pfd=f_pfd, f_vco=f_vco, f_out=f_out)
    if best is None or abs(best.f_out - f_out_hz) > tolerance * f_out_hz:
        raise _no_match("iCE40", f_in_hz, f_out_hz, tolerance,
                        None if best is None else best.f_out, ICE40_F_OUT_HZ)
    return best


# --- ECP5 ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ecp5PllParams:
    """A setting of the ECP5 EHXPLLL with feedback from CLKOP.

    Attributes
    ----------
    clki_div, clkfb_div, clkop_div : int
        The dividers: f_pfd = f_in / clki_div, f_out = f_pfd * clkfb_div,
        f_vco = f_out * clkop_div.
    clkop_cphase : int
        CLKOP's coarse phase, ``clkop_div - 1`` (no phase shift).
    f_in, f_pfd, f_vco, f_out : float
        Frequencies in Hz, computed from the dividers in that order.
    """

    clki_div: int
    clkfb_div: int
    clkop_div: int
    clkop_cphase: int
    f_in: float
    f_pfd: float
    f_vco: float
    f_out: float

    def summary(self) -> str:
        """One line, e.g. ``25 MHz -> 60.000 MHz (VCO 600 MHz, CLKI_DIV 5 ...)``."""
        return (f"{self.f_in / 1e6:g} MHz -> {self.f_out / 1e6:.3f} MHz (VCO "
                f"{self.f_vco / 1e6:g} MHz, CLKI_DIV {self.clki_div} CLKFB_DIV "
                f"{self.clkfb_div} CLKOP_DIV {self.clkop_div})")


def _ecp5_clkop_div(f_out: float) -> tuple[int, float] | None:
    """The CLKOP_DIV putting the VCO nearest the middle of its range, with that VCO."""
    ideal = _ECP5_VCO_MID_HZ / f_out
    found = None
    for k in {math.floor(ideal), math.ceil(ideal)}:
        k = min(max(k, ECP5_CLKOP_DIV[0]), ECP5_CLKOP_DIV[1])
        f_vco = f_out * k
        if not _within(f_vco, ECP5_VCO_HZ):
            continue
        key = (abs(f_vco - _ECP5_VCO_MID_HZ), f_vco)
        if found is None or key < found[0]:
            found = (key, k, f_vco)
    return None if found is None else (found[1], found[2])


def ecp5_pll(f_in_hz: float, f_out_hz: float, *,
             tolerance: float = DEFAULT_TOLERANCE) -> Ecp5PllParams:
    """The EHXPLLL setting (feedback from CLKOP) whose output is closest to ``f_out_hz``.

    Every legal (CLKI_DIV, CLKFB_DIV) is considered, each with the CLKOP_DIV that puts the VCO
    nearest 600 MHz. Among equally close outputs the lower output frequency wins, then the
    higher phase detector frequency (smaller CLKI_DIV).

    Parameters
    ----------
    f_in_hz : float
        Reference clock, Hz.
    f_out_hz : float
        Requested output clock, Hz.
    tolerance : float
        Largest accepted relative error of the output, default 0.01 (1 %).

    Returns
    -------
    Ecp5PllParams

    Raises
    ------
    PllError
        Malformed request, input outside the PLL's range, or no setting within tolerance
        (the message names the nearest achievable frequency).
    """
    _check_request("ECP5", f_in_hz, f_out_hz, tolerance, ECP5_F_IN_HZ)
    f_in = float(f_in_hz)
    best, best_key = None, None
    for clki_div in range(ECP5_CLKI_DIV[0], ECP5_CLKI_DIV[1] + 1):
        f_pfd = f_in / clki_div
        if f_pfd < ECP5_PFD_HZ[0]:
            break
        if f_pfd > ECP5_PFD_HZ[1]:
            continue
        for clkfb_div in range(ECP5_CLKFB_DIV[0], ECP5_CLKFB_DIV[1] + 1):
            f_out = f_pfd * clkfb_div
            if f_out < ECP5_F_OUT_HZ[0]:
                continue
            if f_out > ECP5_F_OUT_HZ[1]:
                break
            op = _ecp5_clkop_div(f_out)
            if op is None:
                continue
            clkop_div, f_vco = op
            g = math.gcd(clkfb_div, clki_div)
            out = f_in * (clkfb_div // g) / (clki_div // g)
            key = (abs(out - f_out_hz), out, clki_div)
            if best_key is None or key < best_key:
                best_key = key
                best = Ecp5PllParams(clki_div=clki_div, clkfb_div=clkfb_div,
                                     clkop_div=clkop_div, clkop_cphase=clkop_div - 1,
                                     f_in=f_in, f_pfd=f_pfd, f_vco=f_vco, f_out=f_out)
    if best is None or abs(best.f_out - f_out_hz) > tolerance * f_out_hz:
        raise _no_match("ECP5", f_in_hz, f_out_hz, tolerance,
                        None if best is None else best.f_out, ECP5_F_OUT_HZ)
    return best


# --- gateware -----------------------------------------------------------------------------

class LockReset(Elaboratable):
    """Holds a clock domain in reset until its PLL has locked, and a while longer.

    ``rst`` (which drives ``ResetSignal(domain)``) is high from configuration on, stays high
    while ``locked`` is low, and falls ``cycles + 3`` cycles of the domain's clock after
    ``locked`` rises (two to synchronise it, ``cycles`` to wait, one for the registered
    output). If ``locked`` falls again, ``rst`` rises three cycles later and the wait starts
    over. The logic runs on the domain's clock in a reset-less domain of its own, since it
    cannot be reset by the signal it makes.

    Parameters
    ----------
    domain : str
        The clock domain to reset; it must exist (its clock is used).
    cycles : int
        Cycles to wait after the synchronised ``locked`` has risen.

    Attributes
    ----------
    locked : Signal, in
        The PLL's LOCK output (asynchronous to the domain).
    rst : Signal, out
        The domain's reset.
    """

    def __init__(self, domain: str = "sync", *, cycles: int = 16):
        if cycles < 1:
            raise ValueError(f"cycles must be at least 1, not {cycles}")
        self.domain = domain
        self.cycles = cycles
        self.locked = Signal()
        self.rst = Signal(init=1)

    def elaborate(self, platform):
        m = Module()
        hold = f"{self.domain}_lockreset"
        cd = ClockDomain(hold, reset_less=True, local=True)
        m.domains += cd
        m.d.comb += cd.clk.eq(ClockSignal(self.domain))
        locked = Signal()
        m.submodules.locked_sync = FFSynchronizer(self.locked, locked, o_domain=hold, init=0)
        count = Signal(range(self.cycles + 1))
        with m.If(~locked):
            m.d[hold] += [count.eq(0), self.rst.eq(1)]
        with m.Elif(count == self.cycles):
            m.d[hold] += self.rst.eq(0)
        with m.Else():
            m.d[hold] += count.eq(count + 1)
        m.d.comb += ResetSignal(self.domain).eq(self.rst)
        return m


class _PllBase(Elaboratable):
    def __init__(self, params, *, domain: str = "sync", reset_cycles: int = 16,
                 create_domain: bool = True):
        self.params = params
        self.domain = domain
        self.reset_cycles = reset_cycles
        self.create_domain = create_domain
        self.clk_in = Signal()
        self.locked = Signal()

    def summary(self) -> str:
        """The PLL setting in one line (see the parameters' ``summary``)."""
        return self.params.summary()

    def _domain(self, m: Module, clk_out: Signal) -> None:
        if self.create_domain:
            m.domains += ClockDomain(self.domain)
        m.d.comb += ClockSignal(self.domain).eq(clk_out)
        m.submodules.lock_reset = rst = LockReset(self.domain, cycles=self.reset_cycles)
        m.d.comb += rst.locked.eq(self.locked)


class Ice40Pll(_PllBase):
    """The iCE40 SB_PLL40 in SIMPLE feedback, making a clock domain.

    By default the PLL is ``SB_PLL40_CORE`` and takes its reference from ``clk_in``, which the
    parent drives from the clock pin's input buffer. Where the PLL sits at that very pin, as
    the UltraPlus's only PLL does at pin 35 (the iCEBreaker's 12 MHz), nextpnr cannot place a
    CORE PLL next to the pin's input buffer ("PLL bel ... conflicts with input ... on pin
    '35'"); pass the pin itself as ``pad``, unbuffered, and the PLL becomes ``SB_PLL40_PAD``
    fed from it directly.

    Parameters
    ----------
    params : Ice40PllParams
        From :func:`ice40_pll`.
    domain : str
        The clock domain created and clocked by the PLL's global output.
    reset_cycles : int
        Cycles the domain stays in reset after LOCK rises (see :class:`LockReset`).
    create_domain : bool
        Create the domain here (the default). Amaranth 0.5 deprecates a parent using a domain
        that its submodule created (0.6 will refuse it); with False the parent creates the
        domain and the PLL only drives its clock and reset.
    pad : amaranth.lib.io.SingleEndedPort or None
        The clock pin, from ``platform.request(platform.default_clk, dir="-")``, for the PAD
        primitive; ``clk_in`` is then unused.

    Attributes
    ----------
    clk_in : Signal, in
        The reference clock, from the platform's clock input buffer (CORE primitive).
    locked : Signal, out
        The PLL's LOCK output.
    params : Ice40PllParams
    """

    def __init__(self, params, *, domain: str = "sync", reset_cycles: int = 16,
                 create_domain: bool = True, pad=None):
        super().__init__(params, domain=domain, reset_cycles=reset_cycles,
                         create_domain=create_domain)
        if pad is not None and (len(pad) != 1 or any(pad.invert)):
            raise ValueError("the PLL's pad must be a single pin without inversion")
        self.pad = pad

    def elaborate(self, platform):
        m = Module()
        p = self.params
        if self.pad is None:
            kind, reference = "SB_PLL40_CORE", {"i_REFERENCECLK": self.clk_in}
        else:
            kind, reference = "SB_PLL40_PAD", {"i_PACKAGEPIN": self.pad.io}
        clk_out = Signal()
        m.submodules.pll = Instance(
            kind,
            p_FEEDBACK_PATH="SIMPLE",
            p_PLLOUT_SELECT="GENCLK",
            # field widths of the primitive: DIVR 4, DIVF 7, DIVQ 3, FILTER_RANGE 3 bits
            p_DIVR=Const(p.divr, 4),
            p_DIVF=Const(p.divf, 7),
            p_DIVQ=Const(p.divq, 3),
            p_FILTER_RANGE=Const(p.filter_range, 3),
            **reference,
            i_RESETB=Const(1, 1),
            i_BYPASS=Const(0, 1),
            o_PLLOUTGLOBAL=clk_out,
            o_LOCK=self.locked,
        )
        self._domain(m, clk_out)
        return m


class Ecp5Pll(_PllBase):
    """The ECP5 EHXPLLL with feedback from CLKOP, making a clock domain.

    Parameters
    ----------
    params : Ecp5PllParams
        From :func:`ecp5_pll`.
    domain : str
        The clock domain created and clocked by CLKOP.
    reset_cycles : int
        Cycles the domain stays in reset after LOCK rises (see :class:`LockReset`).
    create_domain : bool
        Create the domain here (the default). Amaranth 0.5 deprecates a parent using a domain
        that its submodule created (0.6 will refuse it); with False the parent creates the
        domain and the PLL only drives its clock and reset.

    Attributes
    ----------
    clk_in : Signal, in
        The reference clock, from the platform's clock input buffer.
    locked : Signal, out
        The PLL's LOCK output.
    params : Ecp5PllParams
    """

    def elaborate(self, platform):
        m = Module()
        p = self.params
        clkop = Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            # nextpnr writes the loop's charge pump and filter from these attributes and
            # writes zeros without them; the values are those ecppll emits for this feedback
            a_ICP_CURRENT="12",
            a_LPF_RESISTOR="8",
            a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            # the frequencies, for tools that read them (Diamond's timing constraints)
            a_FREQUENCY_PIN_CLKI=f"{p.f_in / 1e6:.6f}",
            a_FREQUENCY_PIN_CLKOP=f"{p.f_out / 1e6:.6f}",
            p_PLLRST_ENA="DISABLED",
            p_INTFB_WAKE="DISABLED",
            p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED",
            p_OUTDIVIDER_MUXA="DIVA",
            p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC",
            p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=p.clki_div,
            p_CLKFB_DIV=p.clkfb_div,
            p_CLKOP_ENABLE="ENABLED",
            p_CLKOP_DIV=p.clkop_div,
            p_CLKOP_CPHASE=p.clkop_cphase,
            p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP",
            i_CLKI=self.clk_in,
            i_CLKFB=clkop,
            i_RST=Const(0, 1),
            i_STDBY=Const(0, 1),
            i_PHASESEL0=Const(0, 1),
            i_PHASESEL1=Const(0, 1),
            i_PHASEDIR=Const(0, 1),
            i_PHASESTEP=Const(0, 1),
            i_PHASELOADREG=Const(0, 1),
            i_PLLWAKESYNC=Const(0, 1),
            i_ENCLKOP=Const(0, 1),
            o_CLKOP=clkop,
            o_LOCK=self.locked,
        )
        self._domain(m, clkop)
        return m
