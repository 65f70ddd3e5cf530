"""The virtual board (the board's top-level verilated, its UART on a TCP port): the same text
and event counters as the golden model; damaged frames and a host that leaves mid-GENERATE."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from snnfpga.sim.build import missing_tools
from snnfpga.sim.vboard import VirtualBoard
from snnfpga.sw_driver.device import Device, DeviceError, SerialTransport
from snnfpga.sw_driver.protocol import Cmd, Err, FrameReader, Rsp, encode_frame

import snnfpga

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(missing_tools()), reason="the virtual board needs "
                       + ", ".join(missing_tools())),
]


def test_sim_backend_equals_golden():
    golden_c, sim_c = {}, {}
    want = snnfpga.generate("ROMEO:", max_new_tokens=120, temperature=0.8, seed=3,
                            counters=golden_c)
    got = snnfpga.generate("ROMEO:", max_new_tokens=120, temperature=0.8, seed=3,
                           backend="sim", counters=sim_c)
    assert got == want
    for k, v in golden_c.items():
        assert sim_c[k] == v, k
    assert sim_c["cycles"] > 0 and sim_c["fanout_reads"] == sim_c["syn_events"]


def exchange(sock, data: bytes, last_tag: int, timeout: float = 30.0):
    """Send ``data``; collect answers until the one tagged ``last_tag``."""
    sock.sendall(data)
    reader, out = FrameReader(), []
    deadline = time.monotonic() + timeout
    while not any(f.tag == last_tag for f in out) and time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            break
        out += reader.feed(chunk)
    return out


def test_damaged_frames_get_error_frames_and_the_board_stays_usable():
    rng = np.random.default_rng(0)
    m = snnfpga.load()
    with VirtualBoard(m) as vb:
        with socket.create_connection(("127.0.0.1", vb.port)) as s:
            flipped = bytearray(encode_frame(Cmd.HELLO, 1))
            flipped[4] ^= 0x08
            garbage = bytes(rng.integers(1, 256, size=300).astype(np.uint8))
            cut = encode_frame(Cmd.STEP, 2, b"\x01\x01\x00\x00")[:5]
            data = bytes(flipped) + garbage + b"\x00" + cut + b"\x00" \
                + bytes([7]) * 700 + b"\x00" + encode_frame(0x55, 3) \
                + encode_frame(Cmd.STEP, 4, bytes([len(m.vocab), 1, 0, 0])) \
                + encode_frame(Cmd.HELLO, 5)
            answers = exchange(s, data, 5)
        errors = [(f.tag, f.payload[0]) for f in answers if f.kind == Rsp.ERROR]
        assert (0, Err.BAD_CRC) in errors or (0, Err.BAD_FRAME) in errors
        assert (0, Err.OVERSIZE) in errors
        assert (3, Err.UNKNOWN_COMMAND) in errors and (4, Err.BAD_CHARACTER) in errors
        assert answers[-1].kind == Rsp.OK and answers[-1].tag == 5
        dev = Device(SerialTransport(vb.url))
        with pytest.raises(DeviceError, match="BAD_CHARACTER"):
            dev.step(200)
        assert dev.hello().neurons == m.config.neurons


def test_a_host_that_leaves_mid_generate_and_the_sim_board_command():
    m = snnfpga.load()
    proc = subprocess.Popen([sys.executable, "-m", "snnfpga", "sim-board"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "virtual board on socket://127.0.0.1:" in line, line
        url = line.split(" on ")[1].split()[0]
        first = Device(SerialTransport(url))
        first.reset(1)
        gen = first.generate(list(m.vocab.encode("ab")), 60, 0)
        assert len([next(gen) for _ in range(3)]) == 3
        first.close()                       # gone; the board finishes the 60 characters
        deadline = time.monotonic() + 120
        while True:
            dev = Device(SerialTransport(url), timeout=5.0)
            try:
                dev.hello()
                break
            except DeviceError as exc:      # BUSY while the GENERATE runs out
                assert "BUSY" in str(exc)
                dev.close()
                assert time.monotonic() < deadline
                time.sleep(0.5)
        dev.close()
        assert snnfpga.generate("ab", max_new_tokens=20, seed=4, backend="board",
                                port=url) == snnfpga.generate("ab", max_new_tokens=20, seed=4)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
