"""How much of the next character the spiking network's features hold: readouts probed in float.

``python -m snnfpga.bench.probe --text tinyshakespeare.txt`` runs the shipped model's integer
network over the training and validation splits, keeps its readout features (spike counts
``<< count_shift`` and membrane features, :class:`snnfpga.bench.network.Features`), and
scores on the validation split, in bits per character:

- the model file's own integer readout (the figure ``snnfpga eval`` prints, a check that the
  features are the golden model's);
- a float linear readout refitted on the training features (logistic regression with an L2
  penalty), and the same rounded to the model's readout width at one power-of-two scale, as
  the hardware takes it (the bias left unrounded);
- with ``--input``, the float linear readout refitted with the current character (one-hot)
  beside the features, and with the character before it as well: the input-to-readout
  connection of echo-state networks, which the hardware does not have;
- float readouts with one hidden layer of ``H`` rectified units (``--hidden``), which no
  hardware of the project computes: an upper view of what a nonlinear readout could take
  from the same network.

The network is fixed throughout; only the readouts are trained, on the last
``--train-chars`` characters of the training split, for ``--epochs`` passes. Nothing is
written: the trainer's last stage, ``snnfpga tune-readout`` (:mod:`snnfpga.model.readout_pass`),
is what tunes a model's integer readout on its features.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from ..model.data import read_text, split_text
from . import network as nw
from .readout import adam_minibatches, bpc, fit_readout, grid_frac_bits, integer_readout_logits

__all__ = ["features", "fit_mlp", "probe", "main"]


def fit_mlp(x: torch.Tensor, y: torch.Tensor, vocab_size: int, hidden: int, *,
            epochs: int = 4, batch: int = 512, lr: float = 2e-3, seed: int = 0):
    """Train ``logits = relu(z @ w1 + b1) @ w2 + b2`` on standardised features ``z`` of ``x``.

    Returns a function from raw features ``(L, D)`` to logits ``(L, V)``. Adam over shuffled
    minibatches, learning rate decayed by cosine to 5 %.
    """
    g = torch.Generator().manual_seed(seed)
    x = x.float()
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-3)
    with torch.random.fork_rng(devices=[]):   # seeded initialisation, global RNG untouched
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                                  torch.nn.Linear(hidden, vocab_size))
    adam_minibatches(list(net.parameters()),
                     lambda idx: F.cross_entropy(net((x[idx] - mu) / sd), y[idx]),
                     x.shape[0], epochs=epochs, batch=batch, lr=lr, generator=g)

    def logits(z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net((z.float() - mu) / sd)

    return logits


def features(model, text: str, train_chars: int = 400_000, log=print):
    """Readout features and next characters: ``(x_train, y_train, x_val, y_val)``.

    The last ``train_chars`` positions of the training split (16 streams from rest) and the
    whole validation split as one stream from rest, as ``snnfpga eval`` runs it.
    """
    net = nw.from_model(model)
    shift = model.config.count_shift
    train_ids = model.vocab.encode(split_text(text, "train"))[-(train_chars + 1):]
    val_ids = model.vocab.encode(split_text(text, "val"))
    if len(train_ids) < 2 or len(val_ids) < 2:
        raise ValueError("the text needs at least two characters in each split")
    t0 = time.perf_counter()
    xt = nw.simulate(net, train_ids[:-1], streams=16).matrix(shift)
    yt = torch.as_tensor(train_ids[1:], dtype=torch.int64)
    xv = nw.simulate(net, val_ids[:-1], streams=1).matrix(shift)
    yv = torch.as_tensor(val_ids[1:], dtype=torch.int64)
    log(f"features: {len(yt):,} training and {len(yv):,} validation positions of "
        f"{xt.shape[1]} features ({time.perf_counter() - t0:.0f} s)")
    return xt, yt, xv, yv


def _with_input(model, text: str, train_chars: int, xt, xv, back: int):
    """The feature matrices with one-hot columns of the character just read and of the
    ``back - 1`` before it (the first position repeats its own character)."""
    v = len(model.vocab)
    out = []
    for x, ids in ((xt, model.vocab.encode(split_text(text, "train"))[-(train_chars + 1):-1]),
                   (xv, model.vocab.encode(split_text(text, "val"))[:-1])):
        ids = torch.as_tensor(ids, dtype=torch.int64)
        cols = [x]
        for k in range(back):
            prev = torch.cat([ids[:1].expand(min(k, len(ids))), ids[:len(ids) - k]])
            cols.append(F.one_hot(prev, v).to(x.dtype))
        out.append(torch.cat(cols, 1))
    return out


def probe(model, text: str, *, train_chars: int = 400_000, hidden=(64, 256), epochs: int = 4,
          log=print, feats=None, with_input: bool = False) -> dict[str, float]:
    """Validation BPC of each readout on the fixed network of ``model`` (see module doc);
    ``feats`` reuses what :func:`features` returned for the same ``train_chars``."""
    xt, yt, xv, yv = feats or features(model, text, train_chars, log)
    v = len(model.vocab)
    out = {"integer readout": bpc(integer_readout_logits(model, xv), yv)}
    lin = fit_readout(xt, yt, v, epochs=epochs)
    out["float linear readout, refitted"] = bpc(lin.logits(xv), yv)
    bits = model.config.readout_bits
    frac = grid_frac_bits(lin.weight, bits)
    out[f"the same, int{bits} ({frac} fractional bits)"] = bpc(lin.quantized(bits).logits(xv), yv)
    if with_input:
        for back, name in ((1, "the current character"), (2, "the last two characters")):
            at, av = _with_input(model, text, train_chars, xt, xv, back)
            fit = fit_readout(at, yt, v, epochs=epochs)
            out[f"float linear readout with {name}"] = bpc(fit.logits(av), yv)
            del at, av
    for h in hidden:
        t0 = time.perf_counter()
        f = fit_mlp(xt, yt, v, h, epochs=epochs)
        out[f"float readout, {h} hidden units"] = bpc(f(xv), yv)
        log(f"hidden {h}: trained in {time.perf_counter() - t0:.0f} s")
    return out


def main(argv=None) -> int:
    from ..sw_driver.api import load

    ap = argparse.ArgumentParser(prog="python -m snnfpga.bench.probe", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", required=True)
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    ap.add_argument("--train-chars", type=int, default=400_000,
                    help="training positions, from the end of the training split")
    ap.add_argument("--hidden", default="64,256",
                    help="comma-separated hidden-layer widths ('' for none)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--input", action="store_true",
                    help="also refit the linear readout with the last characters beside the "
                         "features (one-hot)")
    args = ap.parse_args(argv)
    try:
        hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    except ValueError:
        ap.error(f"--hidden takes comma-separated integers, not {args.hidden!r}")
    if args.train_chars < 1 or args.epochs < 1 or any(h < 1 for h in hidden):
        ap.error("--train-chars, --epochs and --hidden widths must be positive")
    model = load(args.model)
    text = read_text(args.text)
    feats = features(model, text, args.train_chars)
    res = probe(model, text, train_chars=args.train_chars, hidden=hidden, epochs=args.epochs,
                feats=feats, with_input=args.input)
    print(f"validation BPC, the network of {args.model or 'the shipped model'} fixed:")
    for name, value in res.items():
        print(f"  {name:<52} {value:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
