"""The serial line's figures that ``make bench-link`` prints beside the virtual board's."""

import pytest
from snnfpga.sim.linkbench import line_figures


def test_line_figures_at_one_megabaud():
    f = line_figures(5400, 24.0, 1_000_000, 9)
    assert f["chip_us"] == pytest.approx(225.0)
    assert (f["byte_us"], f["frame_us"]) == (pytest.approx(10.0), pytest.approx(90.0))
    assert f["wire"] == pytest.approx(1_000_000 / 90)
    assert f["board"] == f["chip"] == pytest.approx(1e6 / 225) and f["bound"] == "core"
    # ten bits of a byte in 225 us; ninety of a frame
    assert f["keep_up_byte"] == pytest.approx(44_444.44, rel=1e-6)
    assert f["keep_up_frame"] == pytest.approx(400_000.0)


def test_below_the_keep_up_rate_the_line_bounds_generate():
    fast = line_figures(5400, 24.0, 1_000_000, 9)
    slow = line_figures(5400, 24.0, 375_000, 9)
    assert slow["bound"] == "line" and slow["board"] == slow["wire"] < fast["board"]
    assert slow["frame_us"] > slow["chip_us"]
    # the keep-up rates depend on the core and the clock only
    assert slow["keep_up_frame"] == fast["keep_up_frame"]
    assert line_figures(2700, 24.0, 9600, 9)["keep_up_byte"] == pytest.approx(2 * 44_444.44,
                                                                              rel=1e-6)
