"""``make bench-model``: the default model's figures on the validation split, printed, and
the trainer's speed (float training steps a second at the default configuration).

Run: ``python -m snnfpga.model.bench --text ../shared/data/tinyshakespeare.txt [--model M]
[--train-steps K]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

import torch

from .config import load_config
from .data import read_text, split_text
from .evaluate import evaluate
from .resources import fits_up5k, memory_report
from .train import train_surrogate
from .training import default_config_path, experiment_vocabulary

TARGETS = {"bpc": 2.35, "firing_rate": 0.10, "eval_seconds": 60.0, "train_minutes": 60.0}


def training_step_seconds(text: str, steps: int, *, warmup: int = 5,
                          compile: bool = False) -> float:
    """Seconds a float training step takes (forward, backward and update of one batch) on
    ``text``'s training split with the default configuration (``compile``: through
    torch.compile, whose compilation falls in the warm-up): the trainer's own loop, stopped
    by ``max_steps``, timed over ``steps`` steps after ``warmup``."""
    exp = load_config(default_config_path())
    vocab = experiment_vocabulary(exp, text)
    tcfg = replace(exp.train, float_minutes=60.0, qat_minutes=0.0, max_steps=warmup + steps,
                   eval_every=1 << 30, compile=compile)
    stamps: list[float] = []
    train_surrogate(exp.model, tcfg, vocab.encode(split_text(text, "train")), len(vocab),
                    log=lambda _: None, progress=lambda *_: stamps.append(time.perf_counter()))
    return (stamps[-1] - stamps[warmup - 1]) / steps


def main(argv=None) -> int:
    from ..sw_driver.api import load

    ap = argparse.ArgumentParser(prog="python -m snnfpga.model.bench", description=__doc__)
    ap.add_argument("--text", required=True)
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    ap.add_argument("--train-steps", type=int, default=20, metavar="K",
                    help="time K float training steps of the default configuration on the "
                         "training split (default 20; 0 skips)")
    ap.add_argument("--compile", action="store_true",
                    help="time the training steps run through torch.compile (train.compile); "
                         "compiling takes minutes")
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
    train_s = meta.get("train_seconds")
    if train_s is not None:   # the surrogate's training, then the readout pass if it had one
        extra = meta.get("readout_pass", {}).get("seconds", 0)
        parts = (f"snnfpga train's {train_s / 60:.1f} + the readout pass's {extra / 60:.1f}"
                 if extra else "recorded by snnfpga train")
        train_s += extra
        print(f"training time        {train_s / 60:.1f} min ({parts})")
    if args.train_steps > 0:
        tcfg = load_config(default_config_path()).train
        t0 = time.perf_counter()
        sec = training_step_seconds(read_text(args.text), args.train_steps,
                                    compile=args.compile)
        how = f", compiled ({time.perf_counter() - t0:.0f} s in all)" if args.compile else ""
        print(f"training step        {sec:.3f} s ({1 / sec:.2f} steps/s, "
              f"{tcfg.batch * tcfg.seq_len / sec:,.0f} characters/s; batch {tcfg.batch} x "
              f"{tcfg.seq_len}, {torch.get_num_threads()} threads, mean of {args.train_steps}"
              f"{how})")
    print()
    print("\n".join(memory_report(model.config, len(model.vocab))))
    print()
    rows = [
        ("integer val BPC", rep.bpc, TARGETS["bpc"], rep.bpc <= TARGETS["bpc"]),
        ("firing rate", rep.firing_rate, TARGETS["firing_rate"],
         rep.firing_rate <= TARGETS["firing_rate"]),
        ("evaluation seconds", dt, TARGETS["eval_seconds"], dt <= TARGETS["eval_seconds"]),
    ]
    if train_s is not None:
        m = train_s / 60
        rows.append(("training minutes", m, TARGETS["train_minutes"],
                     m <= TARGETS["train_minutes"]))
    rows.append(("fits the UP5K", 1.0, 1.0, fits_up5k(model.config, len(model.vocab))))
    print(f"{'figure':22s} {'measured':>10s} {'target':>8s}  met")
    for name, val, tgt, ok in rows:
        print(f"{name:22s} {val:10.4f} {tgt:8.2f}  {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
