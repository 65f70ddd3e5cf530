"""``make bench-model``: the default model's figures on the validation split, printed.

Run: ``python -m snnfpga.model.bench --text ../shared/data/tinyshakespeare.txt [--model M]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from .data import read_text, split_text
from .evaluate import evaluate
from .resources import fits_up5k, memory_report

TARGETS = {"bpc": 2.35, "firing_rate": 0.10, "eval_seconds": 60.0, "train_minutes": 60.0}


def main(argv=None) -> int:
    from ..sw_driver.api import load

    ap = argparse.ArgumentParser(prog="python -m snnfpga.model.bench", description=__doc__)
    ap.add_argument("--text", required=True)
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    args = ap.parse_args(argv)
    model = load(args.model)
    text = split_text(read_text(args.text), "val")
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"model: {args.model or 'default'}; validation split: {len(text)} characters")
    t0 = time.perf_counter()
    rep = evaluate(model, text)
    dt = time.perf_counter() - t0
    print("\n".join(rep.lines()))
    print(f"evaluation time      {dt:.1f} s ({rep.chars / dt:.0f} characters/s)")
    meta = model.meta
    if "float_val_bpc" in meta:
        print(f"float surrogate BPC  {meta['float_val_bpc']:.4f} (integer - float = "
              f"{rep.bpc - meta['float_val_bpc']:+.4f})")
    if "train_seconds" in meta:
        print(f"training time        {meta['train_seconds'] / 60:.1f} min "
              f"(recorded by snnfpga train)")
    print()
    print("\n".join(memory_report(model.config, len(model.vocab))))
    print()
    rows = [
        ("integer val BPC", rep.bpc, TARGETS["bpc"], rep.bpc <= TARGETS["bpc"]),
        ("firing rate", rep.firing_rate, TARGETS["firing_rate"],
         rep.firing_rate <= TARGETS["firing_rate"]),
        ("evaluation seconds", dt, TARGETS["eval_seconds"], dt <= TARGETS["eval_seconds"]),
    ]
    if "train_seconds" in meta:
        m = meta["train_seconds"] / 60
        rows.append(("training minutes", m, TARGETS["train_minutes"],
                     m <= TARGETS["train_minutes"]))
    rows.append(("fits the UP5K", 1.0, 1.0, fits_up5k(model.config, len(model.vocab))))
    print(f"{'figure':22s} {'measured':>10s} {'target':>8s}  met")
    for name, val, tgt, ok in rows:
        print(f"{name:22s} {val:10.4f} {tgt:8.2f}  {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
