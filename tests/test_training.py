"""`snnfpga train` end to end on a small text: a loadable model and honest BPC figures."""

from __future__ import annotations

import re

import numpy as np
import pytest
from snnfpga.model.errors import ModelError
from snnfpga.model.evaluate import evaluate
from snnfpga.model.modelfile import load_model
from snnfpga.sw_driver.cli import main

CONFIG = """
model: {neurons: 24, fanout: 6, steps: 2, membrane_bits: 12, threshold: 256,
        recurrent_shift: 3, logit_frac_bits: 8}
train: {batch: 4, seq_len: 16, float_minutes: 0.04, qat_minutes: 0.02, eval_every: 20,
        lr: 0.01, readout_epochs: 1, readout_lr: 0.5}
"""


@pytest.fixture
def small_text(tmp_path):
    rng = np.random.default_rng(0)
    words = ["the ", "king ", "and ", "queen ", "of ", "rome ", "said ", "\n"]
    text = "".join(rng.choice(words, size=4000))
    p = tmp_path / "small.txt"
    p.write_text(text)
    return p


@pytest.mark.parametrize("recipe", ["trained", "reservoir"])
def test_train_command(tmp_path, small_text, capsys, recipe):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    out = tmp_path / "m.snnm"
    assert main(["train", "--text", str(small_text), "--config", str(cfg), "--out", str(out),
                 "--recipe", recipe]) == 0
    printed = capsys.readouterr().out
    assert "integer model val BPC" in printed and "gap" in printed
    model = load_model(out)
    assert model.meta["recipe"] == recipe
    assert "readout pass: held-out BPC" in printed
    assert model.meta["readout_pass"]["epochs"] == 1
    text = small_text.read_text()
    rep = evaluate(model, text[len(text) * 9 // 10 :])
    assert rep.bpc == pytest.approx(model.meta["int_val_bpc"], abs=1e-4)
    assert rep.bpc < np.log2(len(model.vocab))  # learned something beyond uniform


def test_train_rejects_a_text_too_short(tmp_path):
    from snnfpga.model.training import run_training

    p = tmp_path / "t.txt"
    p.write_text("abc" * 10)
    with pytest.raises(ModelError, match="needs at least"):
        run_training(text_path=p, out=tmp_path / "m.snnm", log=lambda s: None)


def test_configured_vocabulary(tmp_path, small_text, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG + 'vocabulary: "\\n abcdefghijklmnopqrstuvwxyz"\n')
    out = tmp_path / "m.snnm"
    assert main(["train", "--text", str(small_text), "--config", str(cfg), "--out",
                 str(out), "--minutes", "0.03"]) == 0
    assert load_model(out).vocab.chars == "\n abcdefghijklmnopqrstuvwxyz"
    cfg.write_text(CONFIG + 'vocabulary: "abc"\n')
    assert main(["train", "--text", str(small_text), "--config", str(cfg), "--out",
                 str(out)]) == 2
    assert "outside the model's vocabulary" in capsys.readouterr().err


def test_set_overrides_the_configuration(tmp_path, small_text, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    out = tmp_path / "m.snnm"
    assert main(["train", "--text", str(small_text), "--config", str(cfg), "--out", str(out),
                 "--minutes", "0.03", "--set", "model.steps=3", "--set", "train.lr=5e-3",
                 "--set", "model.input_every_step=false"]) == 0
    model = load_model(out)
    assert model.config.steps == 3 and model.config.input_every_step is False
    assert model.meta["train_config"]["lr"] == 5e-3


@pytest.mark.parametrize("item, msg", [
    ("steps=3", "SECTION.KEY=VALUE"),
    ("readout.steps=3", "SECTION.KEY=VALUE"),
    ("model.stepz=3", "unknown model key 'stepz'"),
    ("model.steps=0", r"steps must be in \[1, 64\], not 0"),
    ("train.lr=fast", "training key lr must be a number >= 0, not 'fast'"),
    ("train.batch=2.5", "batch"),
])
def test_bad_overrides_are_refused_before_training(tmp_path, small_text, capsys, item, msg):
    out = tmp_path / "m.snnm"
    assert main(["train", "--text", str(small_text), "--out", str(out), "--set", item]) == 2
    assert re.search(msg, capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize("field, value, msg", [
    ("eval_every", 0, r"eval_every must be in \[1, "),
    ("seed", -1, r"seed must be in \[0, "),
    ("max_steps", 1.5, "max_steps must be an integer"),
    ("lr", True, "training key lr must be a number >= 0, not True"),
    ("surrogate_damping", -0.5, "surrogate_damping must be a number >= 0"),
    ("clip", "layerwise", "clip must be 'global' or 'per_group', not 'layerwise'"),
    ("epoch_offset", 1, "epoch_offset must be true or false, not 1"),
    ("compile", "yes", "compile must be true or false, not 'yes'"),
    ("feature_dropout", 1.0, "feature_dropout must be below 1, not 1.0"),
    ("feature_dropout", -0.1, "training key feature_dropout must be a number >= 0, not -0.1"),
    ("readout_epochs", -1, r"readout_epochs must be in \[0, "),
    ("readout_epochs", 2.0, "readout_epochs must be an integer"),
])
def test_training_configuration_checks_its_fields(field, value, msg):
    from snnfpga.model.config import TrainConfig

    with pytest.raises(ModelError, match=msg):
        TrainConfig(**{field: value})


def test_readout_pass_needs_a_learning_rate():
    from snnfpga.model.config import TrainConfig

    TrainConfig(readout_epochs=0, readout_lr=0.0)   # no pass, no rate needed
    with pytest.raises(ModelError, match="readout_lr must be above 0 when readout_epochs is 2"):
        TrainConfig(readout_epochs=2, readout_lr=0.0)
