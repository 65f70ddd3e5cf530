"""Energy benchmark: the default model on the UP5K, and energy against firing rate.

``python -m snnfpga.energy.bench --text tinyshakespeare.txt`` feeds the first ``--chars``
characters of the validation split through the golden model (one RESET, then every
character; the counters are derived exactly, cycles included, see
:mod:`snnfpga.energy.counters`), and prints the estimated energy per character, per spike
and per synaptic event on the board (default: iCEBreaker), the dense evaluation beside it
and their ratio. It then runs the same weights at several thresholds over
``--sweep-chars`` characters and plots energy per character against firing rate
(``--plot``, PNG).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from .counters import default_geometry
from .estimate import estimate, format_energy

__all__ = ["main", "sweep_thresholds"]

DEFAULT_THRESHOLDS = (96, 128, 160, 192, 224, 256, 320, 384, 512)


def with_threshold(model, threshold: int):
    """The same weights with another firing threshold."""
    from ..model.modelfile import SpikingModel

    cfg = dataclasses.replace(model.config, threshold=threshold)
    return SpikingModel(cfg, model.vocab, model.weights, dict(model.meta))


def sweep_thresholds(model, text: str, thresholds, board: str = "icebreaker") -> list[dict]:
    """Firing rate and estimated energy per character (event-driven and dense) per threshold.

    Firing rate is spikes per neuron per time step.
    """
    from ..boards.description import load_board
    from .run import text_counts

    desc = load_board(board)
    rows = []
    for th in thresholds:
        m = with_threshold(model, th)
        geom = default_geometry(m, desc)
        run, _ = text_counts(text, model=m, geom=geom)
        rep = estimate(run, desc, model=m, geom=geom)
        k = run.counters
        c = m.config
        rows.append({
            "threshold": th,
            "firing_rate": k["spikes"] / (k["tokens"] * c.neurons * c.steps),
            "spikes_per_char": k["spikes"] / k["tokens"],
            "syn_events_per_char": k["syn_events"] / k["tokens"],
            "energy_per_char_j": rep.event.per("char"),
            "dense_energy_per_char_j": rep.dense.per("char"),
            "dense_over_event": rep.ratio,
        })
    return rows


def plot(rows: list[dict], path: Path, *, board: str, chars: int) -> Path:
    """Energy per character against firing rate, event-driven and dense, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["firing_rate"] * 100 for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.plot(x, [r["energy_per_char_j"] * 1e6 for r in rows], "o-", label="event-driven core")
    ax.plot(x, [r["dense_energy_per_char_j"] * 1e6 for r in rows], "s--",
            label="dense core, same FPGA")
    for r, xi in zip(rows, x, strict=True):
        ax.annotate(f"θ={r['threshold']}", (xi, r["energy_per_char_j"] * 1e6),
                    textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("firing rate (spikes per neuron per time step, %)")
    ax.set_ylabel("energy per character (µJ, estimated)")
    ax.set_title(f"Estimated energy per character on {board}\n"
                 f"default model's weights, thresholds varied, {chars} validation chars",
                 fontsize=9)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    from ..model.data import read_text, shared_corpus, split_text
    from ..sw_driver.api import load

    p = argparse.ArgumentParser(prog="python -m snnfpga.energy.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", default=None, help="text file (default: tinyshakespeare.txt)")
    p.add_argument("--model", default=None, help="model file (default: the shipped model)")
    p.add_argument("--board", default="icebreaker")
    p.add_argument("--chars", type=int, default=2000, help="validation characters")
    p.add_argument("--sweep-chars", type=int, default=500,
                   help="validation characters per threshold of the sweep")
    p.add_argument("--thresholds", default=",".join(map(str, DEFAULT_THRESHOLDS)),
                   help="comma-separated thresholds for the sweep ('' to skip it)")
    p.add_argument("--plot", default="build/energy/energy_vs_firing_rate.png",
                   help="PNG of the sweep")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    a = p.parse_args(argv)

    text_path = a.text or shared_corpus()
    if text_path is None:
        print("error: tinyshakespeare.txt not found; pass --text or set SNNFPGA_DATA",
              file=sys.stderr)
        return 2
    val = split_text(read_text(text_path), "val")
    model = load(a.model)
    t0 = time.perf_counter()
    from ..boards.description import load_board
    from .run import text_counts

    desc = load_board(a.board)
    geom = default_geometry(model, desc)
    run, _ = text_counts(val[: a.chars], model=model, geom=geom)
    rep = estimate(run, desc, model=model, geom=geom)
    print(f"model: {Path(a.model).name if a.model else 'default.snnm'}; "
          f"{run.counters['tokens']} validation characters; golden back-end, counters derived")
    print(rep)
    print("\nsummary (estimated):")
    print(f"  energy per character      {format_energy(rep.event.per('char'))}")
    print(f"  energy per spike          {format_energy(rep.event.per('spike'))}")
    print(f"  energy per synaptic event {format_energy(rep.event.per('syn_event'))}")
    print(f"  dense / event-driven      {rep.ratio:.2f}x")
    out = {"benchmark": rep.as_dict()}
    assumed = [k for k, c in rep.model.events.items() if c.kind == "assumed"]
    if assumed:
        print(f"  sensitivity to the assumed figures ({', '.join(assumed)}):")
        sens = {}
        for f in (0.0, 0.5, 2.0, 4.0):
            em = rep.model.with_events({k: rep.model.events[k].value * f for k in assumed},
                                       kind="assumed", source=f"x{f:g}")
            r = estimate(run, em, model=model, geom=geom)
            sens[f] = {"per_char_j": r.event.per("char"), "dense_over_event": r.ratio}
            print(f"    x{f:<4g} energy per character {format_energy(r.event.per('char')):>9}, "
                  f"dense / event-driven {r.ratio:.2f}x")
        out["sensitivity"] = sens
    ths = [int(t) for t in a.thresholds.split(",") if t.strip()]
    if ths:
        rows = sweep_thresholds(model, val[: a.sweep_chars], ths, a.board)
        print(f"\nthreshold sweep ({a.sweep_chars} validation characters each, estimated):")
        print("  threshold  firing rate  spikes/char  energy/char  dense/char  dense/event")
        for r in rows:
            print(f"  {r['threshold']:9d}  {r['firing_rate']:10.2%}  "
                  f"{r['spikes_per_char']:11.1f}  "
                  f"{format_energy(r['energy_per_char_j']):>11}  "
                  f"{format_energy(r['dense_energy_per_char_j']):>10}  "
                  f"{r['dense_over_event']:10.2f}x")
        path = plot(rows, Path(a.plot), board=desc.name, chars=a.sweep_chars)
        print(f"plot: {path}")
        out["sweep"] = rows
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"\ntime: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
