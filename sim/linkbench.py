"""``make bench-link``: characters per second end to end through the virtual board, and what
the serial line allows a real board.

The virtual board runs the board's top-level in Verilator (UART bits simulated at 16 cycles a
bit); the host generates through the serial driver over TCP, exactly as with a board. The wire
bound is the line's rate divided by the bytes of one CHARS frame (one character a frame), at
the serial rate and clock of a board description (``--board``, default iCEBreaker).
"""

from __future__ import annotations

import argparse
import sys
import time

from ..boards.description import load_board
from ..model.golden import temperature_to_fixed
from ..sw_driver.api import SIM_TIMEOUT, load
from ..sw_driver.device import Device, SerialTransport
from ..sw_driver.protocol import max_frame_bytes
from .vboard import VirtualBoard


def line_figures(cycles_per_char: float, clock_mhz: float, baud: int, frame: int) -> dict:
    """What a real board's serial line allows, against its core's time a character.

    ``frame`` is the bytes of one CHARS frame (one character a frame). The keep-up rates are
    the highest baud rates at which the line, not the core, bounds ``GENERATE``: with one byte
    a character and with one CHARS frame a character.
    """
    bits = 10                                   # 8N1: start, eight data bits, stop
    chip_us = cycles_per_char / clock_mhz
    chip, wire = 1e6 / chip_us, baud / bits / frame
    return {"chip_us": chip_us, "byte_us": 1e6 * bits / baud, "frame_us": 1e6 / wire,
            "wire": wire, "chip": chip, "board": min(chip, wire),
            "bound": "core" if chip < wire else "line",
            "keep_up_byte": bits * chip, "keep_up_frame": bits * frame * chip}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m snnfpga.sim.linkbench", description=__doc__)
    p.add_argument("--model", default=None)
    p.add_argument("--chars", type=int, default=500)
    p.add_argument("--board", default="icebreaker",
                   help="the real board whose serial rate and clock the wire bound uses")
    p.add_argument("--baud", type=int, default=None, help="serial rate (default: the board's)")
    p.add_argument("--clock-mhz", type=float, default=None, help="clock (default: the board's)")
    a = p.parse_args(argv)
    desc = load_board(a.board)
    a.baud = a.baud or desc.baud
    a.clock_mhz = a.clock_mhz or desc.target_mhz
    m = load(a.model)
    t0 = time.monotonic()
    with VirtualBoard(m) as vb:
        build = "reused" if vb.build.cached else f"{vb.build.seconds:.0f} s"
        dev = Device(SerialTransport(vb.url), timeout=SIM_TIMEOUT)
        t1 = time.monotonic()
        dev.check(m)
        hello_s = time.monotonic() - t1
        dev.counters()
        dev.reset(1)
        ids = [int(i) for i in m.vocab.encode("ROMEO:")]
        t1 = time.monotonic()
        n = sum(1 for _ in dev.generate(ids, a.chars, temperature_to_fixed(0.8, 8)))
        gen_s = time.monotonic() - t1
        c = dev.counters()
        dev.close()
    frame = max_frame_bytes(1)
    cycles_per_char = c["cycles"] / c["tokens"]
    f = line_figures(cycles_per_char, a.clock_mhz, a.baud, frame)
    print(f"virtual board: build {build}; HELLO with the weights' CRC {hello_s:.2f} s")
    print(f"  characters generated        {n}")
    print(f"  end to end                  {n / gen_s:.0f} chars/s (host, TCP, simulated UART "
          f"and gateware)")
    print(f"  simulated                   {c['cycles'] / gen_s / 1e6:.2f} M core cycles/s, "
          f"{cycles_per_char:.0f} cycles per character fed")
    print(f"a real board at {a.baud} baud, {a.clock_mhz:g} MHz:")
    print(f"  wire bound                  {f['wire']:.0f} chars/s ({frame} bytes a CHARS "
          f"frame)")
    print(f"  chip time per character     {f['chip_us']:.0f} us; one byte on the line "
          f"{f['byte_us']:.0f} us, one CHARS frame {f['frame_us']:.0f} us")
    print(f"  GENERATE                    {f['board']:.0f} chars/s, bound by the {f['bound']}")
    print(f"  the core keeps up with      the line below {f['keep_up_byte']:,.0f} baud at a byte "
          f"a character, {f['keep_up_frame']:,.0f} at a CHARS frame a character")
    print(f"total wall time {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
