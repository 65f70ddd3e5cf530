"""The model file: round trip, and a clear error for every kind of bad file."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from conftest import random_model
from snnfpga.model.config import ModelConfig
from snnfpga.model.errors import ModelError
from snnfpga.model.modelfile import (
    MAGIC,
    IntWeights,
    SpikingModel,
    load_model,
    parse_model,
    save_model,
)


@pytest.fixture
def model(rng):
    return random_model(rng, neurons=20, fanout=5, steps=2, membrane_bits=12, extremes=0.2)


def test_round_trip(model, tmp_path):
    p = tmp_path / "m.snnm"
    save_model(SpikingModel(model.config, model.vocab, model.weights, {"note": "x"}), p)
    back = load_model(p)
    assert back.config == model.config and back.vocab == model.vocab
    assert back.meta == {"note": "x"}
    for name in IntWeights.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(back.weights, name), getattr(model.weights, name))


def _rewrite(raw: bytes, edit) -> bytes:
    """Re-emit a file with its JSON header edited and a valid checksum."""
    import hashlib

    hlen = struct.unpack_from("<I", raw, 12)[0]
    header = json.loads(raw[16 : 16 + hlen])
    edit(header)
    h = json.dumps(header).encode()
    body = raw[:8] + struct.pack("<II", 1, len(h)) + h + raw[16 + hlen : -32]
    return body + hashlib.sha256(body).digest()


def test_bad_files(model, tmp_path):
    p = tmp_path / "m.snnm"
    save_model(model, p)
    raw = p.read_bytes()
    cases = {
        "truncated": (raw[:-100], "checksum mismatch|truncated"),
        "tiny": (raw[:20], "truncated"),
        "flipped bit": (raw[:200] + bytes([raw[200] ^ 1]) + raw[201:], "checksum mismatch"),
        "not a model": (b"PK\x03\x04" + raw[4:], "not a snnfpga model file"),
        "version": (raw[:8] + struct.pack("<I", 7) + raw[12:], "format version 7"),
    }
    for name, (data, msg) in cases.items():
        with pytest.raises(ModelError, match=msg):
            parse_model(data, name)

    def shape(h):
        h["config"]["neurons"] = 21

    v = len(model.vocab)
    with pytest.raises(ModelError, match=rf"shape \({v}, 20\), expected \({v}, 21\)"):
        parse_model(_rewrite(raw, shape))

    def unknown(h):
        h["config"]["neuron"] = 3

    with pytest.raises(ModelError, match="unknown model configuration keys"):
        parse_model(_rewrite(raw, unknown))

    def dtype(h):
        h["tensors"][0]["dtype"] = "float32"

    with pytest.raises(ModelError, match="dtype 'float32'"):
        parse_model(_rewrite(raw, dtype))

    def missing(h):
        h["tensors"] = [t for t in h["tensors"] if t["name"] != "bias"]

    with pytest.raises(ModelError, match="weight bias is missing"):
        parse_model(_rewrite(raw, missing))

    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nope.snnm")


def test_weights_out_of_range(model):
    w = model.weights
    for name, bad in [("w_in", 8), ("rec_weights", -9), ("w_mem", 8), ("leak", 0),
                      ("rec_targets", 20)]:
        arr = getattr(w, name).copy()
        arr.flat[3] = bad
        kw = {k: getattr(w, k) for k in IntWeights.__dataclass_fields__}
        kw[name] = arr
        with pytest.raises(ModelError, match=f"weight {name}.* = {bad} is outside"):
            SpikingModel(model.config, model.vocab, IntWeights(**kw))


def test_out_of_range_weights_in_a_file_are_rejected(model, tmp_path):
    """A file written by another tool with an int4 weight of 9 fails on load."""
    p = tmp_path / "m.snnm"
    save_model(model, p)
    raw = bytearray(p.read_bytes())
    hlen = struct.unpack_from("<I", raw, 12)[0]
    header = json.loads(raw[16 : 16 + hlen])
    off = next(t["offset"] for t in header["tensors"] if t["name"] == "w_in")
    raw[16 + hlen + off] = 9
    import hashlib

    raw[-32:] = hashlib.sha256(bytes(raw[:-32])).digest()
    with pytest.raises(ModelError, match=r"w_in\[0, 0\] = 9 is outside the configured range"):
        parse_model(bytes(raw))


def test_duplicate_targets(model):
    w = model.weights
    t = w.rec_targets.copy()
    t[2, 1] = t[2, 0]
    kw = {k: getattr(w, k) for k in IntWeights.__dataclass_fields__}
    kw["rec_targets"] = t
    with pytest.raises(ModelError, match="row 2 repeats a target"):
        SpikingModel(model.config, model.vocab, IntWeights(**kw))


def test_magic_constant():
    assert MAGIC == b"SNNFPGA\0"


def test_text_outside_vocabulary(model):
    with pytest.raises(ModelError, match=r"outside the model's vocabulary.*'é€'.*position 2"):
        model.vocab.encode("ab€cé")


@pytest.mark.parametrize("kw, msg", [
    ({"neurons": 0}, "neurons must be in"),
    ({"fanout": 30, "neurons": 20}, "fanout must be in"),
    ({"reset": "soft"}, "reset must be"),
    ({"threshold": 5000, "membrane_bits": 12}, "threshold must be in"),
    ({"steps": 1.5}, "steps must be an integer"),
    ({"leak_shift_min": 4, "leak_shift_max": 3}, "leak_shift_max must be in"),
])
def test_config_errors(kw, msg):
    with pytest.raises(ModelError, match=msg):
        ModelConfig(**kw)


def test_split_matches_the_shared_convention():
    from snnfpga.model.data import split_text

    text = "x" * 1_115_394
    assert len(split_text(text, "train")) == 1_003_854
    assert len(split_text(text, "val")) == 111_540
    with pytest.raises(ModelError, match="split must be"):
        split_text(text, "test")
