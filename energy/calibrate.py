"""Fit the energy model's event energies to measured runs (least squares).

Each measured run gives its events per class (from its counters,
:func:`~snnfpga.energy.model.event_counts`) and its measured energy above idle. The fit
solves ``E_run = sum_k e_k * n_run,k`` for the energies ``e_k`` in the least-squares sense
(``numpy.linalg.lstsq``), over the classes that occur in the runs (a class with no events,
such as SPRAM on the ECP5, keeps its description figure). Runs at several activity levels
(prompts, temperatures, seeds) are needed, and they are not enough for every class: in runs
of one bitstream every class count is an affine function of the tokens, the synaptic events
and the readout features (``hw/core.py`` reads a fixed pattern per token, per event and per
feature), so such runs determine at most three energies. Fit three classes (``classes``)
and hold the others at their description figures (``fixed``); the fit refuses a system it
cannot separate and reports the condition number and each coefficient's standard error.

The result goes to ``energy/calibration/<board>.json``, never into the board description:
the description keeps the published figures and their sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .counters import EnergyError
from .model import CALIBRATION_DIR, EVENT_CLASSES

__all__ = ["CalibrationRun", "Fit", "fit", "load_runs", "main", "save_fit", "synthetic_runs"]


@dataclass
class CalibrationRun:
    """One measured run: events per class and the measured energy above idle (J)."""

    events: dict
    energy_j: float
    label: str = ""


@dataclass
class Fit:
    """Fitted event energies and how well they explain the runs.

    Attributes
    ----------
    coefficients : dict
        J per event for every fitted class.
    stderr : dict
        Standard error of each coefficient (J), from the residual variance.
    residuals_j : list of float
        Measured minus fitted energy of every run.
    rms_rel : float
        Root-mean-square of the residuals relative to the measured energies.
    condition : float
        Condition number of the (column-scaled) event matrix.
    """

    classes: list
    coefficients: dict
    stderr: dict
    residuals_j: list
    rms_rel: float
    condition: float
    runs: int

    def lines(self) -> list[str]:
        out = [f"fit over {self.runs} runs: rms error {self.rms_rel:.2%} of the measured "
               f"energy, condition number {self.condition:.3g}"]
        for k in self.classes:
            out.append(f"  {k:<11} {self.coefficients[k] * 1e12:10.3f} pJ  "
                       f"± {self.stderr[k] * 1e12:.3f} pJ")
        return out


#: Condition number beyond which the runs are taken not to separate the fitted classes.
MAX_CONDITION = 1e6


def fit(runs: list[CalibrationRun], *, classes=None, fixed: dict | None = None) -> Fit:
    """Least-squares event energies from measured runs.

    Parameters
    ----------
    runs : list of CalibrationRun
        Events per class and measured energy above idle (J) of each run.
    classes : list of str, optional
        Classes to fit; default: every class with events that is not ``fixed``.
    fixed : dict, optional
        Energies (J per event) of classes held, not fitted: their share is subtracted from
        each run's energy first.
    """
    fixed = dict(fixed or {})
    if classes is None:
        classes = [k for k in EVENT_CLASSES
                   if k not in fixed and any(r.events.get(k, 0) for r in runs)]
    classes = list(classes)
    unknown = [k for k in [*classes, *fixed] if k not in EVENT_CLASSES]
    if unknown:
        raise EnergyError(f"unknown event classes {', '.join(unknown)}: expected some of "
                          f"{', '.join(EVENT_CLASSES)}")
    if len(runs) < len(classes):
        raise EnergyError(f"{len(runs)} runs cannot determine {len(classes)} coefficients "
                          f"({', '.join(classes)}): measure at least as many activity levels")
    a = np.array([[float(r.events.get(k, 0)) for k in classes] for r in runs])
    y = np.array([r.energy_j - sum(e * r.events.get(k, 0) for k, e in fixed.items())
                  for r in runs])
    scale = np.linalg.norm(a, axis=0)
    if np.any(scale == 0):
        raise EnergyError("a fitted class has no events in any run")
    an = a / scale
    sol, _, rank, sv = np.linalg.lstsq(an, y, rcond=None)
    if rank < len(classes) or sv[0] / sv[-1] > MAX_CONDITION:
        raise EnergyError(
            f"the runs do not separate the classes {', '.join(classes)} (condition number "
            f"{sv[0] / sv[-1] if sv[-1] else float('inf'):.3g}): in runs of one bitstream "
            "every class is affine in tokens, synaptic events and readout features; fit at "
            "most three classes and fix the others at their description figures")
    coef = sol / scale
    res = y - a @ coef
    dof = len(runs) - len(classes)
    sigma2 = float(res @ res) / dof if dof > 0 else 0.0
    cov = sigma2 * np.linalg.inv(an.T @ an)
    stderr = np.sqrt(np.diag(cov)) / scale
    rel = res / np.where(y != 0, y, 1.0)
    return Fit(classes, {k: float(v) for k, v in zip(classes, coef, strict=True)},
               {k: float(v) for k, v in zip(classes, stderr, strict=True)},
               [float(x) for x in res], float(np.sqrt(np.mean(rel ** 2))),
               float(sv[0] / sv[-1]), len(runs))


def save_fit(board: str, f: Fit, *, path: str | Path | None = None, note: str = "",
             fixed: dict | None = None) -> Path:
    """Write the fit to ``energy/calibration/<board>.json`` (or ``path``)."""
    p = Path(path) if path is not None else CALIBRATION_DIR / f"{board}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({
        "board": board, "coefficients": f.coefficients, "stderr": f.stderr,
        "rms_rel": f.rms_rel, "condition": f.condition, "runs": f.runs,
        "residuals_j": f.residuals_j, "fixed": fixed or {}, "note": note}, indent=2) + "\n")
    return p


def synthetic_runs(coefficients: dict, events: list[dict], *, noise_rel: float = 0.0,
                   seed: int = 0) -> list[CalibrationRun]:
    """Runs whose energies follow ``coefficients`` exactly, times ``1 + N(0, noise_rel)``."""
    rng = np.random.default_rng(seed)
    out = []
    for i, ev in enumerate(events):
        e = sum(coefficients[k] * ev.get(k, 0) for k in coefficients)
        out.append(CalibrationRun(ev, float(e * (1 + noise_rel * rng.standard_normal())),
                                  f"synthetic {i}"))
    return out


def load_runs(path: str | Path) -> list[CalibrationRun]:
    """Measured runs from a JSON-lines file (``snnfpga energy --measure --record FILE``):
    one object a line with ``events`` and ``energy_j`` (above idle)."""
    runs = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            runs.append(CalibrationRun(dict(d["events"]), float(d["energy_j"]),
                                       d.get("label", f"line {n}")))
        except (ValueError, KeyError, TypeError) as e:
            raise EnergyError(f"{path}:{n}: expected a JSON object with events and energy_j "
                              f"({e})") from None
    return runs


def main(argv=None) -> int:
    """``python -m snnfpga.energy.calibrate --board B --runs FILE``: fit, report, save."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m snnfpga.energy.calibrate",
                                description=main.__doc__)
    p.add_argument("--board", default="icebreaker")
    p.add_argument("--runs", required=True,
                   help="JSON lines of measured runs (snnfpga energy --measure --record)")
    p.add_argument("--fit", default="cycle,spram_read,dsp_op",
                   help="classes to fit (comma-separated; 'all' for every class with events); "
                        "the others are held at the board description's figures")
    p.add_argument("--out", default=None, help="default: energy/calibration/<board>.json")
    a = p.parse_args(argv)
    from .model import load_energy_model

    try:
        runs = load_runs(a.runs)
        em = load_energy_model(a.board)
        if a.fit == "all":
            classes, fixed = None, {}
        else:
            classes = [k.strip() for k in a.fit.split(",") if k.strip()]
            fixed = {k: c.value for k, c in em.events.items() if k not in classes}
        f = fit(runs, classes=classes, fixed=fixed)
    except EnergyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(f.lines()))
    if fixed:
        print(f"  held at the description's figures: {', '.join(fixed)}")
    out = save_fit(a.board, f, path=a.out, note=f"fitted from {a.runs}", fixed=fixed)
    print(f"saved: {out}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
