"""On-chip memory of a model: bits per memory, and their placement on the iCE40 UP5K.

The placement is the one the gateware is built for, with the word shapes of
``snnfpga.hw.memmap.Geometry`` at the default lane counts: the fan-out lists and the weight
memory (readout and input weights) in SPRAM (16-bit words, 16,384 words a block; a wider word
takes blocks side by side), state, queues and tables in EBR (4 kbit blocks, widest shape
256 x 16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..hw.blockram import block_ram_blocks
from ..hw.spram import SPRAM_BLOCKS, SPRAM_WIDTH, SPRAM_WORDS, SinglePortRAM
from .config import ModelConfig

__all__ = ["Memory", "memories", "memory_report", "UP5K"]

UP5K = {"ebr_blocks": 30, "ebr_bits": 4096, "spram_blocks": SPRAM_BLOCKS,
        "spram_words": SPRAM_WORDS, "spram_width": SPRAM_WIDTH, "logic_cells": 5280, "dsp": 8}


def _clog2(x: int) -> int:
    return max(1, math.ceil(math.log2(x))) if x > 1 else 1


@dataclass(frozen=True)
class Memory:
    name: str
    kind: str      # "spram" or "ebr"
    depth: int     # words
    width: int     # bits per word
    what: str

    @property
    def bits(self) -> int:
        return self.depth * self.width

    def blocks(self) -> int:
        if self.kind == "spram":
            return SinglePortRAM.spram_blocks(self.width, self.depth)
        return block_ram_blocks("ice40", self.depth, self.width)


def memories(cfg: ModelConfig, vocab_size: int) -> list[Memory]:
    """Every memory of the accelerator for ``cfg``, with its packing."""
    from ..hw.lif import accumulator_shape
    from ..hw.memmap import Geometry, MemId

    g = Geometry(cfg, vocab_size)
    acc_bits = accumulator_shape(cfg).width
    n, f, v = cfg.neurons, cfg.fanout, vocab_size
    r, s = g.readout_lanes, g.synapse_lanes
    tbits = _clog2(n)
    ro_words = g.win_base
    mems = [
        Memory("fan-out lists", "spram", g.depth(MemId.FAN), g.width(MemId.FAN),
               f"{n} x {f} entries of target ({tbits} bit) + weight ({cfg.weight_bits} bit), "
               f"{s} a word"),
        Memory("weights", "spram", g.depth(MemId.WGT), g.wgt_width,
               f"readout 2 x {n} x {g.blocks * r} x {cfg.readout_bits} bit ({ro_words} words),"
               f" input {v} x {n} x {cfg.weight_bits} bit ({g.depth(MemId.WGT) - ro_words})"),
        Memory("readout bias", "ebr", v, cfg.bias_bits, f"{v} x {cfg.bias_bits} bit"),
        Memory("leak shifts", "ebr", n, _clog2(cfg.leak_shift_max + 1),
               f"{n} x {_clog2(cfg.leak_shift_max + 1)} bit"),
        Memory("membranes", "ebr", n, cfg.membrane_bits, f"{n} x {cfg.membrane_bits} bit"),
    ]
    mems += [Memory(f"accumulators {k}" if s > 1 else "accumulators", "ebr", n,
                    acc_bits, f"{n} x {acc_bits} bit" + (f", synapse lane {k}" if s > 1 else ""))
             for k in range(s)]
    mems += [
        Memory("spike counts", "ebr", n, _clog2(cfg.steps + 1),
               f"{n} x {_clog2(cfg.steps + 1)} bit"),
        Memory("membrane list", "ebr", n, tbits + g.list_feature_bits,
               f"up to {n} (id, feature) of {tbits} + {g.list_feature_bits} bit"),
        Memory("count list", "ebr", n, tbits + g.count_bits,
               f"up to {n} (id, spike count) of {tbits} + {g.count_bits} bit"),
        Memory("event queue A", "ebr", n, tbits, f"up to {n} spike ids of {tbits} bit"),
        Memory("event queue B", "ebr", n, tbits, f"up to {n} spike ids of {tbits} bit"),
        Memory("Gumbel table", "ebr", 256, 16, "256 x 16 bit"),
    ]
    return mems


def memory_report(cfg: ModelConfig, vocab_size: int) -> list[str]:
    """Lines of the memory arithmetic against the UP5K (printed by ``snnfpga info``).

    Each memory has its own port, so each takes whole blocks: SPRAM blocks in depth and side
    by side for words wider than 16 bits, EBR blocks in their cheapest shape.
    """
    mems = memories(cfg, vocab_size)
    out = [f"{'memory':16s} {'kind':5s} {'words x bits':>13s} {'kbit':>7s}  {'placement':17s} "
           "layout"]
    spram = ebr = 0
    for m in mems:
        if m.kind == "spram":
            place = f"{m.blocks():2d} SPRAM block(s)"
            spram += m.blocks()
        else:
            place = f"{m.blocks():2d} EBR block(s)"
            ebr += m.blocks()
        out.append(f"{m.name:16s} {m.kind:5s} {m.depth:>6d} x {m.width:<4d} "
                   f"{m.bits / 1024:7.1f}  {place:17s} {m.what}")
    wbits = sum(m.bits for m in mems if m.kind == "spram")
    cap = UP5K["spram_blocks"] * UP5K["spram_words"] * UP5K["spram_width"]
    out.append(f"SPRAM: {spram} of {UP5K['spram_blocks']} blocks, {wbits / 1024:.0f} of "
               f"{cap // 1024} kbit used ({100 * wbits / cap:.1f} %)")
    out.append(f"EBR: {ebr} of {UP5K['ebr_blocks']} blocks for state, queues and tables "
               f"({UP5K['ebr_blocks'] - ebr} left for control and I/O buffers)")
    return out


def fits_up5k(cfg: ModelConfig, vocab_size: int) -> bool:
    mems = memories(cfg, vocab_size)
    spram = sum(m.blocks() for m in mems if m.kind == "spram")
    ebr = sum(m.blocks() for m in mems if m.kind == "ebr")
    return spram <= UP5K["spram_blocks"] and ebr <= UP5K["ebr_blocks"]
