"""``backend="board"`` through a TCP-served board (``socket://`` URL, as a real serial port):
the same characters and event counters as the golden back-end; a host that disconnects in the
middle of a GENERATE leaves the board ready for the next one."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import random_model
from snnfpga.model.errors import ModelError
from snnfpga.sw_driver.board_model import BoardModel
from snnfpga.sw_driver.device import Device, DriverError, SerialTransport
from snnfpga.sw_driver.server import BoardServer

import snnfpga

OVER = dict(neurons=24, fanout=6, membrane_bits=10, threshold=80)


def test_board_backend_equals_golden_and_uploads_the_model(tmp_path):
    model = random_model(np.random.default_rng(3), vocab="abcdefghij ", extremes=0.2, **OVER)
    other = random_model(np.random.default_rng(4), vocab="abcdefghij ", **OVER)
    with BoardServer(BoardModel(other)) as server:   # the board starts with other weights
        golden_counters, board_counters = {}, {}
        want = snnfpga.generate("abc", max_new_tokens=40, temperature=0.9, seed=7,
                                model=model, counters=golden_counters)
        got = snnfpga.generate("abc", max_new_tokens=40, temperature=0.9, seed=7,
                               model=model, backend="board", port=server.url,
                               counters=board_counters)
        assert got == want
        for k, v in golden_counters.items():
            assert board_counters[k] == v, k
        # the command line, printing as it goes
        path = tmp_path / "m.snnm"
        from snnfpga.model.modelfile import save_model
        save_model(model, path)
        r = subprocess.run([sys.executable, "-m", "snnfpga", "generate", "abc", "-n", "40",
                            "-t", "0.9", "--seed", "7", "--model", str(path), "--backend",
                            "board", "--port", server.url], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "abc" + want + "\n"


def test_a_host_that_leaves_during_generate_leaves_the_board_ready():
    model = random_model(np.random.default_rng(5), vocab="abcdefghij", **OVER)
    with BoardServer(BoardModel(model)) as server:
        first = Device(SerialTransport(server.url))
        first.reset(1)
        gen = first.generate([0, 1], 5000, 100)
        assert [next(gen) for _ in range(5)]
        first.close()                      # gone in the middle of 5,000 characters
        deadline = time.monotonic() + 60
        while True:                        # the board finishes its GENERATE on its own
            second = Device(SerialTransport(server.url), timeout=2.0)
            try:
                assert second.hello().neurons == 24
                break
            except DriverError:
                second.close()
                assert time.monotonic() < deadline, "the board never became ready"
        assert snnfpga.generate("ab", max_new_tokens=10, seed=2, model=model,
                                backend="board", port=server.url) == \
            snnfpga.generate("ab", max_new_tokens=10, seed=2, model=model)


def test_board_backend_errors_say_what_is_missing():
    with pytest.raises(ModelError, match="backend 'board' needs port="):
        snnfpga.generate("a", backend="board")
    with pytest.raises(DriverError, match="cannot open 'socket://127.0.0.1:1'"):
        snnfpga.generate("a", backend="board", port="socket://127.0.0.1:1")


@pytest.mark.parametrize("backend", ["board", "sim"])
def test_the_virtual_board_gets_a_longer_answer_timeout(monkeypatch, backend):
    """A simulated chip is thousands of times slower than a board (its HELLO hashes every
    weight word), so the sim back-end waits longer for each answer than the board back-end."""
    import contextlib

    import snnfpga.sim.vboard
    import snnfpga.sw_driver.device
    from snnfpga.sw_driver.api import BOARD_TIMEOUT, SIM_TIMEOUT

    seen = []

    class Stop(Exception):
        pass

    class Recorder:
        def __init__(self, transport, *, timeout=5.0):
            seen.append(timeout)
            raise Stop

    class FakeBoard(contextlib.AbstractContextManager):
        url = "loop://"

        def __init__(self, model):
            pass

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(snnfpga.sw_driver.device, "Device", Recorder)
    monkeypatch.setattr(snnfpga.sw_driver.device, "SerialTransport", lambda *a, **k: None)
    monkeypatch.setattr(snnfpga.sim.vboard, "VirtualBoard", FakeBoard)
    with pytest.raises(Stop):
        snnfpga.generate("ab", max_new_tokens=2, backend=backend, port="loop://")
    assert seen == [SIM_TIMEOUT if backend == "sim" else BOARD_TIMEOUT]
    assert SIM_TIMEOUT > BOARD_TIMEOUT
