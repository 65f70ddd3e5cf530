"""The model file: format version, configuration, vocabulary and integer weights.

Layout (little-endian), no pickle, nothing in it is ever executed::

    8 bytes   magic  b"SNNFPGA\\0"
    4 bytes   format version (uint32), currently 1
    4 bytes   header length H (uint32)
    H bytes   header, UTF-8 JSON: {"config", "vocab", "tensors": [{name, dtype, shape,
              offset, nbytes}], "meta"}
    ...       tensor data, each tensor C-contiguous at its offset from the data start
    32 bytes  SHA-256 of every byte before it

Loading checks every field and names what was expected and what was found.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import ModelConfig
from .data import Vocabulary
from .errors import ModelError

__all__ = ["IntWeights", "SpikingModel", "save_model", "load_model", "FORMAT_VERSION", "MAGIC"]

MAGIC = b"SNNFPGA\0"
FORMAT_VERSION = 1
_DIGEST = 32

# name -> (dtype stored, shape as a function of (config, vocab size))
_TENSORS = {
    "w_in": ("int8", lambda c, v: (v, c.neurons)),
    "leak": ("uint8", lambda c, v: (c.neurons,)),
    "rec_targets": ("uint16", lambda c, v: (c.neurons, c.fanout)),
    "rec_weights": ("int8", lambda c, v: (c.neurons, c.fanout)),
    "w_cnt": ("int16", lambda c, v: (v, c.neurons)),
    "w_mem": ("int16", lambda c, v: (v, c.neurons)),
    "bias": ("int32", lambda c, v: (v,)),
}


@dataclass(frozen=True)
class IntWeights:
    """Integer weights of the network (``V`` characters, ``N`` neurons, fan-out ``F``).

    Attributes
    ----------
    w_in : (V, N) input weights, ``weight_bits`` signed.
    leak : (N,) leak shift of each neuron, in ``[leak_shift_min, leak_shift_max]``.
    rec_targets : (N, F) target neuron of each fan-out entry; distinct within a row.
    rec_weights : (N, F) recurrent weights, ``weight_bits`` signed.
    w_cnt, w_mem : (V, N) readout weights of the spike-count and membrane features,
        ``readout_bits`` signed.
    bias : (V,) readout bias, ``bias_bits`` signed.
    """

    w_in: np.ndarray
    leak: np.ndarray
    rec_targets: np.ndarray
    rec_weights: np.ndarray
    w_cnt: np.ndarray
    w_mem: np.ndarray
    bias: np.ndarray

    def validate(self, cfg: ModelConfig, vocab_size: int) -> None:
        """Check shapes and ranges against ``cfg``; raise :class:`ModelError` on the first fault."""
        for name, (_, shape_of) in _TENSORS.items():
            a = getattr(self, name)
            want = shape_of(cfg, vocab_size)
            if not isinstance(a, np.ndarray) or a.shape != want:
                got = a.shape if isinstance(a, np.ndarray) else type(a).__name__
                raise ModelError(f"weight {name}: expected shape {want} for this configuration, "
                                 f"found {got}")
            if not np.issubdtype(a.dtype, np.integer):
                raise ModelError(f"weight {name}: expected integers, found {a.dtype}")
        ranges = {
            "w_in": (cfg.w_min, cfg.w_max), "rec_weights": (cfg.w_min, cfg.w_max),
            "w_cnt": (cfg.r_min, cfg.r_max), "w_mem": (cfg.r_min, cfg.r_max),
            "bias": (cfg.b_min, cfg.b_max), "rec_targets": (0, cfg.neurons - 1),
            "leak": (cfg.leak_shift_min, cfg.leak_shift_max),
        }
        for name, (lo, hi) in ranges.items():
            a = getattr(self, name)
            if a.size and (int(a.min()) < lo or int(a.max()) > hi):
                bad = int(a.min()) if int(a.min()) < lo else int(a.max())
                where = tuple(int(i) for i in np.argwhere(a == bad)[0])
                raise ModelError(f"weight {name}{list(where)} = {bad} is outside the "
                                 f"configured range [{lo}, {hi}]")
        if cfg.fanout:
            srt = np.sort(self.rec_targets.astype(np.int64), axis=1)
            dup = np.nonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))[0]
            if dup.size:
                raise ModelError(f"rec_targets row {int(dup[0])} repeats a target; each source "
                                 "neuron needs distinct targets")


@dataclass(frozen=True)
class SpikingModel:
    """Everything a model file holds: configuration, vocabulary, weights and free metadata."""

    config: ModelConfig
    vocab: Vocabulary
    weights: IntWeights
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.weights.validate(self.config, len(self.vocab))


def save_model(model: SpikingModel, path: str | Path) -> None:
    """Write ``model`` to ``path`` (atomically: a partial file never replaces a good one)."""
    path = Path(path)
    blobs, entries, offset = [], [], 0
    for name, (dtype, _) in _TENSORS.items():
        le = np.dtype(dtype).newbyteorder("<")
        a = np.ascontiguousarray(getattr(model.weights, name), dtype=le)
        raw = a.tobytes()
        entries.append({"name": name, "dtype": dtype, "shape": list(a.shape),
                        "offset": offset, "nbytes": len(raw)})
        blobs.append(raw)
        offset += len(raw)
    header = json.dumps({"config": model.config.to_dict(), "vocab": model.vocab.chars,
                         "tensors": entries, "meta": model.meta},
                        sort_keys=True, ensure_ascii=True).encode("utf-8")
    body = MAGIC + struct.pack("<II", FORMAT_VERSION, len(header)) + header + b"".join(blobs)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(body + hashlib.sha256(body).digest())
    tmp.replace(path)


def load_model(path: str | Path) -> SpikingModel:
    """Read and check a model file; every fault raises :class:`ModelError` naming it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model file {path} does not exist") from None
    except OSError as e:
        raise ModelError(f"cannot read model file {path}: {e.strerror}") from None
    return parse_model(raw, str(path))


def parse_model(raw: bytes, name: str = "<bytes>") -> SpikingModel:
    """Parse the bytes of a model file (see the module docstring for the layout)."""
    fixed = len(MAGIC) + 8
    if len(raw) < fixed + _DIGEST:
        raise ModelError(f"{name}: truncated, {len(raw)} bytes is shorter than the "
                         f"{fixed + _DIGEST}-byte minimum of a model file")
    if raw[: len(MAGIC)] != MAGIC:
        raise ModelError(f"{name}: not a snnfpga model file (expected magic {MAGIC!r}, "
                         f"found {raw[: len(MAGIC)]!r})")
    version, hlen = struct.unpack_from("<II", raw, len(MAGIC))
    if version != FORMAT_VERSION:
        raise ModelError(f"{name}: format version {version} is not supported; this snnfpga "
                         f"reads version {FORMAT_VERSION}")
    if fixed + hlen + _DIGEST > len(raw):
        raise ModelError(f"{name}: truncated, the header says {hlen} header bytes but the file "
                         f"has {len(raw)} bytes in all")
    body, digest = raw[:-_DIGEST], raw[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise ModelError(f"{name}: checksum mismatch, the file is truncated or corrupted "
                         f"(expected SHA-256 {digest.hex()[:16]}..., computed "
                         f"{hashlib.sha256(body).hexdigest()[:16]}...)")
    try:
        header = json.loads(body[fixed : fixed + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{name}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or not {"config", "vocab", "tensors"} <= set(header):
        raise ModelError(f"{name}: header must hold 'config', 'vocab' and 'tensors'")
    cfg = ModelConfig.from_dict(header["config"])
    vocab = Vocabulary(header["vocab"])
    data = body[fixed + hlen :]
    entries = {e.get("name"): e for e in header["tensors"] if isinstance(e, dict)}
    arrays = {}
    for tname, (dtype, shape_of) in _TENSORS.items():
        e = entries.get(tname)
        if e is None:
            raise ModelError(f"{name}: weight {tname} is missing")
        want = shape_of(cfg, len(vocab))
        if e.get("dtype") != dtype:
            raise ModelError(f"{name}: weight {tname} has dtype {e.get('dtype')!r}, "
                             f"expected {dtype!r}")
        if tuple(e.get("shape", ())) != want:
            raise ModelError(f"{name}: weight {tname} has shape {tuple(e.get('shape', ()))}, "
                             f"expected {want} for this configuration")
        dt = np.dtype(dtype).newbyteorder("<")
        nbytes = int(np.prod(want, dtype=np.int64)) * dt.itemsize
        off = e.get("offset")
        if not isinstance(off, int) or off < 0 or e.get("nbytes") != nbytes \
                or off + nbytes > len(data):
            raise ModelError(f"{name}: weight {tname} needs {nbytes} bytes at offset {off}, "
                             f"the data section has {len(data)}")
        arrays[tname] = np.frombuffer(data, dtype=dt, count=int(np.prod(want)), offset=off) \
            .reshape(want).astype(np.dtype(dtype))
    meta = header.get("meta") or {}
    return SpikingModel(cfg, vocab, IntWeights(**arrays), meta)
