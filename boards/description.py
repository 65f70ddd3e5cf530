"""Board descriptions: one YAML file per board in ``boards/descriptions/``, read here.

A description says everything the build, the fit check, the flashing and the driver need to
know about a board, and nothing about how to build: the amaranth-boards platform
(``module:Class``, our subclass where the upstream one needs a fix, see
:mod:`snnfpga.boards.platforms`), the FPGA family and its resource totals, the input clock
and the clock the PLL makes of it, the UART resource and its baud rate, the LEDs, how an
optional current monitor would be wired, the model built into the board by default and
whether its large memories are SPRAM, and the programmer.

:func:`load_board` validates a file completely and raises :class:`BoardError` naming the file,
the key, what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..model.errors import SnnfpgaError

__all__ = ["BoardError", "BoardDescription", "Device", "CurrentMonitor", "board_names",
           "load_board", "DESCRIPTIONS"]

#: Where the shipped descriptions live.
DESCRIPTIONS = Path(__file__).parent / "descriptions"
FAMILIES = ("ice40", "ecp5", "xilinx")


class BoardError(SnnfpgaError, ValueError):
    """A board name or description that cannot be used."""


@dataclass(frozen=True)
class Device:
    name: str
    logic_cells: int     # LUT4s (LUT6s on Xilinx)
    ebr: int             # block RAMs (4 kbit iCE40, 18 kbit ECP5, 36 kbit Xilinx)
    spram: int           # iCE40 UltraPlus 256 kbit single-port RAMs
    dsp: int


@dataclass(frozen=True)
class CurrentMonitor:
    part: str
    fitted: bool
    bus: str
    address: int
    scl: dict
    sda: dict
    shunt_ohm: float
    rail: str


@dataclass(frozen=True)
class BoardDescription:
    id: str                   # the file's stem: ``--board icebreaker``
    name: str
    platform: str             # "module:Class"
    family: str
    device: Device
    input_mhz: float
    target_mhz: float
    place_seed: int           # nextpnr's placement seed (``clock.place_seed``)
    uart_resource: str
    baud: int
    leds: dict[str, str]
    current_monitor: CurrentMonitor | None
    model: str                # "default", another shipped name, or a path
    spram: bool
    lanes: int
    readout_lanes: int
    synapse_lanes: int | None   # None: the core's default for the model's fan-out
    registered_reads: bool    # fan-out and weight reads registered, two cycles (ECP5 timing)
    programmer: dict = field(default_factory=dict)
    path: Path | None = None

    def platform_class(self):
        """The platform class (our subclass where one exists, see ``platforms.py``)."""
        from .platforms import platform_class
        return platform_class(self)

    def geometry(self, config, vocab_size: int):
        """The core's geometry on this board for a model's configuration and vocabulary: its
        lanes and read latency (:class:`snnfpga.hw.memmap.Geometry`)."""
        from ..hw.memmap import Geometry
        return Geometry(config, vocab_size, self.lanes, self.readout_lanes,
                        self.registered_reads, self.synapse_lanes)

    def model_path(self) -> Path:
        """The model file the board is built with by default."""
        from ..sw_driver.api import default_model_path
        p = Path(self.model)
        if p.suffix == ".snnm":
            return p if p.is_absolute() else (self.path.parent / p if self.path else p)
        if self.model == "default":
            return default_model_path()
        return default_model_path().with_name(f"{self.model}.snnm")


def board_names() -> list[str]:
    """The ids of the shipped boards."""
    return sorted(p.stem for p in DESCRIPTIONS.glob("*.yaml"))


class _Reader:
    """Typed access to one description's mapping, with errors that name the file and key."""

    def __init__(self, where: str, data):
        self.where = where
        if not isinstance(data, dict):
            raise BoardError(f"{where}: expected a mapping of keys, found "
                             f"{type(data).__name__}")
        self.data = data

    def get(self, key: str, kind, *, default=..., choices=None, positive=False):
        if key not in self.data:
            if default is ...:
                raise BoardError(f"{self.where}: key '{key}' is missing "
                                 f"(expected {kind.__name__})")
            return default
        v = self.data[key]
        ok = isinstance(v, kind) and not (kind is not bool and isinstance(v, bool))
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            v, ok = float(v), True
        if not ok:
            raise BoardError(f"{self.where}: '{key}' must be {kind.__name__}, "
                             f"found {v!r}")
        if choices is not None and v not in choices:
            raise BoardError(f"{self.where}: '{key}' must be one of {', '.join(choices)}, "
                             f"found {v!r}")
        if positive and v <= 0:
            raise BoardError(f"{self.where}: '{key}' must be positive, found {v!r}")
        return v

    def sub(self, key: str, *, optional=False) -> _Reader | None:
        if optional and self.data.get(key) is None:
            return None
        return _Reader(f"{self.where}.{key}", self.get(key, dict))


def load_board(board: str | Path) -> BoardDescription:
    """The description of a shipped board (by id, e.g. ``"icebreaker"``) or of a YAML file."""
    p = Path(board)
    if p.suffix not in (".yaml", ".yml"):
        p = DESCRIPTIONS / f"{board}.yaml"
        if not p.is_file():
            raise BoardError(f"no board '{board}': expected one of {', '.join(board_names())} "
                             "or a path to a .yaml description")
    elif not p.is_file():
        raise BoardError(f"board description {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise BoardError(f"{p}: not valid YAML: {e}") from None
    r = _Reader(p.name, data)
    platform = r.get("platform", str)
    if platform.count(":") != 1:
        raise BoardError(f"{p.name}: 'platform' must be 'module:Class', found {platform!r}")
    dev = r.sub("device")
    device = Device(dev.get("name", str), dev.get("logic_cells", int, positive=True),
                    dev.get("ebr", int), dev.get("spram", int, default=0),
                    dev.get("dsp", int, default=0))
    clk = r.sub("clock")
    uart = r.sub("uart")
    leds = r.sub("leds")
    mon = r.sub("current_monitor", optional=True)
    monitor = None
    if mon is not None:
        monitor = CurrentMonitor(mon.get("part", str), mon.get("fitted", bool),
                                 mon.get("bus", str, choices=("i2c",)),
                                 mon.get("address", int), mon.get("scl", dict),
                                 mon.get("sda", dict), mon.get("shunt_ohm", float,
                                                               positive=True),
                                 mon.get("rail", str))
    model = r.sub("model")
    spram = model.get("spram", bool)
    if spram and device.spram == 0:
        raise BoardError(f"{p.name}: model.spram is true but the device has no SPRAM")
    regs = model.get("registered_reads", bool, default=False)
    if spram and regs:
        raise BoardError(f"{p.name}: model.registered_reads needs the memories in block RAM, "
                         "but model.spram is true")
    from ..hw.memmap import DEFAULT_LANES, DEFAULT_READOUT_LANES
    desc = BoardDescription(
        id=p.stem, name=r.get("name", str), platform=platform,
        family=r.get("family", str, choices=FAMILIES), device=device,
        input_mhz=clk.get("input_mhz", float, positive=True),
        target_mhz=clk.get("target_mhz", float, positive=True),
        place_seed=clk.get("place_seed", int, default=1, positive=True),
        uart_resource=uart.get("resource", str), baud=uart.get("baud", int, positive=True),
        leds={k: leds.get(k, str) for k in ("activity", "heartbeat")},
        current_monitor=monitor, model=model.get("file", str), spram=spram,
        lanes=model.get("lanes", int, default=DEFAULT_LANES, positive=True),
        readout_lanes=model.get("readout_lanes", int, default=DEFAULT_READOUT_LANES,
                                positive=True),
        synapse_lanes=model.get("synapse_lanes", int, default=None, positive=True),
        registered_reads=regs,
        programmer=r.get("programmer", dict), path=p)
    return desc
