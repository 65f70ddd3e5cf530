"""Measured energy: integrate an INA226's power over a run, subtract the idle power.

:class:`PowerIntegrator` reads one power result per conversion period (paced by the CVRF
flag, :class:`~snnfpga.energy.ina226.Ina226`) and integrates it: ``E = sum(P_k * t_conv)``.
Conversions are back to back, so the integral covers the window without gaps; a poll that
comes late (more than one period since the last result) counts the missed periods at the
power of the result it finds, and says so in :attr:`Measurement.missed`.

:func:`measure_run` first measures the idle power (the board configured, clocked, waiting),
then integrates over the whole conversion periods that contain the run and subtracts the
idle power over the same window. What is left is the energy the run added; divided by the
run's counters it gives energy per character, per spike and per synaptic event, labelled
*measured*.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .counters import EnergyError, RunCounts
from .estimate import format_energy, format_power
from .ina226 import Ina226, Ina226Model

__all__ = ["Clock", "WallClock", "SimClock", "PowerIntegrator", "Measurement",
           "MeasuredReport", "measure_run", "measured_report", "open_monitor"]


class Clock:
    """Time as the meter sees it."""

    def now(self) -> float:
        raise NotImplementedError

    def sleep(self, s: float) -> None:
        raise NotImplementedError


class WallClock(Clock):
    def now(self):
        return time.monotonic()

    def sleep(self, s):
        time.sleep(s)


class SimClock(Clock):
    """The simulated time of an :class:`~snnfpga.energy.ina226.Ina226Model`."""

    def __init__(self, device: Ina226Model):
        self.device = device

    def now(self):
        return self.device.now

    def sleep(self, s):
        self.device.advance(self.device.now + s)


@dataclass
class PowerIntegrator:
    """Energy from one power result per conversion period."""

    ina: Ina226
    clock: Clock
    poll_s: float = 1e-3
    energy_j: float = 0.0
    periods: int = 0
    missed: int = 0
    bound_j: float = 0.0
    samples: list = field(default_factory=list)
    _last: float | None = None

    def sync(self) -> float:
        """Wait for a conversion to finish; return the time. Integration starts from here."""
        self.ina.ready()                      # clear a stale flag
        while not self.ina.ready():
            self.clock.sleep(self.poll_s)
        self._last = self.clock.now()
        return self._last

    def poll(self) -> bool:
        """Integrate the latest result if a conversion finished; True if one did."""
        if not self.ina.ready():
            return False
        t = self.clock.now()
        p = self.ina.power_w()
        period = self.ina.period_s
        n = max(1, round((t - self._last) / period)) if self._last is not None else 1
        self.missed += n - 1
        self.energy_j += p * period * n
        self.periods += n
        # quantisation bound of this result (datasheet LSBs), times the time it stands for
        self.bound_j += self.ina.quantisation_w(self.ina.bus_v(), self.ina.current_a()) \
            * period * n
        self.samples.append((t, p))
        self._last = t
        return True

    @property
    def window_s(self) -> float:
        return self.periods * self.ina.period_s

    def run_for(self, seconds: float) -> None:
        """Integrate whole conversion periods for at least ``seconds``."""
        start = self.periods
        need = max(1, round(seconds / self.ina.period_s))
        while self.periods - start < need:
            if not self.poll():
                self.clock.sleep(self.poll_s)


@dataclass
class Measurement:
    """The energy a run drew on the monitored rail.

    Attributes
    ----------
    energy_j : float
        Integral of power over the run's window (whole conversion periods).
    window_s : float
        That window.
    idle_w : float
        Idle power measured before the run.
    dynamic_j : float
        ``energy_j - idle_w * window_s``: the energy the run added.
    bound_j : float
        Bound on the error of ``dynamic_j`` from the INA226's register resolution: each
        result's bound times its period, in the run and (scaled to the window) in the idle
        measurement.
    missed : int
        Conversion periods not read on time (counted at the next result's power).
    """

    energy_j: float
    window_s: float
    idle_w: float
    dynamic_j: float
    bound_j: float
    missed: int
    samples: list


def measure_run(ina: Ina226, start, done, *, clock: Clock | None = None,
                idle_s: float = 2.0, poll_s: float = 1e-3) -> Measurement:
    """Measure idle power for ``idle_s``, then the energy of the run that ``start()``
    begins and ``done()`` reports finished (both return at once: a run goes on in the
    background, e.g. in a thread)."""
    clock = clock or WallClock()
    idle = PowerIntegrator(ina, clock, poll_s)
    idle.sync()
    idle.run_for(idle_s)
    idle_w = idle.energy_j / idle.window_s
    run = PowerIntegrator(ina, clock, poll_s)
    run.sync()
    start()
    finished = False
    while True:
        got = run.poll()
        if got and finished:
            break                            # a whole period after the run's end
        if not got:
            finished = finished or done()
            clock.sleep(poll_s)
    bound = run.bound_j + idle.bound_j * run.window_s / idle.window_s
    return Measurement(run.energy_j, run.window_s, idle_w, run.energy_j - idle_w * run.window_s,
                       bound, run.missed + idle.missed, run.samples)


@dataclass
class MeasuredReport:
    """Measured energy per character, per spike and per synaptic event of one run."""

    board: str
    measurement: Measurement
    counters: dict
    label: str = "measured"

    def per(self, what: str) -> float:
        key = {"char": "tokens", "spike": "spikes", "syn_event": "syn_events"}[what]
        n = self.counters[key]
        return self.measurement.dynamic_j / n if n else float("nan")

    def lines(self) -> list[str]:
        m, k, lab = self.measurement, self.counters, self.label
        return [
            f"energy ({lab}) on {self.board}: INA226, idle power subtracted",
            f"  run window {m.window_s:.3f} s, {k['tokens']} characters, {k['spikes']} spikes, "
            f"{k['syn_events']} synaptic events",
            f"  idle power          {format_power(m.idle_w):>10}  ({lab})",
            f"  run energy          {format_energy(m.energy_j):>10}  ({lab}), above idle "
            f"{format_energy(m.dynamic_j)} ± {format_energy(m.bound_j)} (register resolution)",
            f"  per character       {format_energy(self.per('char')):>10}  ({lab}, above idle)",
            f"  per spike           {format_energy(self.per('spike')):>10}  ({lab}, above idle)",
            f"  per synaptic event  {format_energy(self.per('syn_event')):>10}  "
            f"({lab}, above idle)",
        ] + ([f"  warning: {m.missed} conversion periods read late"] if m.missed else [])

    def __str__(self):
        return "\n".join(self.lines())


def measured_report(board: str, measurement: Measurement, run: RunCounts) -> MeasuredReport:
    return MeasuredReport(board, measurement, run.counters)


def open_monitor(board, i2c: str | None, *, max_current_a: float = 0.05) -> Ina226:
    """The board's INA226 on the host's I2C adapter ``i2c`` (``/dev/i2c-N``), checked.

    Raises :class:`EnergyError` with a plain message when no monitor is attached.
    """
    from ..boards.description import BoardDescription, load_board
    from .ina226 import LinuxI2CBus

    desc = board if isinstance(board, BoardDescription) else load_board(board)
    mon = desc.current_monitor
    if mon is None:
        raise EnergyError(f"no current monitor: board '{desc.id}' describes none "
                          "(current_monitor in its description)")
    if not mon.fitted:
        raise EnergyError(f"no current monitor attached: board '{desc.id}' describes its "
                          f"{mon.part} as not fitted (current_monitor.fitted: false in "
                          f"{desc.path.name if desc.path else desc.id}); fit one on the "
                          f"{mon.rail}, set fitted: true and pass --i2c /dev/i2c-N")
    if i2c is None:
        raise EnergyError(f"no current monitor attached to this host: pass --i2c with the "
                          f"USB-I2C adapter the {mon.part} hangs on (e.g. /dev/i2c-1)")
    ina = Ina226(LinuxI2CBus(i2c), address=mon.address, shunt_ohm=mon.shunt_ohm,
                 max_current_a=max_current_a)
    ina.check()
    return ina


def run_in_thread(fn):
    """``(start, done, result)`` for :func:`measure_run` around a blocking ``fn()``."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:      # handed to the caller by result()
            box["error"] = e

    th = threading.Thread(target=target, daemon=True)

    def result():
        th.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    return th.start, (lambda: not th.is_alive()), result
