"""Energy of a run from its counters and a device's energy model, beside the dense network's.

:func:`estimate` takes the counters any back-end reports (``snnfpga.generate(...,
counters=d)``; the golden back-end's four are completed by
:func:`~snnfpga.energy.counters.derive_counters`) and returns an :class:`EnergyReport`:
energy per character, per spike and per synaptic event, average power over the time the
core computed, the breakdown by event class, and the same for a dense core on the same FPGA.
The report is always labelled *estimated*.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..boards.description import BoardDescription, load_board
from ..hw.memmap import Geometry
from .counters import EnergyError, RunCounts, default_geometry, dense_counters, derive_counters
from .model import EVENT_CLASSES, EnergyModel, event_counts, load_energy_model

__all__ = ["Breakdown", "EnergyReport", "estimate", "breakdown", "format_energy",
           "format_power"]

_PREFIXES = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


def _si(x: float, unit: str, digits: int = 3) -> str:
    if x == 0:
        return f"0 {unit}"
    x = float(f"{x:.{digits}g}")   # rounded first: 999.96e-9 is "1 µJ", not "1e+03 nJ"
    for scale, p in _PREFIXES:
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g} {p}{unit}"
    return f"{x / 1e-15:.{digits}g} f{unit}"


def format_energy(joules: float) -> str:
    """``joules`` with the SI prefix that puts it in [1, 1000): ``"4.21 µJ"``."""
    return _si(joules, "J")


def format_power(watts: float) -> str:
    """``watts`` with an SI prefix: ``"2.05 mW"``."""
    return _si(watts, "W")


@dataclass
class Breakdown:
    """Energy of one run by part, in J.

    Attributes
    ----------
    counters : dict
        The run's full counters.
    events : dict
        Events of each class (:data:`~snnfpga.energy.model.EVENT_CLASSES`).
    parts : dict
        ``"idle"`` (idle power over the busy time) and each event class: energy in J.
    busy_s : float
        Time the core computed: ``cycles / clock``.
    cycles_exact : bool
        Cycles read from the chip or derived with a measured overhead (else the bound).
    """

    counters: dict
    events: dict
    parts: dict
    busy_s: float
    cycles_exact: bool

    @property
    def total_j(self) -> float:
        return sum(self.parts.values())

    @property
    def dynamic_j(self) -> float:
        """Energy above the idle power: what an idle-subtracted measurement sees."""
        return self.total_j - self.parts["idle"]

    @property
    def power_w(self) -> float:
        """Average power while the core computes."""
        return self.total_j / self.busy_s if self.busy_s else 0.0

    def per(self, what: str, *, dynamic: bool = False) -> float:
        """Energy per ``"char"`` (token fed), ``"spike"`` or ``"syn_event"``, in J."""
        key = {"char": "tokens", "spike": "spikes", "syn_event": "syn_events"}[what]
        n = self.counters[key]
        e = self.dynamic_j if dynamic else self.total_j
        return e / n if n else float("nan")


def breakdown(run: RunCounts, model: EnergyModel, geom: Geometry) -> Breakdown:
    """Energy of a run's counters under ``model``."""
    ev = event_counts(run.counters, geom, spram=model.spram)
    busy = run.counters["cycles"] / (model.clock_mhz * 1e6)
    parts = {"idle": model.idle_w * busy}
    for k in EVENT_CLASSES:
        parts[k] = ev[k] * model.events[k].value
    return Breakdown(run.counters, ev, parts, busy, run.cycles_exact)


@dataclass
class EnergyReport:
    """Energy of a run (event-driven) and of the same network evaluated densely.

    ``label`` is ``"estimated"`` for figures from an energy model; the measured figures of
    :mod:`snnfpga.energy.measure` carry ``"measured"``.
    """

    board: str
    model: EnergyModel
    event: Breakdown
    dense: Breakdown
    counters_source: str
    label: str = "estimated"

    @property
    def ratio(self) -> float:
        """Dense over event-driven energy (idle power over the busy time included)."""
        return self.dense.total_j / self.event.total_j

    @property
    def dynamic_ratio(self) -> float:
        """Dense over event-driven energy above idle."""
        return self.dense.dynamic_j / self.event.dynamic_j

    def as_dict(self) -> dict:
        e, d = self.event, self.dense
        return {
            "label": self.label, "board": self.board, "counters": e.counters,
            "counters_source": self.counters_source, "cycles_exact": e.cycles_exact,
            "clock_mhz": self.model.clock_mhz, "busy_s": e.busy_s,
            "energy_j": e.total_j, "dynamic_j": e.dynamic_j, "power_w": e.power_w,
            "per_char_j": e.per("char"), "per_spike_j": e.per("spike"),
            "per_syn_event_j": e.per("syn_event"), "parts_j": e.parts,
            "dense": {"counters": d.counters, "energy_j": d.total_j,
                      "dynamic_j": d.dynamic_j, "per_char_j": d.per("char"),
                      "parts_j": d.parts},
            "dense_over_event": self.ratio, "dense_over_event_dynamic": self.dynamic_ratio,
            "coefficients": {k: {"value": c.value, "kind": c.kind}
                             for k, c in self.model.events.items()},
        }

    def lines(self) -> list[str]:
        """The report as text; every energy figure is labelled with :attr:`label`."""
        e, d, m, lab = self.event, self.dense, self.model, self.label
        k = e.counters
        cyc = "exact" if e.cycles_exact else "an estimate, a lower bound"
        cal = f"; calibrated from {m.calibration}" if m.calibration else ""
        out = [
            f"energy ({lab}) on {self.board}, {m.rail}, {m.clock_mhz:g} MHz{cal}",
            f"  run: {k['tokens']} characters, {k['spikes']} spikes, {k['syn_events']} "
            f"synaptic events, {k['cycles']} cycles ({cyc}); counters "
            f"{self.counters_source}",
            f"  per character       {format_energy(e.per('char')):>10}  ({lab})",
            f"  per spike           {format_energy(e.per('spike')):>10}  ({lab})",
            f"  per synaptic event  {format_energy(e.per('syn_event')):>10}  ({lab})",
            f"  average power       {format_power(e.power_w):>10}  ({lab}, while computing "
            f"{e.busy_s / max(k['tokens'], 1) * 1e6:.0f} µs a character)",
            f"  breakdown ({lab}):",
        ]
        for part, j in e.parts.items():
            share = j / e.total_j if e.total_j else 0.0
            kind = "idle power x busy time" if part == "idle" else \
                f"{e.events[part]} events, {m.events[part].kind}"
            out.append(f"    {part:<11} {format_energy(j / max(k['tokens'], 1)):>10}/char "
                       f"{share:6.1%}  ({kind})")
        out += [
            f"  dense evaluation of the same network ({lab}): every synapse and neuron every "
            "step, every readout feature",
            f"    per character     {format_energy(d.per('char')):>10}  "
            f"({d.counters['syn_events'] // max(k['tokens'], 1)} synaptic events, "
            f"{d.counters['cycles'] / max(k['tokens'], 1):.0f} cycles a character)",
            f"  dense / event-driven: {self.ratio:.2f}x ({lab}, idle power included); "
            f"{self.dynamic_ratio:.2f}x above idle",
        ]
        assumed = [f"static {c}" for c, v in m.static.items() if v.kind == "assumed"]
        assumed += ["clock_w_per_mhz"] if m.clock_w_per_mhz.kind == "assumed" else []
        assumed += [c for c, v in m.events.items() if v.kind == "assumed"]
        if assumed:
            out.append(f"  note: assumed figures (no published source, to calibrate): "
                       f"{', '.join(assumed)}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def estimate(counters: dict | RunCounts, board: str | BoardDescription | EnergyModel =
             "icebreaker", *, model=None, geom: Geometry | None = None,
             calibrated: bool = False, last_neuron_spikes: int | None = None,
             resets: int = 0) -> EnergyReport:
    """Estimate the energy of a run on a board and of the same network run densely.

    Parameters
    ----------
    counters : dict or RunCounts
        The run's counters as any back-end fills them (``snnfpga.generate(counters=...)``),
        or a :class:`~snnfpga.energy.counters.RunCounts`.
    board : str, BoardDescription or EnergyModel
        The board whose energy model applies (default ``"icebreaker"``).
    model : path, SpikingModel or None
        The spiking model that ran (for its geometry); ``None`` is the default model.
    geom : Geometry, optional
        The core's geometry; default: the model with the board's lane counts.
    calibrated : bool
        Use the board's fitted event energies (``energy/calibration/<board>.json``).
    last_neuron_spikes, resets
        For exact cycles from golden counts (see
        :func:`~snnfpga.energy.counters.derive_counters`).
    """
    from ..sw_driver.api import load

    if isinstance(board, EnergyModel):
        em, desc = board, load_board(board.board)
    else:
        desc = board if isinstance(board, BoardDescription) else load_board(board)
        em = load_energy_model(desc)
    if calibrated:
        em = em.calibrated()
    if geom is None:
        geom = default_geometry(load(model), desc)
    run = counters if isinstance(counters, RunCounts) else derive_counters(
        counters, geom, last_neuron_spikes=last_neuron_spikes, resets=resets)
    if run.counters["tokens"] == 0:
        raise EnergyError("the run fed no characters: nothing to report per character")
    return EnergyReport(desc.id, em, breakdown(run, em, geom),
                        breakdown(dense_counters(run, geom), em, geom), run.source)
