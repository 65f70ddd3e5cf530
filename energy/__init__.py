"""Energy per spike: estimated from the hardware counters, measured with an INA226, calibrated.

The API::

    from snnfpga import energy
    text, run = energy.generate_counts("ROMEO:", max_new_tokens=100)     # any back-end
    report = energy.estimate(run, "icebreaker")                        # labelled estimated
    print(report)                      # per character, per spike, per synaptic event, dense

* :mod:`.counters`: every hardware counter from what a back-end reports; the dense network's
* :mod:`.model`: a board's energy model (``energy:`` in its description), with sources
* :mod:`.estimate`: :func:`estimate` and :class:`EnergyReport`
* :mod:`.ina226`: the monitor's driver, I2C buses and a behavioural model
* :mod:`.measure`: power integration, idle subtraction, measured reports
* :mod:`.calibrate`: least-squares fit of the event energies
* :mod:`.bench`: ``python -m snnfpga.energy.bench``
"""

from .counters import EnergyError, RunCounts, dense_counters, derive_counters
from .estimate import EnergyReport, estimate, format_energy, format_power
from .model import EVENT_CLASSES, EnergyModel, event_counts, load_energy_model
from .run import generate_counts, text_counts

__all__ = [
    "CalibrationRun", "EVENT_CLASSES", "EnergyError", "EnergyModel", "EnergyReport", "Fit",
    "RunCounts", "dense_counters", "derive_counters", "estimate", "event_counts", "fit",
    "format_energy", "format_power", "generate_counts", "load_energy_model", "save_fit",
    "text_counts",
]


def __getattr__(name):
    # the calibration is imported on use, so that ``python -m snnfpga.energy.calibrate`` runs
    # its module once
    if name in ("CalibrationRun", "Fit", "fit", "save_fit"):
        from . import calibrate
        return getattr(calibrate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
