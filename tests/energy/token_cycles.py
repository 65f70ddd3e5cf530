"""The cycles each token should take on the core: the cycle bound of its golden counts plus
the pipeline overhead measured for the shipped geometry (``MEASURED_OVERHEAD``)."""

from __future__ import annotations

import torch
from snnfpga.energy.counters import MEASURED_OVERHEAD, default_geometry, geometry_key
from snnfpga.hw.core import cycle_lower_bound
from snnfpga.model.golden import GoldenModel


def expected_token_cycles(model, fed: list[int], n_prompt: int, *,
                          all_sampled: bool = False) -> list[int]:
    """Per fed token: bound + constant + sampling (from the prompt's last token on, or on
    every token) + one cycle per spike of neuron N-1; the first token also pays the RESET."""
    geom = default_geometry(model)
    per_tok, per_sample, last, per_reset = MEASURED_OVERHEAD[geometry_key(geom)]
    gm = GoldenModel(model)
    st = gm.init_state(1)
    out = []
    with torch.inference_mode():
        for k, i in enumerate(fed):
            st, res = gm.step(st, torch.tensor([int(i)]))
            sampled = all_sampled or k >= n_prompt - 1
            out.append(cycle_lower_bound(geom, int(res.syn_events[0]), int(res.readout_ops[0]))
                       + per_tok + per_sample * sampled + last * int(res.counts[0, -1])
                       + (per_reset if k == 0 else 0))
    return out
