# amaranth: UnusedElaboratable=no
"""PLL settings (iCE40 SB_PLL40, ECP5 EHXPLLL) against the limits and a brute-force search, the
errors for impossible requests, the primitives' instances and the reset held until lock."""

from __future__ import annotations

import re

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Elaboratable, Fragment, Instance, IOPort, Module, Signal
from amaranth.lib import io
from amaranth.sim import Simulator
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from snnfpga.boards import pll as P
from snnfpga.boards.pll import (
    Ecp5Pll,
    Ecp5PllParams,
    Ice40Pll,
    Ice40PllParams,
    LockReset,
    PllError,
    ecp5_pll,
    ice40_filter_range,
    ice40_pll,
)


def _within(f, limits):
    return limits[0] <= f <= limits[1]


# --- recomputation from the dividers ---------------------------------------------------

def check_ice40(p: Ice40PllParams, f_in: float) -> None:
    """Every field legal, and the frequencies exactly those the dividers give."""
    assert p.f_in == f_in
    assert P.ICE40_DIVR[0] <= p.divr <= P.ICE40_DIVR[1]
    assert P.ICE40_DIVF[0] <= p.divf <= P.ICE40_DIVF[1]
    assert P.ICE40_DIVQ[0] <= p.divq <= P.ICE40_DIVQ[1]
    f_pfd = f_in / (p.divr + 1)
    f_vco = f_pfd * (p.divf + 1)
    f_out = f_vco / 2 ** p.divq
    assert (p.f_pfd, p.f_vco, p.f_out) == (f_pfd, f_vco, f_out)
    assert _within(f_in, P.ICE40_F_IN_HZ)
    assert _within(f_pfd, P.ICE40_PFD_HZ)
    assert _within(f_vco, P.ICE40_VCO_HZ)
    assert _within(f_out, P.ICE40_F_OUT_HZ)
    assert p.filter_range == ice40_filter_range(f_pfd)


def check_ecp5(p: Ecp5PllParams, f_in: float) -> None:
    assert p.f_in == f_in
    assert P.ECP5_CLKI_DIV[0] <= p.clki_div <= P.ECP5_CLKI_DIV[1]
    assert P.ECP5_CLKFB_DIV[0] <= p.clkfb_div <= P.ECP5_CLKFB_DIV[1]
    assert P.ECP5_CLKOP_DIV[0] <= p.clkop_div <= P.ECP5_CLKOP_DIV[1]
    assert p.clkop_cphase == p.clkop_div - 1
    f_pfd = f_in / p.clki_div
    f_out = f_pfd * p.clkfb_div
    f_vco = f_out * p.clkop_div
    assert (p.f_pfd, p.f_vco, p.f_out) == (f_pfd, f_vco, f_out)
    assert _within(f_in, P.ECP5_F_IN_HZ)
    assert _within(f_pfd, P.ECP5_PFD_HZ)
    assert _within(f_vco, P.ECP5_VCO_HZ)
    assert _within(f_out, P.ECP5_F_OUT_HZ)


# --- brute force over every divider combination (numpy, written independently) -----------

def _grid(*ranges):
    return np.meshgrid(*[np.arange(lo, hi + 1, dtype=np.float64) for lo, hi in ranges],
                       indexing="ij")


def brute_ice40(f_in: float, f_out: float) -> float:
    """Smallest absolute output error over all legal SB_PLL40 settings (inf if none)."""
    r, f, q = _grid(P.ICE40_DIVR, P.ICE40_DIVF, P.ICE40_DIVQ)
    pfd = f_in / (r + 1)
    vco = pfd * (f + 1)
    out = vco / 2 ** q
    ok = ((pfd >= P.ICE40_PFD_HZ[0]) & (pfd <= P.ICE40_PFD_HZ[1])
          & (vco >= P.ICE40_VCO_HZ[0]) & (vco <= P.ICE40_VCO_HZ[1])
          & (out >= P.ICE40_F_OUT_HZ[0]) & (out <= P.ICE40_F_OUT_HZ[1]))
    return float(np.abs(out - f_out)[ok].min()) if ok.any() else float("inf")


def brute_ecp5(f_in: float, f_out: float) -> float:
    i, fb, op = _grid(P.ECP5_CLKI_DIV, P.ECP5_CLKFB_DIV, P.ECP5_CLKOP_DIV)
    pfd = f_in / i
    out = pfd * fb
    vco = out * op
    ok = ((pfd >= P.ECP5_PFD_HZ[0]) & (pfd <= P.ECP5_PFD_HZ[1])
          & (vco >= P.ECP5_VCO_HZ[0]) & (vco <= P.ECP5_VCO_HZ[1])
          & (out >= P.ECP5_F_OUT_HZ[0]) & (out <= P.ECP5_F_OUT_HZ[1]))
    return float(np.abs(out - f_out)[ok].min()) if ok.any() else float("inf")


# --- known settings ----------------------------------------------------------------------

def test_ice40_12_to_24():
    p = ice40_pll(12e6, 24e6)
    check_ice40(p, 12e6)
    assert (p.divr, p.divf, p.divq, p.filter_range) == (0, 63, 5, 1)
    assert p.f_out == 24e6 and p.f_vco == 768e6
    assert p.summary() == "12 MHz -> 24.000 MHz (VCO 768 MHz, DIVR 0 DIVF 63 DIVQ 5)"


@pytest.mark.parametrize("f_in,f_out,divs,f_vco", [
    (25e6, 60e6, (5, 12, 10), 600e6),    # ULX3S: the only ratio 12/5 with a legal PFD (5 MHz)
    (48e6, 60e6, (4, 5, 10), 600e6),     # OrangeCrab: 5/4 at the highest PFD (12 MHz)
    (12e6, 48e6, (1, 4, 12), 576e6),     # VCO nearest 600 MHz: 576 rather than 624
])
def test_ecp5_known(f_in, f_out, divs, f_vco):
    p = ecp5_pll(f_in, f_out)
    check_ecp5(p, f_in)
    assert p.f_out == f_out
    assert (p.clki_div, p.clkfb_div, p.clkop_div) == divs
    assert p.f_vco == f_vco


def test_ecp5_summary():
    assert ecp5_pll(25e6, 60e6).summary() == \
        "25 MHz -> 60.000 MHz (VCO 600 MHz, CLKI_DIV 5 CLKFB_DIV 12 CLKOP_DIV 10)"


@pytest.mark.parametrize("f_pfd,expect", [
    (10e6, 1), (16.99e6, 1), (17e6, 2), (25e6, 2), (26e6, 3), (43.9e6, 3), (44e6, 4),
    (65e6, 4), (66e6, 5), (100e6, 5), (101e6, 6), (133e6, 6),
])
def test_ice40_filter_range(f_pfd, expect):
    assert ice40_filter_range(f_pfd) == expect


def test_ice40_higher_pfd_wins_a_tie():
    # 48 -> 60 MHz: DIVR 0, 1 and 2 all make 60 MHz exactly at VCO 960 MHz; the 48 MHz PFD
    # multiplies least
    p = ice40_pll(48e6, 60e6)
    check_ice40(p, 48e6)
    assert (p.divr, p.divf, p.divq, p.filter_range) == (0, 19, 4, 4)


def test_inexact_within_tolerance():
    p = ice40_pll(12e6, 25e6)      # 25 MHz is not a multiple of 12/64 MHz
    check_ice40(p, 12e6)
    assert p.f_out != 25e6 and abs(p.f_out - 25e6) <= 0.01 * 25e6
    assert abs(p.f_out - 25e6) == pytest.approx(brute_ice40(12e6, 25e6), rel=1e-9, abs=1e-6)
    with pytest.raises(PllError):
        ice40_pll(12e6, 25e6, tolerance=0.0)
    assert ice40_pll(12e6, 24e6, tolerance=0.0).f_out == 24e6


# --- properties --------------------------------------------------------------------------

TOL = 0.01


@settings(max_examples=80, deadline=None)
@given(f_in=st.floats(*P.ICE40_F_IN_HZ), f_out=st.floats(*P.ICE40_F_OUT_HZ))
def test_ice40_property(f_in, f_out):
    best = brute_ice40(f_in, f_out)
    # keep away from the tolerance's edge, where rounding could decide either way
    assume(abs(best - TOL * f_out) > 1e-9 * f_out)
    if best <= TOL * f_out:
        p = ice40_pll(f_in, f_out)
        check_ice40(p, f_in)
        err = abs(p.f_out - f_out)
        assert err <= TOL * f_out
        assert err <= best + 1e-9 * f_out
    else:
        with pytest.raises(PllError, match=re.escape(P._mhz(f_out))):
            ice40_pll(f_in, f_out)


@settings(max_examples=40, deadline=None)
@given(f_in=st.floats(*P.ECP5_F_IN_HZ), f_out=st.floats(*P.ECP5_F_OUT_HZ))
def test_ecp5_property(f_in, f_out):
    best = brute_ecp5(f_in, f_out)
    assume(abs(best - TOL * f_out) > 1e-9 * f_out)
    if best <= TOL * f_out:
        p = ecp5_pll(f_in, f_out)
        check_ecp5(p, f_in)
        err = abs(p.f_out - f_out)
        assert err <= TOL * f_out
        assert err <= best + 1e-9 * f_out
    else:
        with pytest.raises(PllError, match=re.escape(P._mhz(f_out))):
            ecp5_pll(f_in, f_out)


@settings(max_examples=40, deadline=None)
@given(f_in=st.sampled_from([12e6, 16e6, 25e6, 48e6, 100e6]),
       f_out=st.floats(5e6, 400e6), tol=st.sampled_from([0.001, 0.01, 0.05, 1.0]))
def test_any_legal_result_for_a_loose_tolerance(f_in, f_out, tol):
    # whatever the tolerance, a returned setting is legal; an error names the request
    for calc, check in ((ice40_pll, check_ice40), (ecp5_pll, check_ecp5)):
        if calc is ice40_pll and not _within(f_in, P.ICE40_F_IN_HZ):
            continue
        try:
            p = calc(f_in, f_out, tolerance=tol)
        except PllError as e:
            assert P._mhz(f_out) in str(e)
        else:
            check(p, f_in)
            assert abs(p.f_out - f_out) <= tol * f_out


# --- errors ------------------------------------------------------------------------------

def _mentions(message: str, mhz: str) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(mhz)} MHz", message) is not None


@pytest.mark.parametrize("calc", [ice40_pll, ecp5_pll])
@pytest.mark.parametrize("f_in,f_out,requested", [
    (12e6, 1e6, "1"), (25e6, 500e6, "500"), (5e6, 24e6, "5"), (1000e6, 24e6, "1000"),
])
def test_impossible_requests(calc, f_in, f_out, requested):
    with pytest.raises(PllError) as info:
        calc(f_in, f_out)
    assert _mentions(str(info.value), requested)
    assert isinstance(info.value, ValueError)


def test_error_names_nearest():
    with pytest.raises(PllError) as info:
        ice40_pll(12e6, 1e6)
    assert _mentions(str(info.value), "16.125")        # 12 * 86 / 64, the slowest legal
    with pytest.raises(PllError) as info:
        ecp5_pll(25e6, 500e6)
    assert _mentions(str(info.value), "400")


def test_input_out_of_range_says_what_was_expected():
    with pytest.raises(PllError, match=r"10\.\.133 MHz"):
        ice40_pll(5e6, 24e6)
    with pytest.raises(PllError, match=r"8\.\.400 MHz"):
        ecp5_pll(5e6, 60e6)


@pytest.mark.parametrize("calc", [ice40_pll, ecp5_pll])
@pytest.mark.parametrize("f_in,f_out", [
    (0, 24e6), (12e6, 0), (-12e6, 24e6), (12e6, -24e6), (float("nan"), 24e6),
    (12e6, float("inf")), ("12e6", 24e6),
])
def test_malformed(calc, f_in, f_out):
    with pytest.raises(PllError, match="expected a positive"):
        calc(f_in, f_out)


@pytest.mark.parametrize("calc", [ice40_pll, ecp5_pll])
def test_bad_tolerance(calc):
    with pytest.raises(PllError, match="tolerance"):
        calc(12e6, 24e6, tolerance=-0.1)


# --- elaboration -------------------------------------------------------------------------

# the board top-level uses the domain its PLL submodule creates, as Amaranth 0.5 allows with a
# deprecation warning; the tests that do the same expect it
DOMAIN_FROM_SUBMODULE = "ignore:Domain '.*' is used in .* but defined in:DeprecationWarning"


class _Top(Elaboratable):
    """The PLL fed by a top-level clock, and a counter in the domain it makes."""

    def __init__(self, pll, *, define_domain=False):
        self.pll = pll
        self.define_domain = define_domain
        self.clk = Signal()
        self.count = Signal(4)

    def elaborate(self, platform):
        m = Module()
        if self.define_domain:
            m.domains.sync = ClockDomain("sync")
        m.submodules.pll = self.pll
        m.d.comb += self.pll.clk_in.eq(self.clk)
        m.d.sync += self.count.eq(self.count + 1)
        return m


def _instances(frag):
    for sub, _name, _loc in frag.subfragments:
        if isinstance(sub, Instance):
            yield sub
        yield from _instances(sub)


@pytest.mark.filterwarnings(DOMAIN_FROM_SUBMODULE)
def test_ice40_elaborates():
    pll = Ice40Pll(ice40_pll(12e6, 24e6))
    assert pll.summary() == pll.params.summary()
    [inst] = list(_instances(Fragment.get(_Top(pll), None)))
    assert inst.type == "SB_PLL40_CORE"
    par = inst.parameters
    assert par["FEEDBACK_PATH"] == "SIMPLE"
    assert [(par[k].value, len(par[k])) for k in ("DIVR", "DIVF", "DIVQ", "FILTER_RANGE")] \
        == [(0, 4), (63, 7), (5, 3), (1, 3)]
    assert {"REFERENCECLK", "PLLOUTGLOBAL", "LOCK", "RESETB", "BYPASS"} <= set(inst.ports)
    assert inst.ports["LOCK"][0] is pll.locked
    top = _Top(Ice40Pll(ice40_pll(12e6, 24e6)))
    text = rtlil.convert(top, ports=[top.clk, top.count, top.pll.locked])
    assert "SB_PLL40_CORE" in text
    assert re.search(r"parameter \\DIVF 7'0111111", text)
    assert re.search(r"parameter \\DIVQ 3'101", text)


@pytest.mark.filterwarnings(DOMAIN_FROM_SUBMODULE)
def test_ecp5_elaborates():
    p = ecp5_pll(25e6, 60e6)
    pll = Ecp5Pll(p, domain="sync")
    [inst] = list(_instances(Fragment.get(_Top(pll), None)))
    assert inst.type == "EHXPLLL"
    par = inst.parameters
    assert (par["CLKI_DIV"], par["CLKFB_DIV"], par["CLKOP_DIV"], par["CLKOP_CPHASE"]) \
        == (5, 12, 10, 9)
    assert par["FEEDBK_PATH"] == "CLKOP" and par["CLKOP_ENABLE"] == "ENABLED"
    assert inst.ports["CLKFB"][0] is inst.ports["CLKOP"][0]     # fed back from CLKOP
    assert inst.attrs["ICP_CURRENT"] == "12" and inst.attrs["LPF_RESISTOR"] == "8"
    top = _Top(Ecp5Pll(p))
    text = rtlil.convert(top, ports=[top.clk, top.count, top.pll.locked])
    assert "EHXPLLL" in text and re.search(r"parameter \\CLKFB_DIV 12\b", text)


@pytest.mark.filterwarnings(DOMAIN_FROM_SUBMODULE)
def test_other_domain_name():
    class Top(Elaboratable):
        def __init__(self):
            self.pll = Ice40Pll(ice40_pll(12e6, 48e6), domain="core")
            self.count = Signal(4)

        def elaborate(self, platform):
            m = Module()
            m.submodules.pll = self.pll
            m.d.core += self.count.eq(self.count + 1)
            return m

    top = Top()
    text = rtlil.convert(top, ports=[top.pll.clk_in, top.count])
    assert "SB_PLL40_CORE" in text


# --- the reset held until lock -----------------------------------------------------------

def test_lock_reset_simulated():
    cycles = 5
    m = Module()
    m.domains.sync = ClockDomain("sync")
    m.submodules.lr = lr = LockReset("sync", cycles=cycles)
    ticks = Signal(8)               # counts only while out of reset
    m.d.sync += ticks.eq(ticks + 1)
    sim = Simulator(m)
    sim.add_clock(1e-6, domain="sync")
    trace = []

    async def bench(ctx):
        # unlocked: reset throughout
        for _ in range(10):
            await ctx.tick()
            trace.append(("off", ctx.get(lr.rst), ctx.get(ticks)))
        # LOCK rises: reset falls cycles + 3 edges later
        ctx.set(lr.locked, 1)
        for _ in range(cycles + 8):
            await ctx.tick()
            trace.append(("on", ctx.get(lr.rst), ctx.get(ticks)))
        # LOCK drops: reset again within three edges, and stays while unlocked
        ctx.set(lr.locked, 0)
        for _ in range(6):
            await ctx.tick()
            trace.append(("drop", ctx.get(lr.rst), ctx.get(ticks)))
        # and a second lock counts the full wait again
        ctx.set(lr.locked, 1)
        for _ in range(cycles + 5):
            await ctx.tick()
            trace.append(("again", ctx.get(lr.rst), ctx.get(ticks)))

    sim.add_testbench(bench)
    sim.run()

    off = [t for t in trace if t[0] == "off"]
    assert all(rst == 1 and n == 0 for _, rst, n in off)
    on = [rst for phase, rst, _ in trace if phase == "on"]
    assert on == [1] * (cycles + 2) + [0] * (len(on) - cycles - 2)
    released = [n for phase, rst, n in trace if phase == "on" and not rst]
    assert released[0] <= 1 and released == sorted(released)      # the domain runs
    drop = [rst for phase, rst, _ in trace if phase == "drop"]
    assert drop[:2] == [0, 0] and all(drop[3:]) and drop[2] == 1
    again = [rst for phase, rst, _ in trace if phase == "again"]
    assert again == [1] * (cycles + 2) + [0] * (len(again) - cycles - 2)


def test_lock_reset_rejects_no_wait():
    with pytest.raises(ValueError):
        LockReset(cycles=0)


@pytest.mark.filterwarnings("error::DeprecationWarning")
@pytest.mark.parametrize("make", [lambda: Ice40Pll(ice40_pll(12e6, 24e6), create_domain=False),
                                  lambda: Ecp5Pll(ecp5_pll(48e6, 60e6), create_domain=False)])
def test_domain_defined_by_the_parent(make):
    top = _Top(make(), define_domain=True)
    text = rtlil.convert(top, ports=[top.clk, top.count, top.pll.locked])
    assert "SB_PLL40_CORE" in text or "EHXPLLL" in text


@pytest.mark.filterwarnings(DOMAIN_FROM_SUBMODULE)
def test_ice40_pad_primitive():
    # the UltraPlus's PLL sits at the clock pin: fed from the pin itself, it is SB_PLL40_PAD
    pad = io.SingleEndedPort(IOPort(1, name="clk12"))
    pll = Ice40Pll(ice40_pll(12e6, 24e6), pad=pad)
    [inst] = list(_instances(Fragment.get(_Top(pll), None)))
    assert inst.type == "SB_PLL40_PAD"
    assert inst.ports["PACKAGEPIN"][0] is pad.io and "REFERENCECLK" not in inst.ports
    assert inst.parameters["DIVF"].value == 63
    with pytest.raises(ValueError):
        Ice40Pll(ice40_pll(12e6, 24e6), pad=io.SingleEndedPort(IOPort(2, name="two")))
    with pytest.raises(ValueError):
        Ice40Pll(ice40_pll(12e6, 24e6), pad=~pad)
