"""``snnfpga bench``: run the benchmark suite and write the report.

Run: ``python -m snnfpga.bench.suite --text ../shared/data/tinyshakespeare.txt [--quick]``.
Every figure is measured on the validation split (the last 10 % of the text), streaming:
the spiking networks run it as a few contiguous streams, each from rest and never reset;
the baselines run it as one stream. Readouts and baselines learn only from the training
split (the first 90 %).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..model.data import read_text, split_text
from ..model.golden import readout_ops
from ..model.modelfile import SpikingModel
from . import network as nw
from .baselines import (
    KneserNey,
    eval_network,
    macs_per_char,
    quantize_params,
    size_for_budget,
    train_network,
)
from .readout import bpc, fit_readout, integer_readout_logits, select

__all__ = ["BenchConfig", "QUICK", "FULL", "run_bench", "weight_bits", "budget_bits",
           "networks_per_seed", "add_arguments", "run_from_args", "render", "main"]


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one benchmark run.

    Attributes
    ----------
    train_chars : int
        Characters of the training split each readout learns from (seed ``s`` takes the
        ``s``-th such slice).
    val_chars : int
        Characters of the validation split evaluated (0: all of it).
    seeds : tuple
        Seeds: reservoir draws, pruning draws, readout slices, baseline initialisations.
    fractions, weight_widths, membrane_widths : tuple
        Kept neuron fractions; weight widths in bits (32 = real-valued); membrane widths.
    readout_epochs : int
        Passes of each readout fit over its training slice.
    baseline_seconds : float
        Training time of each neural baseline and seed.
    baseline_weight_bits : tuple
        Bits per baseline weight at which the weight memory is matched (32: float).
    ngram_orders : tuple
        Orders of the Kneser-Ney models.
    train_streams, val_streams : int
        Contiguous streams the spiking networks run the slices as.
    """

    train_chars: int = 100_000
    val_chars: int = 0
    seeds: tuple = (0, 1, 2)
    fractions: tuple = (1.0, 0.8, 0.6, 0.4, 0.2)
    weight_widths: tuple = (32, 8, 4, 2)
    membrane_widths: tuple = (16, 12, 10)
    readout_epochs: int = 4
    baseline_seconds: float = 60.0
    baseline_weight_bits: tuple = (32, 8)
    ngram_orders: tuple = (2, 3, 4, 5)
    train_streams: int = 32
    val_streams: int = 16


FULL = BenchConfig()
QUICK = BenchConfig(train_chars=12_000, val_chars=4_000, seeds=(0, 1),
                    fractions=(1.0, 0.6, 0.2), weight_widths=(32, 4, 2),
                    membrane_widths=(16, 10), readout_epochs=2, baseline_seconds=4.0,
                    baseline_weight_bits=(32,), ngram_orders=(2, 3, 4, 5))


def weight_bits(model: SpikingModel) -> dict[str, int]:
    """Weight memory of a model in bits: input, recurrent, readout, bias, and fan-out targets.

    The matched-memory budget of the baselines is the sum of the first four (the weights);
    the fan-out target lists and leak shifts are listed apart (structure, not weights).
    """
    c, v = model.config, len(model.vocab)
    return {
        "input": v * c.neurons * c.weight_bits,
        "recurrent": c.neurons * c.fanout * c.weight_bits,
        "readout": 2 * v * c.neurons * c.readout_bits,
        "bias": v * c.bias_bits,
        "targets": c.neurons * c.fanout * max(1, math.ceil(math.log2(c.neurons))),
        "leak": c.neurons * max(1, math.ceil(math.log2(c.leak_shift_max - c.leak_shift_min
                                                        + 1))),
    }


def budget_bits(model: SpikingModel) -> int:
    """The baselines' matched memory: the model's weights (input, recurrent, readout, bias)."""
    wb = weight_bits(model)
    return wb["input"] + wb["recurrent"] + wb["readout"] + wb["bias"]


class _Run:
    """State of one benchmark run: data, caches, results, progress."""

    def __init__(self, model: SpikingModel, text: str, cfg: BenchConfig, log, bar):
        self.model, self.cfg, self.log, self.bar = model, cfg, log, bar
        self.vocab_size = len(model.vocab)
        self.train_ids = model.vocab.encode(split_text(text, "train"))
        val = model.vocab.encode(split_text(text, "val"))
        self.val_ids = val[: cfg.val_chars] if cfg.val_chars else val
        self.y_val = torch.as_tensor(self.val_ids[1:])
        self.results: dict = {}

    def train_slice(self, seed: int) -> np.ndarray:
        n = self.cfg.train_chars + 1
        start = (seed * n) % max(len(self.train_ids) - n, 1)
        return self.train_ids[start : start + n]

    def features(self, net: nw.Net, ids: np.ndarray, streams: int):
        f = nw.simulate(net, ids, streams=streams)
        self.bar(len(ids))
        return f

    def fit_eval(self, net: nw.Net, seed: int, which=("hybrid",), train=None, val=None):
        """Retrain a readout on ``net``'s features for each feature set; validation BPC and
        the fitted readouts."""
        ids = self.train_slice(seed)
        train = train or self.features(net, ids, self.cfg.train_streams)
        val = val or self.features(net, self.val_ids, self.cfg.val_streams)
        xt = train.matrix(net.count_shift)[:-1]
        yt = torch.as_tensor(ids[1:])
        xv = val.matrix(net.count_shift)[:-1]
        out = {}
        for w in which:
            r = fit_readout(select(xt, w), yt, self.vocab_size,
                            epochs=self.cfg.readout_epochs, seed=seed)
            out[w] = (bpc(r.logits(select(xv, w)), self.y_val), r)
        return out, train, val


def _ops(net: nw.Net, feats: nw.Features, vocab_size: int) -> dict:
    """Per-character operation counts of one network on the validation features."""
    n_alive = int(net.alive.sum())
    chars = feats.counts.shape[0]
    spikes = feats.counts.sum(dtype=torch.int64).item()
    syn = feats.syn_events.sum().item() / chars
    updates = net.steps * n_alive
    # the golden model's rule (a pruned neuron's features are 0, so it costs nothing)
    readout = readout_ops(feats.counts, feats.membrane, vocab_size).sum().item() / chars
    dense = net.dense_ops()
    return {
        "firing_rate": spikes / (chars * n_alive * net.steps),
        "spikes_per_char": spikes / chars,
        "syn_events_per_char": syn,
        "neuron_updates_per_char": updates,
        "readout_ops_per_char": readout,
        "event_ops_per_char": syn + updates + readout,
        "dense_ops_per_char": sum(dense.values()),
        "dense_full_ops_per_char": net.steps * n_alive * n_alive + updates + dense["readout"],
        "per_neuron_rate": (feats.counts.sum(0, dtype=torch.int64).double()
                            / (chars * net.steps)).tolist(),
    }


def _importance(model: SpikingModel, feats: nw.Features) -> torch.Tensor:
    """Neuron importance: readout weight magnitude times feature spread, both features."""
    c, w = model.config, model.weights
    cnt = feats.counts.float() * float(1 << c.count_shift)
    a = torch.from_numpy(np.abs(w.w_cnt).sum(0).astype(np.float32)) * cnt.std(0)
    b = torch.from_numpy(np.abs(w.w_mem).sum(0).astype(np.float32)) * feats.membrane.std(0)
    return a + b


def _keep_mask(n: int, frac: float, how: str, seed: int, importance: torch.Tensor):
    k = max(1, int(round(frac * n)))
    keep = torch.zeros(n, dtype=torch.bool)
    if how == "random":
        g = torch.Generator().manual_seed(10_000 + seed)
        keep[torch.randperm(n, generator=g)[:k]] = True
    else:
        keep[torch.argsort(importance, descending=True)[:k]] = True
    return keep


def networks_per_seed(cfg: BenchConfig, weight_bits: int = 4, membrane_bits: int = 16) -> int:
    """How many networks one seed simulates (each over a training slice and the validation
    text): the progress bar's unit of work."""
    n = 2 + 2 * sum(1 for f in cfg.fractions if f < 1.0)
    for b in cfg.weight_widths:
        n += 1 if b == 32 else (3 if b != weight_bits else 2)
        n += 3 if b < weight_bits else 0
    return n + 2 * sum(1 for m in cfg.membrane_widths if m != membrane_bits)


def _seed_runs(run: _Run, seed: int) -> dict:
    """Every spiking-network measurement of one seed."""
    cfg, model = run.cfg, run.model
    c = model.config
    res: dict = {}
    trained = nw.from_model(model)
    real_res, _ = nw.reservoir(model, seed)
    res_int = nw.requantize(real_res, real_res, input_bits=c.weight_bits,
                            recurrent_bits=c.weight_bits, input_shift=c.input_shift,
                            recurrent_shift=c.recurrent_shift)
    # 1. readout ablation, and the readout's width on the same fits
    abl, t_train, t_val = run.fit_eval(trained, seed, ("hybrid", "spikes", "membrane"))
    xv = t_val.matrix(c.count_shift)[:-1]
    res["trained_shipped_readout"] = bpc(integer_readout_logits(model, xv), run.y_val)
    res["ablation_trained"] = {k: v[0] for k, v in abl.items()}
    rabl, r_train, r_val = run.fit_eval(res_int, seed, ("hybrid", "spikes", "membrane"))
    res["ablation_reservoir"] = {k: v[0] for k, v in rabl.items()}
    res["readout_bits_trained"] = {
        b: bpc(abl["hybrid"][1].quantized(b, 2).logits(xv), run.y_val)
        for b in cfg.weight_widths}
    rxv = r_val.matrix(c.count_shift)[:-1]
    res["readout_bits_reservoir"] = {
        b: bpc(rabl["hybrid"][1].quantized(b, 2).logits(rxv), run.y_val)
        for b in cfg.weight_widths}
    res["ops_trained"] = _ops(trained, t_val, run.vocab_size)
    res["ops_reservoir"] = _ops(res_int, r_val, run.vocab_size)
    # 2. pruning of the trained network
    imp = _importance(model, t_train)
    prune = {}
    for how in ("random", "importance"):
        for frac in cfg.fractions:
            if frac >= 1.0:
                prune[(how, frac)] = {"shipped": res["trained_shipped_readout"],
                                      "retrained": res["ablation_trained"]["hybrid"]}
                continue
            keep = _keep_mask(c.neurons, frac, how, seed, imp)
            net = nw.prune(trained, keep)
            out, _, pv = run.fit_eval(net, seed)
            prune[(how, frac)] = {
                "shipped": bpc(integer_readout_logits(model, pv.matrix(c.count_shift)[:-1]),
                               run.y_val),
                "retrained": out["hybrid"][0],
                "event_ops": _ops(net, pv, run.vocab_size)["event_ops_per_char"]}
    res["pruning"] = prune
    # 3. weight widths: the reservoir from real-valued down; the trained network below int4
    quant = {}
    for b in cfg.weight_widths:
        for part, (bi, br) in {"input": (b, 32), "recurrent": (32, b),
                               "both": (b, b)}.items():
            if b == 32 and part != "both":
                continue
            net = nw.requantize(real_res, real_res, input_bits=bi, recurrent_bits=br,
                                input_shift=c.input_shift, recurrent_shift=c.recurrent_shift)
            if b == c.weight_bits and part == "both":
                quant[("reservoir", part, b)] = res["ablation_reservoir"]["hybrid"]
                continue
            out, _, _ = run.fit_eval(net, seed)
            quant[("reservoir", part, b)] = out["hybrid"][0]
        if b < c.weight_bits:
            for part, (bi, br) in {"input": (b, c.weight_bits), "recurrent": (c.weight_bits, b),
                                   "both": (b, b)}.items():
                net = nw.requantize(trained, trained, input_bits=bi, recurrent_bits=br,
                                    input_shift=c.input_shift,
                                    recurrent_shift=c.recurrent_shift)
                out, _, _ = run.fit_eval(net, seed)
                quant[("trained", part, b)] = out["hybrid"][0]
    quant[("trained", "both", c.weight_bits)] = res["ablation_trained"]["hybrid"]
    res["quant"] = quant
    # membrane width, integer networks, readouts retrained
    mem = {}
    for m in cfg.membrane_widths:
        for name, base, ref in (("trained", trained, res["ablation_trained"]["hybrid"]),
                                ("reservoir", res_int, res["ablation_reservoir"]["hybrid"])):
            if m == c.membrane_bits:
                mem[(name, m)] = ref
                continue
            out, _, _ = run.fit_eval(replace(base, membrane_bits=m), seed)
            mem[(name, m)] = out["hybrid"][0]
    res["membrane"] = mem
    return res


def _baselines(run: _Run, budget_bits: int) -> dict:
    cfg = run.cfg
    out = {"ngram": {}, "nets": {}}
    for order in cfg.ngram_orders:
        kn = KneserNey(run.train_ids, run.vocab_size, order)
        out["ngram"][order] = {"bpc": kn.bpc(run.val_ids), "entries": kn.entries}
        run.log(f"baseline {order}-gram: {out['ngram'][order]['bpc']:.3f} BPC")
        run.bar(0)
    # the networks train for a fixed time each: their progress is counted in runs, logged
    todo = len(cfg.baseline_weight_bits) * 3 * len(cfg.seeds)
    done = 0
    for bpw in cfg.baseline_weight_bits:
        for kind in ("gru", "lstm", "mlp"):
            h = size_for_budget(kind, run.vocab_size, budget_bits, bpw)
            rows = []
            for seed in cfg.seeds:
                tn = train_network(kind, run.vocab_size, h, run.train_ids,
                                   seconds=cfg.baseline_seconds, seed=seed)
                quantize_params(tn.net, bpw)
                rows.append({"bpc": eval_network(tn.net, run.val_ids), "params": tn.params,
                             "macs": macs_per_char(tn.net), "steps": tn.steps})
                done += 1
                run.log(f"baseline {done}/{todo}: {kind} {bpw}-bit, {h} units, seed {seed}: "
                        f"{rows[-1]['bpc']:.3f} BPC ({cfg.baseline_seconds:.0f} s each)")
                run.bar(0)
            out["nets"][(kind, bpw)] = {"hidden": h, "runs": rows}
    return out


def _raster(model: SpikingModel, text: str):
    """Spikes of every time step while the trained network reads ``text`` from rest."""
    feats, steps = nw.simulate(nw.from_model(model), model.vocab.encode(text), keep_steps=True)
    return steps.reshape(-1, steps.shape[-1]).numpy(), feats


def run_bench(*, text_path, out_dir, cfg: BenchConfig = FULL, model=None, log=print,
              progress=None, total=None) -> Path:
    """Run the suite and write ``report.md``, ``results.json`` and the plots to ``out_dir``.

    ``progress(chars)`` is called as characters are simulated, ``total(chars)`` once with
    the number the spiking networks will simulate (the baselines come after).
    Returns the report's path.
    """
    from ..sw_driver.api import load
    from .write import write_report

    t0 = time.monotonic()
    model = load(model) if not isinstance(model, SpikingModel) else model
    text = read_text(text_path)
    run = _Run(model, text, cfg, log, progress or (lambda k: None))
    if total is not None:
        total(len(cfg.seeds) * networks_per_seed(cfg, model.config.weight_bits,
                                                 model.config.membrane_bits)
              * (cfg.train_chars + 1 + len(run.val_ids)))
    wb = weight_bits(model)
    budget = budget_bits(model)
    seeds = {}
    for seed in cfg.seeds:
        log(f"seed {seed}: readout ablation, pruning, quantization")
        seeds[seed] = _seed_runs(run, seed)
    log("baselines: n-gram models, GRU, LSTM, feed-forward")
    base = _baselines(run, budget)
    val_text = split_text(text, "val")
    start = val_text.find("\n\n") + 2
    sample = val_text[start : start + 64]
    raster, _ = _raster(model, sample)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = np.bincount(run.train_ids, minlength=run.vocab_size) + 1.0
    p = counts / counts.sum()
    unigram = float(-np.log2(p[run.val_ids[1:]]).mean())
    v, cm = run.vocab_size, model.config
    meta = {"config": asdict(cfg), "unigram_bpc": unigram,
            "snn_params": v * cm.neurons * 3 + cm.neurons * cm.fanout + v,
            "val_chars": len(run.val_ids),
            "model": model.meta,
            "weight_bits": wb, "budget_bits": budget, "seconds": time.monotonic() - t0,
            "neurons": model.config.neurons, "sample": sample, "torch": torch.__version__}
    return write_report(out_dir, meta=meta, seeds=seeds, base=base, raster=raster,
                        model=model)


def _decode(x):
    """Undo ``results.json``'s key encoding (tuple and number keys written as JSON)."""
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            try:
                key = json.loads(k)
            except ValueError:
                key = k
            out[tuple(key) if isinstance(key, list) else key] = _decode(v)
        return out
    if isinstance(x, list):
        return [_decode(v) for v in x]
    return x


def render(out_dir, model=None) -> Path:
    """Write the report again from ``out_dir/results.json`` (no measurement is repeated)."""
    from ..sw_driver.api import load
    from .write import write_report

    out_dir = Path(out_dir)
    raw = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    model = load(model) if not isinstance(model, SpikingModel) else model
    meta = raw["meta"]
    meta["config"] = {k: tuple(v) if isinstance(v, list) else v
                      for k, v in meta["config"].items()}
    raster, _ = _raster(model, meta["sample"])
    return write_report(out_dir, meta=meta, seeds=_decode(raw["seeds"]),
                        base=_decode(raw["baselines"]), raster=raster, model=model)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="snnfpga bench", description=__doc__.split("\n")[0])
    add_arguments(ap)
    return run_from_args(ap.parse_args(argv))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The bench options, shared by ``snnfpga bench`` and ``python -m snnfpga.bench.suite``."""
    ap.add_argument("--text", required=True, help="UTF-8 corpus (tinyshakespeare.txt)")
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    ap.add_argument("--out", default="build/bench", help="output folder (default build/bench)")
    ap.add_argument("--quick", action="store_true", help="reduced suite, a few minutes")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds")
    ap.add_argument("--baseline-seconds", type=float, default=None,
                    help="training time of each neural baseline and seed")
    ap.add_argument("--train-chars", type=int, default=None,
                    help="training characters per readout fit")
    ap.add_argument("--render", action="store_true",
                    help="rewrite the report from OUT/results.json without measuring again")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: the event loop is faster single-threaded)")


def run_from_args(args) -> int:
    from tqdm import tqdm

    if args.render:
        print(f"wrote {render(args.out, args.model)}")
        return 0
    cfg = QUICK if args.quick else FULL
    if args.seeds:
        cfg = replace(cfg, seeds=tuple(range(args.seeds)))
    if args.baseline_seconds is not None:
        cfg = replace(cfg, baseline_seconds=args.baseline_seconds)
    if args.train_chars:
        cfg = replace(cfg, train_chars=args.train_chars)
    torch.set_num_threads(args.threads)
    bar = tqdm(desc="bench", unit="char", unit_scale=True, file=sys.stderr,
               dynamic_ncols=True)

    def log(msg):
        bar.write(msg, file=sys.stderr)

    def total(n):
        bar.total = n
        bar.refresh()

    path = run_bench(text_path=args.text, out_dir=args.out, cfg=cfg, model=args.model,
                     log=log, progress=bar.update, total=total)
    bar.close()
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
