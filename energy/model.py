"""A device's energy model: static power and energy per event class, each with its source.

The model lives in the board's description (``boards/descriptions/<board>.yaml``, section
``energy:``), next to the device it describes. Every figure is a mapping::

    cycle_j: {value: 75.5e-12, kind: derived, source: "how it was obtained"}

``kind`` is one of :data:`KINDS`: ``measured`` (a published measurement of this device),
``datasheet`` (a vendor table), ``derived`` (computed from such figures; ``source`` gives
the arithmetic), ``assumed`` (no published figure found; to be replaced by calibration,
:mod:`snnfpga.energy.calibrate`), or ``calibrated`` (fitted to measured runs).

Event classes, and the counters they are made of (:func:`event_counts`):

=============  ========================================================================
class          counted as
=============  ========================================================================
``cycle``      ``cycles``: the core busy (logic toggling above the idle clock network)
``spram_read`` SPRAM block reads of the large memories (fan-out lists and weights) where
               they are SPRAM (iCE40 UltraPlus, ``model.spram: true``): a word of ``W``
               bits reads ``ceil(W/16)`` blocks side by side (two a fan-out word of ``S``
               entries, two a weight word on the UP5K)
``ebr_read``   words read from block RAM: state, leak shifts, biases, and the large
               memories where they are block RAM
``ebr_write``  words written to block RAM (``state_writes``)
``dsp_op``     readout multiply-accumulates (``readout_ops``), one DSP lane each
``uart_byte``  bytes on the serial line, when the run reports them (``uart_bytes``)
=============  ========================================================================

Besides these, the device draws its idle power whenever configured and clocked: the
``static`` figures plus ``clock_w_per_mhz`` times the clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ..boards.description import BoardDescription, load_board
from ..hw.memmap import Geometry, MemId
from ..hw.spram import SinglePortRAM
from .counters import EnergyError

__all__ = ["Coefficient", "EnergyModel", "EVENT_CLASSES", "KINDS", "event_counts",
           "load_energy_model", "CALIBRATION_DIR"]

EVENT_CLASSES = ("cycle", "spram_read", "ebr_read", "ebr_write", "dsp_op", "uart_byte")
KINDS = ("measured", "datasheet", "derived", "assumed", "calibrated")
#: Where fitted coefficients are kept, one JSON file per board (never in the descriptions).
CALIBRATION_DIR = Path(__file__).parent / "calibration"


@dataclass(frozen=True)
class Coefficient:
    """One figure of an energy model: ``value`` in SI units (W or J), and where it is from."""

    value: float
    kind: str
    source: str


@dataclass(frozen=True)
class EnergyModel:
    """Static power and energy per event class of one board's device on its monitored rail.

    Attributes
    ----------
    board : str
        Board id.
    rail : str
        The supply the figures are for (the rail a current monitor would measure).
    clock_mhz : float
        Clock of the core (the board's ``clock.target_mhz``).
    static : dict of str to Coefficient
        Power drawn whenever the device is configured, in W.
    clock_w_per_mhz : Coefficient
        Power of the running clock network with the core idle, in W per MHz.
    events : dict of str to Coefficient
        Energy per event of each of :data:`EVENT_CLASSES`, in J.
    calibration : str or None
        The calibration file the event energies were taken from, if any.
    """

    board: str
    rail: str
    clock_mhz: float
    static: dict
    clock_w_per_mhz: Coefficient
    events: dict
    calibration: str | None = None
    spram: bool = False
    notes: list = field(default_factory=list)

    @property
    def idle_w(self) -> float:
        """Power of the configured device with its clock running and the core idle, in W."""
        return sum(c.value for c in self.static.values()) \
            + self.clock_w_per_mhz.value * self.clock_mhz

    def vector(self) -> list[float]:
        """Event energies in the order of :data:`EVENT_CLASSES`."""
        return [self.events[k].value for k in EVENT_CLASSES]

    def with_events(self, values: dict[str, float], *, kind: str, source: str,
                    calibration: str | None = None) -> EnergyModel:
        """A copy with some event energies replaced (for example by a calibration)."""
        ev = dict(self.events)
        for k, v in values.items():
            if k not in EVENT_CLASSES:
                raise EnergyError(f"unknown event class {k!r}: expected one of "
                                  f"{', '.join(EVENT_CLASSES)}")
            ev[k] = Coefficient(float(v), kind, source)
        return replace(self, events=ev, calibration=calibration)

    def calibrated(self, path: str | Path | None = None) -> EnergyModel:
        """This model with the event energies of its calibration file (see ``calibrate``)."""
        p = Path(path) if path is not None else CALIBRATION_DIR / f"{self.board}.json"
        if not p.is_file():
            raise EnergyError(f"no calibration for board '{self.board}': {p} does not exist "
                              "(snnfpga.energy.calibrate writes it from measured runs)")
        data = json.loads(p.read_text())
        return self.with_events(data["coefficients"], kind="calibrated",
                                source=f"least-squares fit, {p.name}", calibration=str(p))


def _coef(where: str, data) -> Coefficient:
    if not isinstance(data, dict):
        raise EnergyError(f"{where}: expected a mapping with value, kind and source, "
                          f"found {data!r}")
    for key in ("value", "kind", "source"):
        if key not in data:
            raise EnergyError(f"{where}: key '{key}' is missing")
    v = data["value"]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise EnergyError(f"{where}.value must be a number >= 0, found {v!r}")
    if data["kind"] not in KINDS:
        raise EnergyError(f"{where}.kind must be one of {', '.join(KINDS)}, "
                          f"found {data['kind']!r}")
    if not isinstance(data["source"], str) or not data["source"].strip():
        raise EnergyError(f"{where}.source must say where the figure is from")
    return Coefficient(float(v), data["kind"], data["source"].strip())


def load_energy_model(board: str | Path | BoardDescription = "icebreaker") -> EnergyModel:
    """The energy model in a board's description (its ``energy:`` section)."""
    desc = board if isinstance(board, BoardDescription) else load_board(board)
    if desc.path is None:
        raise EnergyError(f"board '{desc.id}' has no description file to read 'energy' from")
    data = yaml.safe_load(desc.path.read_text()) or {}
    e = data.get("energy")
    where = f"{desc.path.name}: energy"
    if not isinstance(e, dict):
        raise EnergyError(f"{where}: section missing; expected static, clock_w_per_mhz and "
                          "events with value, kind and source each")
    static = e.get("static")
    events = e.get("events")
    if not isinstance(static, dict) or not static:
        raise EnergyError(f"{where}.static must be a mapping of named powers in W")
    if not isinstance(events, dict):
        raise EnergyError(f"{where}.events must be a mapping of event classes")
    missing = [f"{k}_j" for k in EVENT_CLASSES if f"{k}_j" not in events]
    if missing:
        raise EnergyError(f"{where}.events lacks {', '.join(missing)}")
    unknown = sorted(set(events) - {f"{k}_j" for k in EVENT_CLASSES})
    if unknown:
        raise EnergyError(f"{where}.events has unknown classes {', '.join(unknown)}")
    if "clock_w_per_mhz" not in e:
        raise EnergyError(f"{where}: key 'clock_w_per_mhz' is missing")
    rail = e.get("rail")
    if not isinstance(rail, str):
        raise EnergyError(f"{where}.rail must name the supply the figures are for")
    return EnergyModel(
        board=desc.id, rail=rail, clock_mhz=desc.target_mhz,
        static={k: _coef(f"{where}.static.{k}", v) for k, v in static.items()},
        clock_w_per_mhz=_coef(f"{where}.clock_w_per_mhz", e["clock_w_per_mhz"]),
        events={k: _coef(f"{where}.events.{k}_j", events[f"{k}_j"]) for k in EVENT_CLASSES},
        spram=desc.spram, notes=list(e.get("notes", [])))


def event_counts(counters: dict, geom: Geometry, *, spram: bool) -> dict[str, int]:
    """Events of each class in a run, from its full counters (see the module's table).

    Of ``weight_reads``, the leak shifts (``T*N/P`` words a token) and the biases (``V``) are
    block RAM on every board; the rest are the weight memory's words. ``fanout_reads`` counts
    fan-out entries, ``S`` a word.
    """
    c = geom.config
    tok = counters["tokens"]
    small = tok * (c.steps * geom.groups + geom.vocab_size)
    wgt_words = counters["weight_reads"] - small
    if wgt_words < 0:
        raise EnergyError(f"weight_reads={counters['weight_reads']} is fewer than the "
                          f"{small} leak and bias words {tok} tokens read")
    fan_words = -(-counters["fanout_reads"] // geom.synapse_lanes)
    large = fan_words + wgt_words
    ebr_read = counters["state_reads"] + small + (0 if spram else large)

    def blocks(mem):   # SPRAM blocks side by side in a word
        return SinglePortRAM.spram_blocks(geom.width(mem), 1)

    return {
        "cycle": counters["cycles"],
        "spram_read": fan_words * blocks(MemId.FAN) + wgt_words * blocks(MemId.WGT)
        if spram else 0,
        "ebr_read": ebr_read,
        "ebr_write": counters["state_writes"],
        "dsp_op": counters["readout_ops"],
        "uart_byte": counters.get("uart_bytes", 0),
    }
