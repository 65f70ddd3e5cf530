"""How the model's integer tensors are laid out in the accelerator's memories, word by word.

The core (``core.Core``) reads every weight memory through one port, one word per cycle, so
the layout decides the parallelism: ``P`` neuron lanes read ``P`` neurons' input weights,
leak shifts and membranes in one word; ``R`` readout lanes read the count and membrane weights
of ``R`` characters for one neuron in one word. A word's lane ``i`` sits at bits
``[i*b, (i+1)*b)`` for fields of ``b`` bits, two's complement for signed fields.

========  =====================  ==============================================================
memory    words                  word ``a`` holds
========  =====================  ==============================================================
``win``   ``V * N/P``            ``W_in[x][g*P + i]`` for ``a = x*N/P + g``, lanes ``i < P``
``leak``  ``N/P``                ``k[g*P + i]``
``fan``   ``N * F``              entry ``j`` of neuron ``s``'s fan-out list, ``a = s*F + j``:
                                 target in the low ``ceil(log2 N)`` bits, weight above it
``ro``    ``ceil(V/R) * N``      for ``a = b*N + n``: ``Wc[b*R + i][n]`` in lanes ``0..R-1``,
                                 ``Wm[b*R + i][n]`` in lanes ``R..2R-1`` (zero past ``V``)
``bias``  ``ceil(V/R)``          ``b[b*R + i]`` (zero past ``V``)
``vmem``  ``N/P``                membranes ``v[g*P + i]`` (state, also readable and writable)
``cnt``   ``N/P``                spike counts ``c[g*P + i]`` of the last token (state)
========  =====================  ==============================================================

The same functions pack words for the memories' initial contents at elaboration and for the
run-time load port, so both paths write identical bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..model.config import ModelConfig
from ..model.modelfile import IntWeights

__all__ = ["MemId", "Geometry", "pack_lanes", "unpack_lanes", "pack_memories"]


class MemId(IntEnum):
    """Memory selector of the core's load port (``mem_cmd.payload.mem``)."""

    WIN = 0
    LEAK = 1
    FAN = 2
    RO = 3
    BIAS = 4
    VMEM = 5
    CNT = 6


@dataclass(frozen=True)
class Geometry:
    """Sizes of the core's memories for one configuration, vocabulary and lane counts."""

    config: ModelConfig
    vocab_size: int
    lanes: int = 1
    readout_lanes: int = 4

    def __post_init__(self):
        c = self.config
        if isinstance(self.lanes, bool) or not isinstance(self.lanes, int) or self.lanes < 1 \
                or self.lanes & (self.lanes - 1) or c.neurons % self.lanes:
            raise ValueError(f"lanes must be a power of two dividing neurons={c.neurons}, "
                             f"not {self.lanes!r}")
        if isinstance(self.readout_lanes, bool) or not isinstance(self.readout_lanes, int) \
                or not 1 <= self.readout_lanes <= 64:
            raise ValueError(f"readout_lanes must be an integer in 1 .. 64, "
                             f"not {self.readout_lanes!r}")
        if not 1 <= self.vocab_size <= 256:
            raise ValueError(f"vocab_size must be in 1 .. 256, not {self.vocab_size!r}")

    @property
    def groups(self) -> int:
        """Neuron groups ``N/P``: words of ``leak`` and ``vmem``, cycles of a neuron phase."""
        return self.config.neurons // self.lanes

    @property
    def blocks(self) -> int:
        """Readout blocks ``ceil(V/R)``."""
        return -(-self.vocab_size // self.readout_lanes)

    @property
    def count_bits(self) -> int:
        return max(1, self.config.steps.bit_length())

    @property
    def target_bits(self) -> int:
        return max(1, (self.config.neurons - 1).bit_length())

    @property
    def leak_bits(self) -> int:
        return max(1, self.config.leak_shift_max.bit_length())

    def depth(self, mem: MemId) -> int:
        c, v = self.config, self.vocab_size
        return {
            MemId.WIN: v * self.groups, MemId.LEAK: self.groups,
            MemId.FAN: c.neurons * c.fanout, MemId.RO: self.blocks * c.neurons,
            MemId.BIAS: self.blocks, MemId.VMEM: self.groups, MemId.CNT: self.groups,
        }[mem]

    def width(self, mem: MemId) -> int:
        c, p, r = self.config, self.lanes, self.readout_lanes
        return {
            MemId.WIN: p * c.weight_bits, MemId.LEAK: p * self.leak_bits,
            MemId.FAN: self.target_bits + c.weight_bits, MemId.RO: 2 * r * c.readout_bits,
            MemId.BIAS: r * c.bias_bits, MemId.VMEM: p * c.membrane_bits,
            MemId.CNT: p * self.count_bits,
        }[mem]

    @property
    def data_bits(self) -> int:
        """Width of the load port's data: the widest memory word."""
        return max(self.width(m) for m in MemId)

    @property
    def addr_bits(self) -> int:
        return max(1, max(self.depth(m) - 1 for m in MemId).bit_length())


def pack_lanes(values: np.ndarray, bits: int) -> list[int]:
    """Pack the last axis of ``values`` (signed or unsigned ints) into words, lane 0 lowest."""
    v = np.asarray(values, dtype=np.int64)
    mask = (1 << bits) - 1
    words = np.zeros(v.shape[:-1], dtype=object)
    for i in range(v.shape[-1]):
        words = words + ((v[..., i] & mask).astype(object) << (i * bits))
    return [int(w) for w in np.ravel(words)]


def unpack_lanes(word: int, bits: int, lanes: int, signed: bool) -> list[int]:
    """The inverse of :func:`pack_lanes` for one word."""
    out = []
    for i in range(lanes):
        f = (word >> (i * bits)) & ((1 << bits) - 1)
        if signed and f >> (bits - 1):
            f -= 1 << bits
        out.append(f)
    return out


def pack_memories(geom: Geometry, weights: IntWeights,
                  v: np.ndarray | None = None) -> dict[MemId, list[int]]:
    """Every memory's words for ``weights`` (and membranes ``v``, zero by default)."""
    c, p, r = geom.config, geom.lanes, geom.readout_lanes
    n, voc, b = c.neurons, geom.vocab_size, geom.blocks
    pad = b * r - voc

    def padded(a):  # (V, ...) -> (blocks*R, ...) with zero rows past V
        return np.concatenate([np.asarray(a, dtype=np.int64),
                               np.zeros((pad,) + np.shape(a)[1:], dtype=np.int64)])

    fan = (np.asarray(weights.rec_weights, dtype=np.int64) & ((1 << c.weight_bits) - 1)) \
        << geom.target_bits | np.asarray(weights.rec_targets, dtype=np.int64)
    wc = padded(weights.w_cnt).reshape(b, r, n).transpose(0, 2, 1)   # (b, n, R)
    wm = padded(weights.w_mem).reshape(b, r, n).transpose(0, 2, 1)
    membranes = np.zeros(n, dtype=np.int64) if v is None else np.asarray(v, dtype=np.int64)
    return {
        MemId.WIN: pack_lanes(np.asarray(weights.w_in).reshape(voc, geom.groups, p),
                              c.weight_bits),
        MemId.LEAK: pack_lanes(np.asarray(weights.leak).reshape(geom.groups, p), geom.leak_bits),
        MemId.FAN: [int(x) for x in fan.ravel()],
        MemId.RO: pack_lanes(np.concatenate([wc, wm], axis=-1), c.readout_bits),
        MemId.BIAS: pack_lanes(padded(weights.bias).reshape(b, r), c.bias_bits),
        MemId.VMEM: pack_lanes(membranes.reshape(geom.groups, p), c.membrane_bits),
        MemId.CNT: [0] * geom.groups,
    }
