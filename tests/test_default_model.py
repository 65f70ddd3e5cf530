"""The shipped default model: its recorded figures are reproduced by the integer model."""

from __future__ import annotations

import pytest
from snnfpga.model.data import read_text, split_text
from snnfpga.model.evaluate import evaluate
from snnfpga.model.resources import fits_up5k

import snnfpga


def test_default_model_records_its_training():
    m = snnfpga.load()
    for key in ("trained_on", "recipe", "train_seconds", "float_val_bpc", "int_val_bpc",
                "val_firing_rate"):
        assert key in m.meta
    assert m.meta["trained_on"] == "tinyshakespeare.txt"
    assert m.config.weight_bits == 4 and m.config.readout_bits == 4
    assert fits_up5k(m.config, len(m.vocab))


@pytest.mark.slow
def test_validation_bpc_is_reproduced_exactly(corpus_path):
    """Streaming over the whole validation split gives the BPC recorded at training time."""
    m = snnfpga.load()
    rep = evaluate(m, split_text(read_text(corpus_path), "val"))
    assert rep.chars == 111_540
    assert round(rep.bpc, 4) == m.meta["int_val_bpc"]
    assert round(rep.firing_rate, 4) == m.meta["val_firing_rate"]
