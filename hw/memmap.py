"""How the model's integer tensors are laid out in the accelerator's memories, word by word.

The core (``core.Core``) reads every memory through one port, one word per cycle, so the
layout decides the parallelism: ``P`` neuron lanes read ``P`` neurons' leak shifts and
membranes in one word; ``S`` synapse lanes read ``S`` entries of a fan-out list in one word;
``R`` readout lanes read one feature's weights for ``R`` characters in one word. A word's lane
``i`` sits at bits ``[i*b, (i+1)*b)`` for fields of ``b`` bits, two's complement for signed
fields.

The input and readout weights share one memory, ``wgt``, because no phase reads both: on the
iCE40 UP5K it is two SPRAM blocks side by side (32-bit words), the fan-out lists the other two.
Its words are ``D = max(R * readout_bits, P * weight_bits)`` bits wide; a word holds
``G = floor(D / (P * weight_bits))`` groups of input weights.

========  =====================  ==============================================================
memory    words                  word ``a`` holds
========  =====================  ==============================================================
``wgt``   ``2 * B * N``          readout, ``B = ceil(V/R)`` blocks: for ``a = (2b + k)*N + n``,
                                 ``Wm[b*R + i][n]`` (``k = 0``) or ``Wc[b*R + i][n]``
                                 (``k = 1``) in lanes ``i < R`` (zero past ``V``)
          ``+ V * ceil(N/P/G)``  input weights, after the readout: for ``a = 2*B*N + x*ceil(N/P/G)
                                 + g // G``, ``W_in[x][g*P + i]`` in lane ``(g % G) * P + i``
``leak``  ``N/P``                ``k[g*P + i]``
``fan``   ``N * F / S``          entry ``j`` of neuron ``s``'s fan-out list in lane ``j % S`` of
                                 ``a = (s*F + j) // S``: target in the lane's low
                                 ``ceil(log2 N)`` bits, weight above it
``bias``  ``V``                  ``b[a]`` (added to each logit as it leaves the core)
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

__all__ = ["MemId", "Geometry", "DEFAULT_LANES", "DEFAULT_READOUT_LANES",
           "DEFAULT_SYNAPSE_LANES", "pack_lanes",
           "unpack_lanes", "pack_memories", "unpack_memories"]


#: Lane counts of the default build: one LIF unit; seven readout lanes, which make the weight
#: word 28 bits (two SPRAM blocks side by side on the UP5K) and take seven of the UP5K's
#: eight DSP blocks (the sampler takes the eighth).
DEFAULT_LANES = 1
DEFAULT_READOUT_LANES = 7
#: Fan-out entries delivered a cycle: two, the two SPRAM blocks of the fan-out lists side by
#: side (a 26-bit word on the UP5K), each entry added into its own bank of accumulators; one
#: for a model whose fan-out is odd (:class:`Geometry` picks the default).
DEFAULT_SYNAPSE_LANES = 2


class MemId(IntEnum):
    """Memory selector of the core's load port (``mem_cmd.payload.mem``)."""

    WGT = 0     # readout and input weights
    LEAK = 1
    FAN = 2
    BIAS = 3
    VMEM = 4
    CNT = 5


@dataclass(frozen=True)
class Geometry:
    """Sizes of the core's memories for one configuration, vocabulary and lane counts, and
    whether the core reads its fan-out and weight memories in two cycles (``registered_reads``,
    the ECP5 build): what the core's schedule, hence its cycle counts, follows from."""

    config: ModelConfig
    vocab_size: int
    lanes: int = DEFAULT_LANES
    readout_lanes: int = DEFAULT_READOUT_LANES
    registered_reads: bool = False
    synapse_lanes: int | None = None   # None: DEFAULT_SYNAPSE_LANES if it divides F, else 1

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
        if self.synapse_lanes is None:
            object.__setattr__(self, "synapse_lanes",
                               DEFAULT_SYNAPSE_LANES if c.fanout % DEFAULT_SYNAPSE_LANES == 0
                               else 1)
        if isinstance(self.synapse_lanes, bool) or not isinstance(self.synapse_lanes, int) \
                or self.synapse_lanes < 1 or c.fanout % self.synapse_lanes:
            raise ValueError(f"synapse_lanes must be a positive integer dividing "
                             f"fanout={c.fanout}, not {self.synapse_lanes!r}")
        if not isinstance(self.registered_reads, bool):
            raise ValueError(f"registered_reads must be a bool, not {self.registered_reads!r}")
        if not 1 <= self.vocab_size <= 256:
            raise ValueError(f"vocab_size must be in 1 .. 256, not {self.vocab_size!r}")

    @property
    def groups(self) -> int:
        """Neuron groups ``N/P``: words of ``leak`` and ``vmem``, cycles of a neuron phase."""
        return self.config.neurons // self.lanes

    @property
    def fan_words(self) -> int:
        """Words of one neuron's fan-out list, ``F/S``: cycles of a spike's delivery."""
        return self.config.fanout // self.synapse_lanes

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
    def list_feature_bits(self) -> int:
        """Bits of a membrane feature in the readout's list: ``feature_bits``, or one fewer
        when rectified (``0 .. f_max`` needs no sign)."""
        c = self.config
        return c.feature_bits if c.f_min < 0 else max(1, c.f_max.bit_length())

    @property
    def leak_bits(self) -> int:
        return max(1, self.config.leak_shift_max.bit_length())

    @property
    def wgt_width(self) -> int:
        """Bits of a ``wgt`` word, ``D``."""
        c = self.config
        return max(self.readout_lanes * c.readout_bits, self.lanes * c.weight_bits)

    @property
    def win_groups_per_word(self) -> int:
        """Neuron groups of input weights in one ``wgt`` word, ``G``."""
        return self.wgt_width // (self.lanes * self.config.weight_bits)

    @property
    def win_row_words(self) -> int:
        """``wgt`` words of one character's input weights."""
        return -(-self.groups // self.win_groups_per_word)

    @property
    def win_base(self) -> int:
        """First ``wgt`` word of the input weights (they follow the readout weights)."""
        return 2 * self.blocks * self.config.neurons

    def depth(self, mem: MemId) -> int:
        c, v = self.config, self.vocab_size
        return {
            MemId.WGT: self.win_base + v * self.win_row_words, MemId.LEAK: self.groups,
            MemId.FAN: c.neurons * self.fan_words, MemId.BIAS: v,
            MemId.VMEM: self.groups, MemId.CNT: self.groups,
        }[mem]

    def width(self, mem: MemId) -> int:
        c, p = self.config, self.lanes
        return {
            MemId.WGT: self.wgt_width, MemId.LEAK: p * self.leak_bits,
            MemId.FAN: self.synapse_lanes * (self.target_bits + c.weight_bits),
            MemId.BIAS: c.bias_bits,
            MemId.VMEM: p * c.membrane_bits, MemId.CNT: p * self.count_bits,
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
    ro = np.stack([wm, wc], axis=1)                                  # (b, 2, n, R)
    # input weights: G groups of P lanes a word, each character's row padded to whole words
    gpw = geom.win_groups_per_word
    rows = geom.win_row_words
    w_in = np.zeros((voc, rows * gpw * p), dtype=np.int64)
    w_in[:, :n] = np.asarray(weights.w_in, dtype=np.int64)
    membranes = np.zeros(n, dtype=np.int64) if v is None else np.asarray(v, dtype=np.int64)
    return {
        MemId.WGT: pack_lanes(ro, c.readout_bits)
        + pack_lanes(w_in.reshape(voc * rows, gpw * p), c.weight_bits),
        MemId.LEAK: pack_lanes(np.asarray(weights.leak).reshape(geom.groups, p), geom.leak_bits),
        MemId.FAN: pack_lanes(fan.reshape(n * geom.fan_words, geom.synapse_lanes),
                              geom.target_bits + c.weight_bits),
        MemId.BIAS: pack_lanes(np.asarray(weights.bias).reshape(voc, 1), c.bias_bits),
        MemId.VMEM: pack_lanes(membranes.reshape(geom.groups, p), c.membrane_bits),
        MemId.CNT: [0] * geom.groups,
    }


def unpack_memories(geom: Geometry, words: dict[MemId, list[int]]) -> IntWeights:
    """The weights held by the words of the weight memories (the inverse of
    :func:`pack_memories` for ``WGT``, ``LEAK``, ``FAN`` and ``BIAS``)."""
    c, p, r = geom.config, geom.lanes, geom.readout_lanes
    n, voc, b = c.neurons, geom.vocab_size, geom.blocks

    def lanes(ws, bits, count, signed):
        return np.array([unpack_lanes(w, bits, count, signed) for w in ws], dtype=np.int64)

    wgt = words[MemId.WGT]
    ro = lanes(wgt[:geom.win_base], c.readout_bits, r, True).reshape(b, 2, n, r)
    wm = ro[:, 0].transpose(0, 2, 1).reshape(b * r, n)[:voc]
    wc = ro[:, 1].transpose(0, 2, 1).reshape(b * r, n)[:voc]
    gpw = geom.win_groups_per_word
    w_in = lanes(wgt[geom.win_base:], c.weight_bits, gpw * p, True)
    w_in = w_in.reshape(voc, geom.win_row_words * gpw * p)[:, :n]
    fan = lanes(words[MemId.FAN], geom.target_bits + c.weight_bits, geom.synapse_lanes, False)
    fan = fan.reshape(n, c.fanout)
    targets = fan & ((1 << geom.target_bits) - 1)
    rec = (fan >> geom.target_bits) & ((1 << c.weight_bits) - 1)
    rec = np.where(rec >> (c.weight_bits - 1), rec - (1 << c.weight_bits), rec)
    return IntWeights(
        w_in=w_in.astype(np.int8),
        leak=lanes(words[MemId.LEAK], geom.leak_bits, p, False).reshape(n).astype(np.uint8),
        rec_targets=targets.astype(np.uint16), rec_weights=rec.astype(np.int8),
        w_cnt=wc.astype(np.int16), w_mem=wm.astype(np.int16),
        bias=lanes(words[MemId.BIAS], c.bias_bits, 1, True).reshape(voc).astype(np.int32))
