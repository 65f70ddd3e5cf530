# amaranth: UnusedElaboratable=no
"""Board descriptions: every shipped one loads, resolves its platform and model, and the fit
prediction follows the gateware's memories; bad descriptions are refused with their key."""

from __future__ import annotations

import re
import zlib

import pytest
from snnfpga.boards.description import BoardError, board_names, load_board
from snnfpga.boards.fit import board_memories, predict_fit
from snnfpga.boards.platforms import dfu_suffix, platform_class
from snnfpga.sw_driver.api import load
from snnfpga.sw_driver.cli import main


def test_every_shipped_board_loads_and_names_its_platform():
    assert set(board_names()) == {"icebreaker", "ulx3s", "orangecrab", "arty_a7_35"}
    for b in board_names():
        d = load_board(b)
        cls = platform_class(d)
        assert cls.device.upper().startswith(d.device.name.upper()[:6]), (b, cls.device)
        assert d.target_mhz > 0 and d.baud > 0
        assert d.model_path().is_file() or d.model != "default"


def test_every_board_runs_the_hosts_default_serial_rate():
    # the host opens a port at DEFAULT_BAUD unless told otherwise: a board at another rate
    # would answer in garbage to every default command line
    import inspect

    from snnfpga.sw_driver.device import SerialTransport
    from snnfpga.sw_driver.protocol import DEFAULT_BAUD

    assert {load_board(b).baud for b in board_names()} == {DEFAULT_BAUD}
    assert inspect.signature(SerialTransport).parameters["baudrate"].default == DEFAULT_BAUD


def test_our_platform_fixes():
    ulx3s = platform_class(load_board("ulx3s"))()
    assert "openFPGALoader" not in ulx3s.required_tools
    crab = platform_class(load_board("orangecrab"))()
    assert "dfu-suffix" not in crab.required_tools
    assert not any("dfu-suffix" in t for t in crab.command_templates)
    uart = crab.request("uart", 0, dir="-")
    assert len(uart.rx) == 1 and len(uart.tx) == 1


def test_dfu_suffix_layout_and_crc():
    data = b"\x01\x02\x03bitstream"
    out = dfu_suffix(data, 0x1209, 0x5AF0)
    assert out[: len(data)] == data and len(out) == len(data) + 16
    suffix = out[len(data):]
    assert suffix[2:4] == (0x5AF0).to_bytes(2, "little")
    assert suffix[4:6] == (0x1209).to_bytes(2, "little")
    assert suffix[6:8] == b"\x00\x01" and suffix[8:11] == b"UFD" and suffix[11] == 16
    # dfu-util's check: CRC-32 without the final inversion over everything before the CRC
    assert int.from_bytes(suffix[12:], "little") == zlib.crc32(out[:-4]) ^ 0xFFFFFFFF


@pytest.mark.parametrize("text, match", [
    ("name: x\n", "key 'platform' is missing"),
    ("- a\n- b\n", "expected a mapping"),
    ("name: x\nplatform: nocolon\n", "'module:Class'"),
])
def test_bad_descriptions_name_the_key(tmp_path, text, match):
    p = tmp_path / "b.yaml"
    p.write_text(text)
    with pytest.raises(BoardError, match=match):
        load_board(p)


def test_bad_values_name_file_key_and_value(tmp_path):
    good = load_board("icebreaker").path.read_text()
    p = tmp_path / "b.yaml"
    p.write_text(good.replace("family: ice40", "family: gowin"))
    with pytest.raises(BoardError, match=r"b.yaml: 'family' must be one of .*'gowin'"):
        load_board(p)
    p.write_text(good.replace("baud: 1000000", "baud: fast"))
    with pytest.raises(BoardError, match=r"b.yaml.uart: 'baud' must be int, found 'fast'"):
        load_board(p)
    p.write_text(good.replace("  spram: 4 ", "  spram: 0 "))
    with pytest.raises(BoardError, match="model.spram is true but the device has no SPRAM"):
        load_board(p)
    with pytest.raises(BoardError, match="no board 'nope': expected one of"):
        load_board("nope")
    p.write_text(good.replace("  spram: true ", "  registered_reads: true\n  spram: true "))
    with pytest.raises(BoardError, match="registered_reads needs the memories in block RAM"):
        load_board(p)
    p.write_text(re.sub(r"  place_seed: \d+ ", "  place_seed: 0 ", good))
    with pytest.raises(BoardError, match=r"b.yaml.clock: 'place_seed' must be positive, found 0"):
        load_board(p)


def test_the_ecp5_boards_build_their_core_with_registered_reads():
    from snnfpga.boards.platforms import BitstreamTop

    assert sorted(b for b in board_names() if load_board(b).registered_reads) == [
        "orangecrab", "ulx3s"]
    d = load_board("ulx3s")
    top = BitstreamTop(d, load(d.model_path()), clock_hz=60e6).board_top()
    assert top.board.core.registered_reads
    for e in (top, top.board, top.board.core):   # built to be inspected, not elaborated
        e._MustUse__silence = True


def test_fit_counts_the_gateware_memories():
    m = load()
    d = load_board("icebreaker")
    mems = {x.name: x for x in board_memories(d, m.config, len(m.vocab))}
    # the weights (28-bit words) take two SPRAM blocks side by side; the fan-out lists two deep
    assert mems["mem wgt"].kind == "spram" and mems["mem wgt"].blocks == 2
    assert mems["mem fan"].blocks == 2
    rep = predict_fit(d, m.config, len(m.vocab))
    assert rep.need["spram"] == 4 and rep.need["dsp"] == d.readout_lanes + 1
    # the same memories in the ECP5's 18 kbit blocks, with no SPRAM
    e = predict_fit(load_board("ulx3s"), m.config, len(m.vocab))
    assert e.need["spram"] == 0 and e.need["ebr"] > rep.need["ebr"]


def test_fit_refuses_a_model_too_big_and_names_the_resource(capsys):
    import dataclasses

    m = load()
    big = dataclasses.replace(m.config, neurons=2048)
    rep = predict_fit(load_board("icebreaker"), big, len(m.vocab))
    assert not rep.fits
    assert any(s.startswith("SPRAM: the model needs") and "the iCE40UP5K has 4" in s
               for s in rep.short())
    # through the command line: the ULX3S's model of 2,048 neurons on the UP5K is refused,
    # naming the SPRAM; the UP5K's own model fits
    ulx3s = load_board("ulx3s").model_path()
    assert main(["fit", "--board", "icebreaker", "--model", str(ulx3s)]) == 1
    err = capsys.readouterr().err
    assert "does not fit the iCEBreaker" in err and "SPRAM: the model needs" in err
    assert main(["fit", "--board", "icebreaker"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("fits")


def test_flash_dry_run_from_the_descriptions(tmp_path, capsys):
    from snnfpga.boards.flash import FlashError, programmer_for

    bit = tmp_path / "snnfpga.bin"
    bit.write_bytes(b"\0")
    assert main(["flash", "--board", "icebreaker", "--bitstream", str(bit), "--flash",
                 "--dry-run"]) == 0
    assert capsys.readouterr().out.split()[1:] == ["-b", "ice40_generic", "-f", str(bit)]
    # the iCEBreaker cannot load its SRAM without changed jumpers: refused, saying so
    assert main(["flash", "--board", "icebreaker", "--bitstream", str(bit), "--dry-run"]) == 2
    assert "flash" in capsys.readouterr().err
    with pytest.raises(FlashError, match="programmed with openfpgaloader, not iceprog"):
        programmer_for(load_board("ulx3s"), "iceprog")
    for b in board_names():
        p = programmer_for(load_board(b))
        assert p.board_name == p.board   # the descriptions use openFPGALoader's own names


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s", "orangecrab", "arty_a7_35"])
def test_every_board_design_elaborates_on_its_platform(tmp_path, board):
    """Pins, clock, PLL and LEDs of each description requested from its platform (a small
    model stands in for the board's: the core's size plays no part here)."""
    import numpy as np
    from conftest import random_model
    from snnfpga.boards.build import board_clock
    from snnfpga.boards.platforms import BitstreamTop

    desc = load_board(board)
    model = random_model(np.random.default_rng(0), vocab="abcd", neurons=8, fanout=2)
    pll, clock_hz, _ = board_clock(desc)
    platform = platform_class(desc)()
    plan = platform.prepare(BitstreamTop(desc, model, clock_hz=clock_hz, pll=pll), name="t")
    assert plan.files, board
