"""``snnfpga train``: train the surrogate, export to the integer model, report both BPCs."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .config import ExperimentConfig, load_config, with_overrides
from .data import Vocabulary, read_text, split_text
from .evaluate import evaluate
from .modelfile import SpikingModel, load_model, save_model
from .readout_pass import tune_readout
from .surrogate import SurrogateSNN
from .train import export_config, export_weights, train_surrogate

__all__ = ["default_config_path", "run_readout_pass", "run_training", "surrogate_stream_bpc"]


def default_config_path() -> Path:
    return Path(str(resources.files("snnfpga.model").joinpath("configs", "default.yaml")))


def experiment_vocabulary(exp: ExperimentConfig, text: str) -> Vocabulary:
    """The configuration's vocabulary, or without one the distinct characters of ``text``."""
    return Vocabulary(exp.vocabulary) if exp.vocabulary else Vocabulary.from_text(text)


@torch.no_grad()
def surrogate_stream_bpc(net: SurrogateSNN, ids: np.ndarray, chunk: int = 1024) -> float:
    """BPC of the surrogate over ``ids`` as one stream from rest (the integer model's protocol)."""
    x = torch.from_numpy(ids.astype(np.int64)).view(1, -1)
    state = net.init_state(1)
    nll = 0.0
    for j in range(0, x.shape[1] - 1, chunk):
        xs = x[:, j : min(j + chunk, x.shape[1] - 1)]
        ys = x[:, j + 1 : j + 1 + xs.shape[1]]
        logits, state, _ = net(xs, state)
        nll -= torch.log_softmax(logits.double(), -1).gather(2, ys.unsqueeze(-1)).sum().item()
    return nll / max(x.shape[1] - 1, 1) / math.log(2.0)


def run_training(*, text_path, config_path=None, out="model.snnm", recipe=None, minutes=None,
                 seed=None, log=print, threads=None, progress=None,
                 overrides=()) -> SpikingModel:
    """Train on the first 90 % of ``text_path``; write the integer model to ``out``.

    ``minutes`` rescales the configured float and QAT budgets to that total; ``overrides``
    are ``section.key=value`` items applied to the configuration (:func:`with_overrides`).
    """
    exp: ExperimentConfig = with_overrides(load_config(config_path or default_config_path()),
                                           list(overrides))
    tcfg = exp.train
    if recipe is not None:
        tcfg = replace(tcfg, recipe=recipe)
    if seed is not None:
        tcfg = replace(tcfg, seed=seed)
    if minutes is not None:
        total = tcfg.float_minutes + tcfg.qat_minutes
        tcfg = replace(tcfg, float_minutes=minutes * tcfg.float_minutes / total,
                       qat_minutes=minutes * tcfg.qat_minutes / total)
    if threads:
        torch.set_num_threads(threads)
    text = read_text(text_path)
    vocab = experiment_vocabulary(exp, text)
    train_ids = vocab.encode(split_text(text, "train"))
    val_text = split_text(text, "val")
    val_ids = vocab.encode(val_text)
    log(f"training on {len(train_ids)} characters of {text_path}, vocabulary {len(vocab)}, "
        f"recipe {tcfg.recipe}, {tcfg.float_minutes:.1f} + {tcfg.qat_minutes:.1f} min")
    t0 = time.monotonic()
    net = train_surrogate(exp.model, tcfg, train_ids, len(vocab), log=log, progress=progress)
    train_s = time.monotonic() - t0
    log("evaluating the float surrogate and the integer model on the validation split")
    net.mode = "float"
    float_bpc = surrogate_stream_bpc(net, val_ids)
    if tcfg.qat_minutes <= 0:  # no QAT phase chose the readout scale yet
        net.choose_logit_frac_bits()
    cfg = export_config(net)
    model = SpikingModel(cfg, vocab, export_weights(net))
    if tcfg.readout_epochs:
        model, _ = tune_readout(
            model, train_ids, epochs=tcfg.readout_epochs, lr=tcfg.readout_lr, seed=tcfg.seed,
            log=log, progress=progress and (lambda st, frac: progress(f"readout {st}", frac)))
    rep = evaluate(model, val_text)
    meta = {
        **model.meta,
        "trained_on": Path(text_path).name, "recipe": tcfg.recipe, "seed": tcfg.seed,
        "train_seconds": round(train_s), "float_val_bpc": round(float_bpc, 4),
        "int_val_bpc": round(rep.bpc, 4), "val_firing_rate": round(rep.firing_rate, 4),
        "train_config": {k: getattr(tcfg, k) for k in tcfg.__dataclass_fields__},
    }
    model = SpikingModel(cfg, vocab, model.weights, meta)
    save_model(model, out)
    log(f"float surrogate val BPC {float_bpc:.4f}; integer model val BPC {rep.bpc:.4f} "
        f"(gap {rep.bpc - float_bpc:+.4f}); firing rate {100 * rep.firing_rate:.2f} %")
    log(f"wrote {out}")
    return model


def run_readout_pass(*, text_path, model_path=None, out, epochs=None, lr=None, seed=0,
                     threads=None, log=print, progress=None) -> SpikingModel:
    """The readout pass (:mod:`snnfpga.model.readout_pass`) on a trained model file.

    Tunes the readout of ``model_path`` (the shipped model if ``None``) on the first 90 % of
    ``text_path``, evaluates it on the last 10 % and writes it to ``out``; the model's
    recorded validation BPC is replaced by the new one, the old one kept in the pass's record.
    ``epochs`` and ``lr`` default to the shipped configuration's ``readout_epochs`` and
    ``readout_lr``; ``progress`` is :func:`tune_readout`'s.
    """
    shipped = load_config(default_config_path()).train
    epochs = shipped.readout_epochs if epochs is None else epochs
    lr = shipped.readout_lr if lr is None else lr
    if threads:
        torch.set_num_threads(threads)
    model = load_model(model_path or resources.files("snnfpga.model").joinpath("default.snnm"))
    text = read_text(text_path)
    train_ids = model.vocab.encode(split_text(text, "train"))
    val_text = split_text(text, "val")
    model.vocab.encode(val_text)   # the whole text must be in the vocabulary, before the work
    model, record = tune_readout(model, train_ids, epochs=epochs, lr=lr, seed=seed, log=log,
                                 progress=progress)
    rep = evaluate(model, val_text, progress=progress and (
        lambda done: progress("validation", done / max(len(val_text), 1))))
    before = model.meta.get("int_val_bpc")
    record = {**record, "int_val_bpc_before": before, "text": Path(text_path).name}
    model = SpikingModel(model.config, model.vocab, model.weights,
                         {**model.meta, "readout_pass": record, "int_val_bpc": round(rep.bpc, 4),
                          "val_firing_rate": round(rep.firing_rate, 4)})
    save_model(model, out)
    was = f" (recorded before the pass: {before:.4f})" if before is not None else ""
    log(f"integer model val BPC {rep.bpc:.4f}{was}; firing rate "
        f"{100 * rep.firing_rate:.2f} %")
    log(f"wrote {out}")
    return model
