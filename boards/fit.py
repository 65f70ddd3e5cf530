"""Will a model fit a board? A prediction made before any synthesis (``snnfpga fit``).

Memory is what decides, and it follows exactly from the gateware: every memory of the board
top-level (the core's six through :class:`snnfpga.hw.memmap.Geometry`, the synaptic
accumulators, the readout's two lists, the event queue, the Gumbel table, the frame buffers,
the UART's FIFO, whose buffered output register holds one of its bytes) has its own ports,
so each takes whole blocks of the family's RAM in the cheapest shape the block offers. A memory
smaller than :data:`LUTRAM_BITS` is left to logic, as Yosys does. The DSP blocks are the
readout lanes plus the sampler's temperature product.

Logic is an estimate: the logic cells of the default model's real iCE40 build
(:data:`LOGIC_REFERENCE`, from ``make bitstream``'s report), scaled by the address width and
the readout lanes, which are where the design grows with the model; on other families the
same count of 4-input LUTs. The test suite compares the prediction with the real build.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth.hdl import Shape

from .description import BoardDescription

__all__ = ["FitReport", "MemoryUse", "board_memories", "predict_fit"]

#: Memories at most this big are built from logic: distributed RAM on the ECP5 and Xilinx
#: parts; the iCE40 has none, and Yosys puts even a 63-byte FIFO in a block RAM there.
LUTRAM_BITS = {"ice40": 0, "ecp5": 512, "xilinx": 512}
#: Logic cells of the iCEBreaker's bitstream top-level after nextpnr's packing
#: (ICESTORM_LC), with the default model: 512 neurons, 7 readout lanes, 2 synapse lanes.
#: Measured with ``make bitstream BOARD=icebreaker``; ``tests/boards/test_build.py`` rebuilds it.
LOGIC_REFERENCE = {"cells": 5010, "address_bits": 9, "readout_lanes": 7}
#: Logic cells per readout lane (its adder and feature/weight registers) and per address bit:
#: rough figures from the widths of the registers and adders involved, not fitted to builds.
LOGIC_PER_LANE = 120
LOGIC_PER_ADDRESS_BIT = 150


@dataclass(frozen=True)
class MemoryUse:
    name: str
    depth: int
    width: int
    kind: str          # "spram", "ebr" or "logic"
    blocks: int


@dataclass
class FitReport:
    board: str
    device: str
    neurons: int
    memories: list[MemoryUse]
    need: dict[str, int]
    have: dict[str, int]

    @property
    def fits(self) -> bool:
        return not self.short()

    def short(self) -> list[str]:
        """One sentence per resource the model needs more of than the device has."""
        out = []
        for k, n in self.need.items():
            if n > self.have[k]:
                what = [f"{m.name} {m.blocks}" for m in self.memories
                        if _res(m.kind) == k and m.blocks]
                detail = f" ({', '.join(what)})" if what else ""
                out.append(f"{_NAMES[k]}: the model needs {n}{detail}; the {self.device} has "
                           f"{self.have[k]}")
        return out

    def lines(self) -> list[str]:
        out = [f"{self.board} ({self.device}), model of {self.neurons} neurons:"]
        for m in self.memories:
            place = f"{m.blocks} {m.kind.upper()}" if m.kind != "logic" else "logic"
            out.append(f"  {m.name:18s} {m.depth:>7d} x {m.width:<3d} {place}")
        for k, n in self.need.items():
            out.append(f"  {_NAMES[k]:18s} {n:>7d} of {self.have[k]:<6d} "
                       f"({100 * n / max(1, self.have[k]):5.1f} %)")
        out.append("fits" if self.fits else "DOES NOT FIT: " + "; ".join(self.short()))
        return out


_NAMES = {"logic_cells": "logic cells", "ebr": "block RAM", "spram": "SPRAM", "dsp": "DSP"}


def _res(kind: str) -> str:
    return {"spram": "spram", "ebr": "ebr"}.get(kind, "logic")


def board_memories(desc: BoardDescription, config, vocab_size: int) -> list[MemoryUse]:
    """Every memory of the board top-level for a model, placed as the build places it."""
    from ..hw.blockram import block_ram_blocks
    from ..hw.board import UART_FIFO_DEPTH
    from ..hw.framing import BUFFER_BYTES
    from ..hw.lif import accumulator_shape
    from ..hw.memmap import MemId
    from ..hw.spram import SinglePortRAM
    from ..model.golden import gumbel_table

    g = desc.geometry(config, vocab_size)
    n = config.neurons
    table = gumbel_table(config.gumbel_frac_bits)
    gumbel_width = Shape.cast(range(int(table.min()), int(table.max()) + 1)).width
    ptr = max(1, math.ceil(math.log2(n)))
    mems = [(f"mem {m.name.lower()}", g.depth(m), g.width(m),
             desc.spram and m in (MemId.WGT, MemId.FAN)) for m in MemId]
    mems += [(f"accumulators {k}.{i}", g.groups, accumulator_shape(config).width, False)
             for k in range(g.synapse_lanes) for i in range(desc.lanes)]
    mems += [("readout list, membranes", n, ptr + g.list_feature_bits, False),
             ("readout list, counts", n, ptr + g.count_bits, False),
             ("event queue", 2 << ptr, ptr, False),
             ("Gumbel table", len(table), gumbel_width, False),
             ("frame rx buffer", BUFFER_BYTES, 8, False),
             ("frame tx buffer", BUFFER_BYTES, 8, False),
             ("UART receive FIFO", UART_FIFO_DEPTH - 1, 8, False)]
    out = []
    for name, depth, width, spram in mems:
        if spram:
            out.append(MemoryUse(name, depth, width, "spram",
                                 SinglePortRAM.spram_blocks(width, depth)))
        elif depth * width <= LUTRAM_BITS[desc.family]:
            out.append(MemoryUse(name, depth, width, "logic", 0))
        else:
            out.append(MemoryUse(name, depth, width, "ebr",
                                 block_ram_blocks(desc.family, depth, width)))
    return out


def predict_fit(desc: BoardDescription, config, vocab_size: int) -> FitReport:
    """What the board top-level for ``config`` needs of each resource of ``desc``'s device."""
    mems = board_memories(desc, config, vocab_size)
    ref = LOGIC_REFERENCE
    abits = max(1, math.ceil(math.log2(config.neurons)))
    logic = ref["cells"] + LOGIC_PER_ADDRESS_BIT * (abits - ref["address_bits"]) \
        + LOGIC_PER_LANE * (desc.readout_lanes - ref["readout_lanes"])
    need = {"logic_cells": logic,
            "ebr": sum(m.blocks for m in mems if m.kind == "ebr"),
            "spram": sum(m.blocks for m in mems if m.kind == "spram"),
            "dsp": desc.readout_lanes + 1}
    have = {k: getattr(desc.device, k) for k in need}
    return FitReport(desc.name, desc.device.name, config.neurons, mems, need, have)
