"""Block RAM of the boards' FPGA families: the shapes one block offers, and how many blocks a
memory with its own ports takes (the cheapest shape; a block is never shared between two
memories). The SPRAM blocks of the iCE40 UltraPlus are counted by
:meth:`snnfpga.hw.spram.SinglePortRAM.spram_blocks`.
"""

from __future__ import annotations

__all__ = ["BLOCK_RAM_SHAPES", "block_ram_blocks"]

#: (depth, width) shapes of one block RAM per family.
BLOCK_RAM_SHAPES = {
    "ice40": ((256, 16), (512, 8), (1024, 4), (2048, 2)),             # SB_RAM40_4K
    "ecp5": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),  # DP16KD
    "xilinx": ((512, 72), (1024, 36), (2048, 18), (4096, 9), (8192, 4), (16384, 2),
               (32768, 1)),                                         # RAMB36E1
}


def block_ram_blocks(family: str, depth: int, width: int) -> int:
    """Blocks of ``family``'s block RAM a ``depth`` x ``width`` memory takes."""
    return min(-(-depth // d) * -(-width // w) for d, w in BLOCK_RAM_SHAPES[family])
