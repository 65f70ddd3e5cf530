"""Runs whose counters the energy model needs: a generation on any back-end, or a text fed.

The golden back-end's ``generate`` counts tokens, spikes, synaptic events and readout
operations; :func:`generate_counts` also counts the tokens in which neuron ``N - 1`` spiked,
the one more figure that exact cycles need (:mod:`snnfpga.energy.counters`). It draws the
same samples as :func:`snnfpga.generate` (the same ``GoldenModel.step`` and ``sample`` with
the same generator), which the tests check.
"""

from __future__ import annotations

import torch

from ..model.golden import GoldenModel, Lfsr32, seed_to_state, temperature_to_fixed
from ..model.modelfile import SpikingModel
from ..sw_driver.protocol import DEFAULT_BAUD
from .counters import RunCounts, derive_counters

__all__ = ["generate_counts", "generate_on_board", "open_board", "text_counts"]


def generate_counts(prompt: str, *, max_new_tokens: int = 200, temperature: float = 0.8,
                    seed: int = 0, backend: str = "golden", model: SpikingModel | None = None,
                    geom=None, port: str | None = None,
                    baudrate: int = DEFAULT_BAUD) -> tuple[str, RunCounts]:
    """Generate as :func:`snnfpga.generate` does and return the text and the run's counters.

    On ``sim`` and ``board`` the counters are the chip's (a ``RESET`` included); on
    ``golden`` they are derived, with exact cycles where the geometry's overhead is known.
    """
    from ..sw_driver.api import generate, load
    from .counters import default_geometry

    m = load(model)
    geom = geom if geom is not None else default_geometry(m)
    if backend != "golden":
        counters: dict = {}
        text = generate(prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                        seed=seed, backend=backend, model=m, counters=counters, port=port,
                        baudrate=baudrate)
        return text, derive_counters(counters, geom)
    gm = GoldenModel(m)
    fed = [int(i) for i in gm._check_tokens(m.vocab.encode(prompt))]
    if not fed:
        from ..model.errors import ModelError
        raise ModelError("the prompt must have at least one character")
    tq = temperature_to_fixed(temperature, m.config.temperature_frac_bits)
    rng = Lfsr32(seed_to_state(seed))
    totals = dict.fromkeys(("tokens", "spikes", "syn_events", "readout_ops"), 0)
    last = 0
    out = []
    st = gm.init_state(1)
    i = 0
    n = m.config.neurons
    with torch.inference_mode():
        while len(out) < max_new_tokens:
            st, res = gm.step(st, torch.tensor([fed[i]]))
            totals["tokens"] += 1
            totals["spikes"] += int(res.spikes[0])
            totals["syn_events"] += int(res.syn_events[0])
            totals["readout_ops"] += int(res.readout_ops[0])
            last += int(res.counts[0, n - 1])
            i += 1
            if i < len(fed):
                continue
            nxt = gm.sample(res.logits[0], tq, rng)
            out.append(nxt)
            fed.append(nxt)
    text = "".join(m.vocab.chars[j] for j in out)
    return text, derive_counters(totals, geom, last_neuron_spikes=last, resets=1,
                                 sampled=max_new_tokens)


def text_counts(text: str, *, model: SpikingModel | None = None,
                geom=None) -> tuple[RunCounts, dict]:
    """Feed every character of ``text`` after one ``RESET`` (golden model), each token
    sampled as ``make sim`` feeds it; return the counters and the per-token figures
    (``spikes``, ``syn_events`` as tensors)."""
    from ..sw_driver.api import load
    from .counters import default_geometry

    m = load(model)
    geom = geom if geom is not None else default_geometry(m)
    gm = GoldenModel(m)
    res = gm.run(m.vocab.encode(text), keep_counts=True)
    totals = {"tokens": int(res.spikes.numel()), "spikes": int(res.spikes.sum()),
              "syn_events": int(res.syn_events.sum()),
              "readout_ops": int(res.readout_ops.sum())}
    last = int(res.counts[:, m.config.neurons - 1].sum())
    return derive_counters(totals, geom, last_neuron_spikes=last, resets=1), \
        {"spikes": res.spikes, "syn_events": res.syn_events}


def open_board(model: SpikingModel, port: str, baudrate: int = DEFAULT_BAUD):
    """A board (or virtual board URL) ready to generate: checked and its weights loaded.

    For measurements: the load goes over the serial line before the measured window opens.
    The caller closes it (``dev.close()``).
    """
    from ..sw_driver.device import Device, SerialTransport

    dev = Device(SerialTransport(port, baudrate))
    try:
        dev.check(model, load=True)
    except BaseException:
        dev.close()
        raise
    return dev


def generate_on_board(dev, model: SpikingModel, prompt: str, *, max_new_tokens: int,
                      temperature: float, seed: int) -> tuple[str, RunCounts]:
    """One generation on an open board, as :func:`snnfpga.generate` runs it (counters
    cleared, RESET, GENERATE), returning the text and the chip's counters."""
    from ..model.errors import ModelError

    ids = [int(i) for i in model.vocab.encode(prompt)]
    if not ids:
        raise ModelError("the prompt must have at least one character")
    tq = temperature_to_fixed(temperature, model.config.temperature_frac_bits)
    dev.counters()                     # read and clear
    dev.reset(seed)
    out = list(dev.generate(ids, max_new_tokens, tq))
    counters = dev.counters()
    return "".join(model.vocab.chars[i] for i in out), RunCounts(counters, True, "hardware")
