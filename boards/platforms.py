"""The boards' Amaranth platforms, with our fixes, and the top-level that a bitstream is built
from.

Fixes to the amaranth-boards definitions, each for a reason of our own:

* **ULX3S**: upstream lists ``openFPGALoader`` among the tools a *build* requires, so a
  machine without it cannot even synthesise. Programming is done by
  :mod:`snnfpga.boards.flash`, so our subclass requires only the build tools.
* **OrangeCrab r0.2**: upstream defines no UART (the board has no USB-serial bridge; its USB
  port goes straight to the FPGA). Ours adds one on the Feather header's pins ``0`` (rx) and
  ``1`` (tx), where a 3.3 V USB-serial adapter connects. Upstream also runs ``dfu-suffix``
  (from dfu-util, not on PyPI) after ``ecppack``; ours appends the same 16-byte DFU suffix in
  Python (:func:`dfu_suffix`), so that the build needs nothing outside the virtual environment.

:class:`BitstreamTop` is the design on the pins: the PLL that makes the core clock from the
board's oscillator (held in reset until it locks), :class:`snnfpga.hw.board.BoardTop` on the
UART pins, an activity LED (lit while the core computes) and a heartbeat LED (blinking about
once a second: the clock runs).
"""

from __future__ import annotations

import importlib
import math
import zlib

from amaranth.build import Attrs, Pins, Resource, Subsignal
from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from amaranth.lib import io

from .description import BoardDescription, BoardError

__all__ = ["platform_class", "BitstreamTop", "dfu_suffix"]

#: USB ids of the OrangeCrab's DFU bootloader (1209:5af0, pid.codes).
ORANGECRAB_DFU = (0x1209, 0x5AF0)


def dfu_suffix(data: bytes, vendor: int, product: int, device: int = 0xFFFF) -> bytes:
    """``data`` with the DFU 1.1 file suffix appended (USB DFU specification 1.1, appendix B).

    The suffix is 16 bytes, little-endian: bcdDevice, idProduct, idVendor, bcdDFU (0x0100),
    the signature ``UFD``, its length (16), and a CRC-32 of the file and the first 12 suffix
    bytes (the reflected CRC-32 polynomial without the final inversion, as dfu-util computes it).
    """
    body = data + device.to_bytes(2, "little") + product.to_bytes(2, "little") \
        + vendor.to_bytes(2, "little") + (0x0100).to_bytes(2, "little") + b"UFD" + bytes([16])
    crc = zlib.crc32(body) ^ 0xFFFFFFFF
    return body + crc.to_bytes(4, "little")


def _subclass(base, desc: BoardDescription):
    module = base.__module__
    if module.startswith("amaranth_boards.ulx3s"):
        class ULX3S(base):
            @property
            def required_tools(self):
                return [t for t in super().required_tools if t != "openFPGALoader"]
        return ULX3S
    if module.startswith("amaranth_boards.orangecrab"):
        class OrangeCrab(base):
            resources = base.resources + [
                Resource("uart", 0,
                         Subsignal("rx", Pins("0", dir="i", conn=("io", 0))),
                         Subsignal("tx", Pins("1", dir="o", conn=("io", 0))),
                         Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP")),
            ]

            @property
            def required_tools(self):
                return [t for t in super().required_tools if t != "dfu-suffix"]

            @property
            def command_templates(self):
                return [t for t in super().command_templates if "dfu-suffix" not in t]
        return OrangeCrab
    return base


def platform_class(desc: BoardDescription):
    """The platform class of ``desc`` (``module:Class``), wrapped in our fixes if any."""
    module, _, name = desc.platform.partition(":")
    try:
        base = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise BoardError(f"{desc.path.name if desc.path else desc.id}: platform "
                         f"{desc.platform} cannot be imported ({e})") from None
    return _subclass(base, desc)


def _led(m, platform, spec: str, requested: dict):
    """The output of an LED by its description name: ``led_g``, ``led.1`` or ``rgb_led.g``.

    A resource is requested once (``requested`` keeps it): two LEDs may be colours of one
    RGB LED, ``rgb_led.g`` and ``rgb_led.r``.
    """
    name, _, rest = spec.partition(".")
    index = int(rest) if rest.isdigit() else 0
    if (name, index) not in requested:
        requested[name, index] = platform.request(name, index, dir="-")
    port = requested[name, index]
    if rest and not rest.isdigit():
        port = getattr(port, rest)
    m.submodules[f"led_{spec.replace('.', '_')}"] = buf = io.Buffer("o", port)
    return buf.o


class BitstreamTop(Elaboratable):
    """The board's design: clock, reset, :class:`BoardTop` on the UART pins, two LEDs.

    Parameters
    ----------
    desc : BoardDescription
    model : SpikingModel
        The model whose configuration (and, without SPRAM, weights) the gateware is built for.
    clock_hz : float
        The core clock the PLL makes (the PLL's achievable frequency, not the request).
    pll : object or None
        PLL parameters for the board's family, from :mod:`snnfpga.boards.pll`; None runs the
        core on the oscillator directly.
    """

    def __init__(self, desc: BoardDescription, model, *, clock_hz: float, pll=None):
        self.desc = desc
        self.model = model
        self.clock_hz = clock_hz
        self.pll = pll

    def board_top(self):
        from ..hw.board import BoardTop
        from ..hw.uart import divisor_for
        d, m = self.desc, self.model
        return BoardTop(divisor=divisor_for(self.clock_hz, d.baud), config=m.config,
                        vocab_size=len(m.vocab), weights=None if d.spram else m.weights,
                        lanes=d.lanes, readout_lanes=d.readout_lanes,
                        synapse_lanes=d.synapse_lanes, spram=d.spram,
                        registered_reads=d.registered_reads)

    def elaborate(self, platform):
        m = Module()
        d = self.desc
        clk_pin = platform.request(platform.default_clk, 0, dir="-")
        m.domains.sync = ClockDomain("sync")
        if self.pll is not None and d.family == "ice40":
            # the UP5K's one PLL sits on the clock pin (35 on the iCEBreaker): it takes the
            # pad itself (SB_PLL40_PAD); an input buffer there would leave it no site
            from .pll import Ice40Pll
            m.submodules.pll = Ice40Pll(self.pll, domain="sync", create_domain=False,
                                        pad=clk_pin)
        else:
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk_pin)
            if self.pll is None:
                por = Signal(4)
                m.domains.por = ClockDomain("por", reset_less=True)
                m.d.comb += [ClockSignal("sync").eq(clk_buf.i), ClockSignal("por").eq(clk_buf.i),
                             ResetSignal("sync").eq(~por[-1])]
                with m.If(~por[-1]):
                    m.d.por += por.eq(por + 1)
            else:
                from .pll import Ecp5Pll
                m.submodules.pll = pll = Ecp5Pll(self.pll, domain="sync", create_domain=False)
                m.d.comb += pll.clk_in.eq(clk_buf.i)
        leds = {}
        uart = platform.request(d.uart_resource, 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.submodules.top = top = self.board_top()
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        m.d.comb += _led(m, platform, d.leds["activity"], leds).eq(top.board.core.busy)
        # a free-running counter's top bit: a period of 2**bits cycles, the power of two
        # nearest one second. (A down-counter reloaded at 1 Hz exactly had its zero test folded
        # into the borrow chain, which nextpnr then split into segments: the design's longest
        # path, for an LED.)
        bits = max(1, round(math.log2(self.clock_hz)))
        beat = Signal(bits)
        m.d.sync += beat.eq(beat + 1)
        led = beat[-1]
        m.d.comb += _led(m, platform, d.leds["heartbeat"], leds).eq(led)
        return m
