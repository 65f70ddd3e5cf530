"""Least-squares calibration recovers known event energies from synthetic runs."""

import json

import numpy as np
import pytest
from snnfpga.energy import EnergyError, fit, load_energy_model, save_fit
from snnfpga.energy.calibrate import CalibrationRun, synthetic_runs

TRUE = {"cycle": 80e-12, "spram_read": 14e-12, "ebr_read": 6e-12, "ebr_write": 4e-12,
        "dsp_op": 22e-12}


def activity_levels(n=12, seed=1):
    """Designed runs (say, builds with other lane counts and memory mappings) in which the
    classes vary independently of each other."""
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(n):
        tok = int(rng.integers(200, 2000))
        ev = tok * float(rng.uniform(300, 8000))
        u = rng.uniform(0.3, 1.7, size=5)
        runs.append({"cycle": int(u[0] * (ev + tok * 1200)), "spram_read": int(u[1] * ev),
                     "ebr_read": int(u[2] * (ev + tok * 14000)),
                     "ebr_write": int(u[3] * (ev + tok * 3072)),
                     "dsp_op": int(u[4] * 65 * tok * 600)})
    return runs


def test_exact_runs_recover_the_coefficients():
    f = fit(synthetic_runs(TRUE, activity_levels()))
    for k, v in TRUE.items():
        assert f.coefficients[k] == pytest.approx(v, rel=1e-6)
    assert f.rms_rel < 1e-9


def test_noisy_runs_recover_within_their_standard_errors():
    f = fit(synthetic_runs(TRUE, activity_levels(40), noise_rel=0.01, seed=3))
    assert 0.002 < f.rms_rel < 0.02
    for k, v in TRUE.items():
        assert abs(f.coefficients[k] - v) <= 4 * f.stderr[k], k
    assert any("condition number" in line for line in f.lines())


def test_too_few_or_degenerate_runs_are_refused():
    runs = synthetic_runs(TRUE, activity_levels(3))
    with pytest.raises(EnergyError, match="3 runs cannot determine 5"):
        fit(runs)
    same = [CalibrationRun({"cycle": 10 * i, "dsp_op": 20 * i}, 1e-9 * i) for i in range(1, 6)]
    with pytest.raises(EnergyError, match="do not separate"):
        fit(same)


def one_bitstream(n=10, seed=2):
    """Runs of one bitstream: every class affine in tokens, synaptic events and features
    (the default core's pattern, ``energy.counters``)."""
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(n):
        tok = int(rng.integers(100, 3000))
        ev = int(tok * rng.uniform(1000, 8000))
        feats = int(tok * (512 + rng.uniform(5, 200)))
        runs.append({"cycle": ev + 1024 * tok + 10 * feats + 102 * tok,
                     "spram_read": ev + 1024 * tok + 10 * feats,
                     "ebr_read": ev + 3072 * tok + 1089 * tok + 10240 * tok,
                     "ebr_write": ev + 3072 * tok, "dsp_op": 65 * feats})
    return runs


def test_one_bitstream_determines_three_classes():
    runs = synthetic_runs(TRUE, one_bitstream(), noise_rel=0.002, seed=4)
    with pytest.raises(EnergyError, match="fit at most three classes"):
        fit(runs)
    fixed = {k: TRUE[k] for k in ("ebr_read", "ebr_write")}
    f = fit(runs, classes=["cycle", "spram_read", "dsp_op"], fixed=fixed)
    for k in ("cycle", "spram_read", "dsp_op"):
        assert abs(f.coefficients[k] - TRUE[k]) <= 4 * f.stderr[k], k
    assert f.coefficients["dsp_op"] == pytest.approx(TRUE["dsp_op"], rel=0.02)


def test_saved_fit_is_used_by_the_model_and_leaves_the_description(tmp_path):
    f = fit(synthetic_runs(TRUE, activity_levels()))
    p = save_fit("icebreaker", f, path=tmp_path / "icebreaker.json", note="synthetic")
    assert json.loads(p.read_text())["coefficients"]["dsp_op"] == pytest.approx(22e-12)
    base = load_energy_model("icebreaker")
    cal = base.calibrated(p)
    assert cal.events["dsp_op"].kind == "calibrated"
    assert cal.events["dsp_op"].value == pytest.approx(22e-12)
    assert cal.events["uart_byte"] == base.events["uart_byte"]      # not fitted: kept
    assert load_energy_model("icebreaker").events["dsp_op"].kind == "derived"
    with pytest.raises(EnergyError, match="no calibration"):
        base.calibrated(tmp_path / "missing.json")


def test_calibrate_command(tmp_path, capsys):
    from snnfpga.energy.calibrate import main

    runs = tmp_path / "runs.jsonl"
    runs.write_text("".join(json.dumps({"events": r.events, "energy_j": r.energy_j}) + "\n"
                            for r in synthetic_runs(TRUE, activity_levels(), noise_rel=0.005)))
    out = tmp_path / "cal.json"
    assert main(["--runs", str(runs), "--out", str(out), "--fit", "all"]) == 0
    assert "rms error" in capsys.readouterr().out
    assert set(json.loads(out.read_text())["coefficients"]) == set(TRUE)
    assert main(["--runs", str(runs), "--out", str(out)]) == 0      # three classes, two held
    d = json.loads(out.read_text())
    assert set(d["coefficients"]) == {"cycle", "spram_read", "dsp_op"}
    assert set(d["fixed"]) == {"ebr_read", "ebr_write", "uart_byte"}
    runs.write_text("{not json\n")
    assert main(["--runs", str(runs), "--out", str(out)]) == 2
