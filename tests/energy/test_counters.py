"""Counters derived from the golden model against a co-simulation of the core, exactly."""

import dataclasses
import json
from pathlib import Path

import pytest
from snnfpga.energy import EnergyError, dense_counters, derive_counters, generate_counts
from snnfpga.energy.counters import MEASURED_OVERHEAD, default_geometry, geometry_key
from snnfpga.hw.core import COUNTERS
from snnfpga.hw.memmap import Geometry
from snnfpga.model.golden import GoldenModel
from snnfpga.sim.records import fed_tokens
from token_cycles import expected_token_cycles

import snnfpga

RECORDS = json.loads((Path(__file__).parent / "data" / "cosim_records.json").read_text())
COSIM = RECORDS["core_all_sampled"]


@pytest.fixture(scope="module")
def model():
    return snnfpga.load(None)


def _generate(rec):
    return generate_counts(rec["prompt"], max_new_tokens=rec["max_new_tokens"],
                           temperature=rec["temperature"], seed=rec["seed"])


@pytest.fixture(scope="module")
def golden_run():
    return _generate(RECORDS["core_generate"])


def test_generation_matches_the_api(golden_run):
    c = RECORDS["core_generate"]
    text = snnfpga.generate(c["prompt"], max_new_tokens=c["max_new_tokens"],
                            temperature=c["temperature"], seed=c["seed"])
    assert golden_run[0] == text


@pytest.mark.parametrize("record", ["core_generate", "board_sim"])
def test_every_counter_equals_the_recorded_run(record, golden_run):
    """A generation as the board's GENERATE runs it: on the core and on the virtual board."""
    _, run = golden_run if record == "core_generate" else _generate(RECORDS[record])
    assert run.cycles_exact and run.source == "derived"
    for name in COUNTERS:
        assert run.counters[name] == RECORDS[record]["totals"][name], name


@pytest.mark.parametrize("record", ["core_generate", "core_all_sampled"])
def test_cycles_per_token_equal_the_cosimulation(model, record):
    """Bound + constant + sampling + one cycle per spike of neuron N-1; RESET on the first."""
    c = RECORDS[record]
    fed = fed_tokens(model, c["prompt"], c["max_new_tokens"], c["temperature"], c["seed"])
    got = expected_token_cycles(model, fed, len(model.vocab.encode(c["prompt"])),
                                all_sampled=record == "core_all_sampled")
    assert got == c["cycles_per_token"]


def test_hardware_counters_pass_through(model):
    geom = default_geometry(model)
    run = derive_counters(dict(RECORDS["board_sim"]["totals"]), geom)
    assert run.source == "hardware" and run.cycles_exact
    assert run.counters == RECORDS["board_sim"]["totals"]


def test_unknown_geometry_gives_the_bound(model):
    geom = Geometry(model.config, len(model.vocab), 2, 7)
    totals = {k: COSIM["totals"][k] for k in ("tokens", "spikes", "syn_events", "readout_ops")}
    run = derive_counters(totals, geom, last_neuron_spikes=3, resets=1)
    assert not run.cycles_exact
    feats = totals["readout_ops"] // geom.vocab_size
    assert run.counters["cycles"] == (totals["syn_events"] // 2 + totals["tokens"] * 2 * 256
                                      + geom.blocks * feats)


def test_missing_counts_are_an_error(model):
    with pytest.raises(EnergyError, match="syn_events"):
        derive_counters({"tokens": 1, "spikes": 0, "readout_ops": 65 * 512},
                        default_geometry(model))


def test_dense_counters(model, golden_run):
    _, run = golden_run
    geom = default_geometry(model)
    d = dense_counters(run, geom).counters
    c, n = model.config, run.counters["tokens"]
    assert d["syn_events"] == d["fanout_reads"] == n * c.steps * c.neurons * c.fanout
    assert d["readout_ops"] == n * len(model.vocab) * 2 * c.neurons
    assert d["spikes"] == run.counters["spikes"]
    per_tok, per_sample, _, per_reset = MEASURED_OVERHEAD[geometry_key(geom)]
    assert d["cycles"] == (d["syn_events"] + n * c.steps * geom.groups
                           + geom.blocks * n * 2 * c.neurons + per_tok * n
                           + per_sample * run.counters["sampled"] + per_reset)
    for k in COUNTERS:
        assert d[k] >= run.counters[k], k
    ops = GoldenModel(model).dense_ops_per_token()
    assert d["syn_events"] == n * ops["synaptic"]
    assert d["readout_ops"] == n * ops["readout"]


def test_golden_totals_alone_give_a_labelled_lower_bound(model, golden_run):
    """What ``snnfpga.generate(counters=d)`` fills on the golden back-end is enough for an
    estimate; its cycles fall short of the exact ones by the last-neuron cycles only."""
    _, exact = golden_run
    totals = {k: exact.counters[k] for k in ("tokens", "spikes", "syn_events", "readout_ops")}
    est = derive_counters(totals, default_geometry(model), resets=1,
                          sampled=exact.counters["sampled"])
    assert not est.cycles_exact
    # short by the cycles neuron N-1's spikes cost, at most one a time step
    short = exact.counters["cycles"] - est.counters["cycles"]
    assert 0 <= short <= snnfpga.load().config.steps * totals["tokens"]
    for k in COUNTERS:
        if k != "cycles":
            assert est.counters[k] == exact.counters[k], k


def test_registered_reads_lengthen_the_derived_cycles_and_make_them_an_estimate():
    """The ULX3S core (two-cycle reads): each token's bound grows by T*N/P (a neuron phase's
    second cycle a group) and one cycle a readout block; no overhead was measured for it."""
    model = snnfpga.load()
    geom = default_geometry(model)
    totals = {"tokens": 3, "spikes": 40, "syn_events": 40 * 64, "readout_ops": 3 * 65 * 530}
    plain = derive_counters(totals, geom, last_neuron_spikes=0, resets=1)
    regs = derive_counters(totals, dataclasses.replace(geom, registered_reads=True),
                           last_neuron_spikes=0, resets=1)
    c = geom.config
    over = MEASURED_OVERHEAD[geometry_key(geom)]
    bound = plain.counters["cycles"] - 3 * over[0] - 3 * over[1] - over[3]
    assert regs.counters["cycles"] == bound + 3 * (c.steps * geom.groups + geom.blocks)
    assert plain.cycles_exact and not regs.cycles_exact
    # the ECP5 boards' geometry carries their read latency
    from snnfpga.boards.description import load_board
    ulx3s = load_board("ulx3s")
    assert default_geometry(model, ulx3s).registered_reads
    assert not default_geometry(model, load_board("icebreaker")).registered_reads
    assert {k: v for k, v in regs.counters.items() if k != "cycles"} == \
        {k: v for k, v in plain.counters.items() if k != "cycles"}
    # the dense comparison runs on the same core: its bound grows by the same terms
    rgeom = dataclasses.replace(geom, registered_reads=True)
    d_plain, d_regs = dense_counters(plain, geom), dense_counters(regs, rgeom)
    assert d_regs.counters["cycles"] == d_plain.counters["cycles"] - (
        3 * over[0] + 3 * over[1] + over[3]) + 3 * (c.steps * geom.groups
                                                                   + geom.blocks)
    assert not d_regs.cycles_exact
