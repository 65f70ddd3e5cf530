"""The public API and the command line, on the shipped default model and on small models."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import random_model
from snnfpga.model.modelfile import save_model
from snnfpga.sw_driver.cli import main

import snnfpga


def test_generate_is_deterministic_per_seed():
    a = snnfpga.generate("ROMEO:", max_new_tokens=40, temperature=0.8, seed=3)
    b = snnfpga.generate("ROMEO:", max_new_tokens=40, temperature=0.8, seed=3)
    c = snnfpga.generate("ROMEO:", max_new_tokens=40, temperature=0.8, seed=4)
    assert a == b and len(a) == 40
    assert a != c
    model = snnfpga.load()
    assert set(a) <= set(model.vocab.chars)


def test_argmax_ignores_the_seed():
    a = snnfpga.generate("First Citizen:\n", max_new_tokens=30, temperature=0, seed=1)
    b = snnfpga.generate("First Citizen:\n", max_new_tokens=30, temperature=0, seed=2)
    assert a == b


def test_stream_equals_generate_and_counts():
    counters: dict = {}
    chars = list(snnfpga.generate_stream("KING", max_new_tokens=12, seed=5,
                                         counters=counters))
    assert "".join(chars) == snnfpga.generate("KING", max_new_tokens=12, seed=5)
    assert counters["tokens"] == 4 + 11
    assert counters["spikes"] > 0 and counters["syn_events"] > 0


def test_generate_with_a_model_file(rng, tmp_path):
    m = random_model(rng, neurons=12, fanout=3, membrane_bits=12, threshold=100)
    p = tmp_path / "small.snnm"
    save_model(m, p)
    out = snnfpga.generate("abc", max_new_tokens=7, model=p, seed=1)
    assert len(out) == 7 and out == snnfpga.generate("abc", max_new_tokens=7, model=m, seed=1)


@pytest.mark.parametrize("kw, msg", [
    ({"prompt": "ROMEO€"}, "outside the model's vocabulary"),
    ({"prompt": ""}, "at least one character"),
    ({"prompt": "A", "backend": "fpga"}, "backend must be one of"),
    ({"prompt": "A", "temperature": -1}, "temperature must be"),
    ({"prompt": "A", "max_new_tokens": -2}, "max_new_tokens must be"),
    ({"prompt": "A", "model": "/nonexistent.snnm"}, "does not exist"),
])
def test_api_errors(kw, msg):
    with pytest.raises(snnfpga.ModelError, match=msg):
        snnfpga.generate(**kw)


def test_cli_generate(capsys):
    assert main(["generate", "ROMEO:", "-n", "25", "--seed", "2", "--stats"]) == 0
    out, err = capsys.readouterr()
    # the prompt, the characters as they come, then one newline (the text may end in one too)
    assert out == "ROMEO:" + snnfpga.generate("ROMEO:", max_new_tokens=25, seed=2) + "\n"
    assert "spikes" in err


def test_cli_errors_exit_2(capsys):
    assert main(["generate", "ROMEO€"]) == 2
    assert "outside the model's vocabulary" in capsys.readouterr().err
    assert main(["eval", "--text", "/nonexistent.txt"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_eval_json(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20)
    assert main(["eval", "--text", str(text), "--split", "all", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["chars"] == len(text.read_text())
    assert 0 < rep["bpc"] < 8 and 0 < rep["firing_rate"] < 1
    assert rep["dense_ops_per_char"] > rep["event_ops_per_char"]


def test_cli_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "SPRAM:" in out and "EBR:" in out and "neurons" in out


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "snnfpga", "generate", "A", "-n", "5", "-t", "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and len(r.stdout.strip()) == 6


def test_default_model_fits_the_up5k():
    from snnfpga.model.resources import fits_up5k, memories

    m = snnfpga.load()
    assert fits_up5k(m.config, len(m.vocab))
    spram_words = sum(x.depth for x in memories(m.config, len(m.vocab)) if x.kind == "spram")
    assert spram_words <= 4 * 16384
    assert np.all(m.weights.w_in >= -8) and np.all(m.weights.w_in <= 7)
