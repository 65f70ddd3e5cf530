"""``snnfpga bench --quick``: the whole suite at reduced size, and the report it writes.

The report's structure is checked, and every number in its tables is traced to a value the
run computed (the ledger in ``results.json``), none of them missing or non-finite.
"""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from snnfpga.bench.suite import QUICK, networks_per_seed, render, run_bench
from snnfpga.bench.write import PLOTS, SECTIONS


@pytest.fixture(scope="module")
def quick_report(corpus_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    done, totals = [], []
    try:
        path = run_bench(text_path=corpus_path, out_dir=out, cfg=QUICK, log=lambda m: None,
                         progress=done.append, total=totals.append)
    finally:
        torch.set_num_threads(threads)
    return path, json.loads((out / "results.json").read_text()), sum(done), totals


def _table_cells(md: str):
    rows = [ln for ln in md.splitlines() if ln.startswith("|")]
    for ln in rows:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if all(set(c) <= set("-") for c in cells):
            continue
        yield ln, cells


@pytest.mark.slow
def test_report_has_every_section_and_plot(quick_report):
    path, results, _, _ = quick_report
    md = path.read_text()
    pos = [md.index(s) for s in SECTIONS]
    assert pos == sorted(pos)
    for p in PLOTS:
        f = path.parent / p
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({p})" in md
    assert re.search(r"\b(nan|inf|TODO|TBD|n/a)\b", md, re.IGNORECASE) is None


@pytest.mark.slow
def test_every_table_number_was_computed(quick_report):
    path, results, _, _ = quick_report
    known = sorted(results["cells"] + results["labels"], key=len, reverse=True)
    header_words = set()
    n_numbers = 0
    md = path.read_text()
    for line, cells in _table_cells(md):
        if not header_words:
            header_words.update(cells)
        for cell in cells:
            rest = cell
            for k in known:
                if k in rest:
                    n_numbers += bool(re.search(r"\d", k))
                    rest = rest.replace(k, " ")
            # what is left of a cell is words: every digit belonged to a computed value
            # or to a label of the run's configuration
            assert not re.search(r"\d", rest), f"untraced number in {cell!r} ({line})"
    assert n_numbers > 100
    # every value behind the cells is finite
    for text in results["cells"]:
        assert "nan" not in text.lower()
    flat = json.dumps(results)
    assert "NaN" not in flat and "Infinity" not in flat


@pytest.mark.slow
def test_figures_are_sane(quick_report):
    path, results, done, totals = quick_report
    seeds = results["seeds"]
    assert set(seeds) == {str(s) for s in QUICK.seeds}
    for r in seeds.values():
        for name in ("ablation_trained", "ablation_reservoir"):
            for v in r[name].values():
                assert 0.5 < v < math.log2(65) + 1
        ops = r["ops_trained"]
        assert 0.0 < ops["firing_rate"] < 0.5
        assert ops["event_ops_per_char"] < ops["dense_ops_per_char"]
    # the shipped readout on the shipped network is the golden model's own BPC
    assert 2.5 < seeds["0"]["trained_shipped_readout"] < 3.6
    ng = results["baselines"]["ngram"]
    assert ng["5"]["bpc"] < ng["2"]["bpc"]
    # the progress bar's total is what the spiking networks simulated
    assert totals and done == totals[0]
    assert networks_per_seed(QUICK) > 0


@pytest.mark.slow
def test_render_rewrites_the_same_report(quick_report):
    path, _, _, _ = quick_report
    before = path.read_text()
    assert render(path.parent).read_text() == before
