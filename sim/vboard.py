"""The virtual board: the board's top-level in Verilator, its serial line on a local TCP port.

:func:`build_vboard` verilates ``hw.board.BoardTop`` for a model (the weights in the memories'
initial contents, so nothing is uploaded) with a C++ main loop (``sim/vboard/main.cpp``) that
runs the clock and bridges the UART to TCP: the serial bit timing *is* simulated, at the
virtual board's bit rate (``VBOARD_DIVISOR`` clock cycles a bit), on both pins. A host talks
to it through pyserial's ``socket://127.0.0.1:PORT`` exactly as to ``/dev/ttyUSB1``.

The bit rate is the one thing that differs from a bitstream: the iCEBreaker runs its UART at
1,000,000 baud (24 cycles a bit at 24 MHz); the virtual board uses 16 cycles a bit, the
fewest the 16x oversampling receiver takes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..hw.memmap import DEFAULT_LANES, DEFAULT_READOUT_LANES
from ..model.modelfile import SpikingModel
from .build import (
    DEFAULT_BUILD_ARGS,
    MAKE_OVERRIDES,
    BuildError,
    _environ,
    _locked,
    _stamp_matches,
    _tail,
    _tool_versions,
    build_root,
    to_verilog,
    tool_environment,
)

__all__ = ["VBOARD_DIVISOR", "VBoardBuild", "build_vboard", "VirtualBoard"]

#: Clock cycles per bit of the virtual board's serial line.
VBOARD_DIVISOR = 16
#: Compiler optimisation of the virtual board, a long-running binary built for this machine.
#: (A space inside a value in ``MAKEFLAGS`` is escaped with a backslash.)
_OPT = r"OPT_FAST=-O3\ -march=native OPT_GLOBAL=-O3"
_MAIN = Path(__file__).parent / "vboard" / "main.cpp"
_STAMP = "snnfpga-vboard.json"
#: The virtual board's top module: the board's top-level with its reset held for the first 8
#: cycles by a counter inside the design, as a bitstream's power-on reset does. The clock and
#: rx are then the only inputs. Verilator re-evaluates, at every ``eval()``, all logic that
#: depends on an input combinationally; with ``rst`` an input, that was a third of the
#: simulation's time, since every register's next value depends on it.
_POWER_ON_RESET = """
module board_top(input wire clk, input wire rx, output wire tx);
  reg [3:0] por = 4'd0;
  always @(posedge clk) if (!por[3]) por <= por + 4'd1;
  board_core board(.clk(clk), .rst(!por[3]), .rx(rx), .tx(tx));
endmodule
"""


@dataclass(frozen=True)
class VBoardBuild:
    binary: Path
    divisor: int
    cached: bool
    seconds: float


def build_vboard(model: SpikingModel, *, lanes: int = DEFAULT_LANES,
                 readout_lanes: int = DEFAULT_READOUT_LANES,
                 divisor: int = VBOARD_DIVISOR) -> VBoardBuild:
    """Verilate the board top-level for ``model`` (reused while nothing changed)."""
    from ..hw.board import BoardTop

    start = time.monotonic()
    top = BoardTop(divisor=divisor, config=model.config, vocab_size=len(model.vocab),
                   weights=model.weights, lanes=lanes, readout_lanes=readout_lanes)
    verilog = to_verilog(top, "board_core") + _POWER_ON_RESET
    main = _MAIN.read_text()
    args = list(DEFAULT_BUILD_ARGS) + ["-O3", "--x-assign", "fast", "--x-initial", "fast"]
    make = f"{MAKE_OVERRIDES} {_OPT}"
    key = json.dumps({"verilog": verilog, "main": main, "args": args, "make": make,
                      "tools": _tool_versions()}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()
    directory = build_root() / f"vboard-{digest[:12]}"
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / "vboard"
    stamp = directory / _STAMP
    with _locked(directory / ".lock"):
        if _stamp_matches(stamp, digest) and binary.is_file():
            return VBoardBuild(binary, divisor, True, time.monotonic() - start)
        stamp.unlink(missing_ok=True)
        (directory / "board_top.v").write_text(verilog)
        (directory / "main.cpp").write_text(main)
        log = directory / "build.log"
        cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(os.cpu_count() or 1),
               "--top-module", "board_top", "--prefix", "Vboard_top", "-Mdir", str(directory),
               "-o", "vboard", *args, "board_top.v", "main.cpp"]
        env = {"MAKEFLAGS": f"{os.environ.get('MAKEFLAGS', '')} {make}".strip()}
        with tool_environment(), _environ(env), open(log, "w") as out:
            r = subprocess.run(cmd, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
        if r.returncode != 0 or not binary.is_file():
            raise BuildError(f"Verilator build of the virtual board failed; see {log}:\n"
                             f"{_tail(log)}")
        stamp.write_text(json.dumps({"sha256": digest}))
    return VBoardBuild(binary, divisor, False, time.monotonic() - start)


class VirtualBoard:
    """A running virtual board; ``url`` is what the serial driver opens.

    ``with VirtualBoard(model) as vb: ...`` builds (or finds) it, starts it on a free port,
    and stops it at the end.
    """

    def __init__(self, model: SpikingModel, *, port: int = 0, **build_kw):
        self.build = build_vboard(model, **build_kw)
        self._port = port
        self._proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self) -> VirtualBoard:
        self._proc = subprocess.Popen(
            [str(self.build.binary), "--port", str(self._port), "--divisor",
             str(self.build.divisor)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        line = self._proc.stdout.readline()
        if not line.startswith("listening on "):
            err = self._proc.stderr.read() if self._proc.poll() is not None else ""
            self.close()
            raise BuildError(f"the virtual board did not start: {line.strip()} {err.strip()}")
        self.port = int(line.split()[-1])
        return self

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> VirtualBoard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


