"""On-chip memory of a model: bits per memory, and their placement on the iCE40 UP5K.

The placement is the one the gateware is built for: weights in SPRAM (16-bit words, 16,384
words a block), state, queues and tables in EBR (4 kbit blocks, widest shape 256 x 16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import ModelConfig

__all__ = ["Memory", "memories", "memory_report", "UP5K"]

UP5K = {"ebr_blocks": 30, "ebr_bits": 4096, "spram_blocks": 4, "spram_words": 16384,
        "spram_width": 16, "logic_cells": 5280, "dsp": 8}


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
            return math.ceil(self.depth / UP5K["spram_words"]) * math.ceil(self.width / 16)
        # EBR: 256x16, 512x8, 1024x4 or 2048x2 per block; pick the cheapest shape
        best = None
        for d, w in ((256, 16), (512, 8), (1024, 4), (2048, 2)):
            n = math.ceil(self.depth / d) * math.ceil(self.width / w)
            best = n if best is None else min(best, n)
        return best


def accumulator_bits(cfg: ModelConfig) -> int:
    """Width of a synaptic accumulator: the largest |sum| of one step's recurrent input."""
    worst = cfg.neurons * (1 << (cfg.weight_bits - 1)) << cfg.recurrent_shift
    return _clog2(worst + 1) + 1


def memories(cfg: ModelConfig, vocab_size: int) -> list[Memory]:
    """Every memory of the accelerator for ``cfg``, with its packing."""
    n, f, v = cfg.neurons, cfg.fanout, vocab_size
    per_word = 16 // cfg.weight_bits
    ro_per_word = max(1, 16 // cfg.readout_bits)
    tbits = _clog2(n)
    mems = [
        Memory("fan-out lists", "spram", n * f, 16,
               f"{n} x {f} entries of target ({tbits} bit) + weight ({cfg.weight_bits} bit)"),
        Memory("input weights", "spram", math.ceil(v * n / per_word), 16,
               f"{v} x {n} x {cfg.weight_bits} bit, {per_word} a word"),
        Memory("readout weights", "spram", math.ceil(2 * n * v / ro_per_word), 16,
               f"2 x {n} x {v} x {cfg.readout_bits} bit, {ro_per_word} a word"),
        Memory("readout bias", "ebr", v, cfg.bias_bits, f"{v} x {cfg.bias_bits} bit"),
        Memory("leak shifts", "ebr", n, _clog2(cfg.leak_shift_max + 1),
               f"{n} x {_clog2(cfg.leak_shift_max + 1)} bit"),
        Memory("membranes", "ebr", n, cfg.membrane_bits, f"{n} x {cfg.membrane_bits} bit"),
        Memory("accumulators", "ebr", n, accumulator_bits(cfg),
               f"{n} x {accumulator_bits(cfg)} bit"),
        Memory("spike counts", "ebr", n, _clog2(cfg.steps + 1),
               f"{n} x {_clog2(cfg.steps + 1)} bit"),
        Memory("event queue A", "ebr", n, tbits, f"up to {n} spike ids of {tbits} bit"),
        Memory("event queue B", "ebr", n, tbits, f"up to {n} spike ids of {tbits} bit"),
        Memory("logits", "ebr", v, 32, f"{v} x 32 bit"),
        Memory("Gumbel table", "ebr", 256, 16, "256 x 16 bit"),
    ]
    return mems


def memory_report(cfg: ModelConfig, vocab_size: int) -> list[str]:
    """Lines of the memory arithmetic against the UP5K (printed by ``snnfpga info``).

    SPRAM is one space of ``4 x 16,384`` 16-bit words; the weight memories are laid out in it
    one after another (their word ranges are printed). EBR memories take whole blocks each.
    """
    mems = memories(cfg, vocab_size)
    out = [f"{'memory':16s} {'kind':5s} {'words x bits':>13s} {'kbit':>7s}  {'placement':17s} "
           "layout"]
    addr = 0
    ebr = 0
    for m in mems:
        if m.kind == "spram":
            place = f"words {addr:5d}-{addr + m.depth - 1:5d}"
            addr += m.depth
        else:
            place = f"{m.blocks():2d} EBR block(s)"
            ebr += m.blocks()
        out.append(f"{m.name:16s} {m.kind:5s} {m.depth:>6d} x {m.width:<4d} "
                   f"{m.bits / 1024:7.1f}  {place:17s} {m.what}")
    cap = UP5K["spram_blocks"] * UP5K["spram_words"]
    wbits = sum(m.bits for m in mems if m.kind == "spram")
    out.append(f"SPRAM: {addr} of {cap} words ({100 * addr / cap:.1f} %, {wbits / 1024:.0f} of "
               f"{cap * 16 // 1024} kbit) in {math.ceil(addr / UP5K['spram_words'])} of "
               f"{UP5K['spram_blocks']} blocks")
    out.append(f"EBR: {ebr} of {UP5K['ebr_blocks']} blocks for state, queues and tables "
               f"({UP5K['ebr_blocks'] - ebr} left for control and I/O buffers)")
    return out


def fits_up5k(cfg: ModelConfig, vocab_size: int) -> bool:
    mems = memories(cfg, vocab_size)
    words = sum(m.depth for m in mems if m.kind == "spram")
    ebr = sum(m.blocks() for m in mems if m.kind == "ebr")
    return words <= UP5K["spram_blocks"] * UP5K["spram_words"] and ebr <= UP5K["ebr_blocks"]
