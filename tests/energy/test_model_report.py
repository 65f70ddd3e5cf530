"""Energy models in the board descriptions, and the estimated report."""

import pytest
import yaml
from snnfpga.boards.description import board_names, load_board
from snnfpga.energy import (
    EVENT_CLASSES,
    EnergyError,
    estimate,
    event_counts,
    format_energy,
    format_power,
    load_energy_model,
)
from snnfpga.energy.counters import default_geometry
from snnfpga.energy.model import KINDS

import snnfpga


@pytest.mark.parametrize("board", board_names())
def test_every_board_has_a_sourced_energy_model(board):
    m = load_energy_model(board)
    assert set(m.events) == set(EVENT_CLASSES)
    for c in [*m.static.values(), m.clock_w_per_mhz, *m.events.values()]:
        assert c.kind in KINDS and len(c.source) > 20
    assert m.idle_w > 0


def test_missing_section_is_named(tmp_path):
    src = load_board("icebreaker").path
    data = yaml.safe_load(src.read_text())
    del data["energy"]["events"]["dsp_op_j"]
    p = tmp_path / "b.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(EnergyError, match="dsp_op_j"):
        load_energy_model(p)
    data.pop("energy")
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(EnergyError, match="section missing"):
        load_energy_model(p)


def test_event_counts_follow_the_memory_mapping():
    model = snnfpga.load(None)
    geom = default_geometry(model)
    k = {"cycles": 1000, "tokens": 1, "spikes": 5, "syn_events": 320, "readout_ops": 65 * 517,
         "fanout_reads": 320, "weight_reads": 2 * 2 * 512 + 65 + 10 * 517,
         "state_reads": 320 + 2 * 512 * 3 + 2 * 10 * 512, "state_writes": 320 + 2 * 512 * 3}
    sp = event_counts(k, geom, spram=True)
    eb = event_counts(k, geom, spram=False)
    # SPRAM blocks read: fan-out words of two entries and weight words (input and readout)
    # each in two blocks side by side
    assert sp["spram_read"] == 2 * (320 // 2) + 2 * (2 * 512 + 10 * 517)
    assert sp["ebr_read"] == k["state_reads"] + 2 * 512 + 65
    assert eb["spram_read"] == 0
    # block RAM counts words: 160 fan-out words, the weight words
    assert eb["ebr_read"] == sp["ebr_read"] + 320 // 2 + 2 * 512 + 10 * 517
    assert sp["dsp_op"] == k["readout_ops"] and sp["cycle"] == 1000


def test_report_is_labelled_estimated_and_adds_up():
    text, run = snnfpga.energy.generate_counts("ROMEO:", max_new_tokens=20, seed=2)
    rep = estimate(run, "icebreaker")
    lines = rep.lines()
    for line in lines:
        if " J" in line or "W " in line or line.rstrip().endswith("W"):
            assert "estimated" in line or line.startswith("    "), line
    assert lines[0].startswith("energy (estimated)")
    e = rep.event
    assert abs(sum(e.parts.values()) - e.total_j) < 1e-15
    assert e.per("char") == pytest.approx(e.total_j / run.counters["tokens"])
    assert rep.ratio > 1
    m = load_energy_model("icebreaker")
    dsp = run.counters["readout_ops"] * m.events["dsp_op"].value
    assert e.parts["dsp_op"] == pytest.approx(dsp)
    assert e.busy_s == pytest.approx(run.counters["cycles"] / 24e6)
    assert rep.as_dict()["label"] == "estimated"


def test_units():
    assert format_energy(2.58e-6) == "2.58 µJ"
    assert format_energy(6.58e-10) == "658 pJ"
    assert format_energy(4.21e-8) == "42.1 nJ"
    assert format_energy(999.96e-9) == "1 µJ"   # rounds before it picks the prefix
    assert format_power(5.77e-3) == "5.77 mW"
    assert format_energy(0) == "0 J"
