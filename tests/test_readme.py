"""The README's commands and examples run, so they cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from conftest import random_model
from snnfpga.model.bench import main as bench_main
from snnfpga.model.modelfile import save_model

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "the README should show the Python API"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_make_targets_exist():
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
    used = set(re.findall(r"\bmake ([a-z][\w-]*)", README))
    assert {"demo", "test", "lint", "bench-model"} <= used
    assert used <= targets, f"README uses make targets the Makefile lacks: {used - targets}"


def test_ci_calls_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_snnfpga_commands_exist():
    """Every `snnfpga SUBCOMMAND` the README shows is one the command line has."""
    import argparse

    from snnfpga.sw_driver.cli import build_parser

    shown = set(re.findall(r"^\s*(?:\$ )?snnfpga ([a-z-]+)", README, flags=re.M))
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert shown and shown <= set(sub.choices), shown - set(sub.choices)


def test_bench_model_runs(tmp_path, capsys):
    m = random_model(np.random.default_rng(0), neurons=16, fanout=4, membrane_bits=12,
                     threshold=100)
    p = tmp_path / "m.snnm"
    save_model(m, p)
    text = tmp_path / "t.txt"
    text.write_text("".join(np.random.default_rng(1).choice(list(m.vocab.chars), 6000)))
    assert bench_main(["--text", str(text), "--model", str(p), "--train-steps", "2"]) == 0
    out = capsys.readouterr().out
    for figure in ("bits per character", "firing rate", "evaluation time", "fits the UP5K",
                   "training step", "batch 64 x 64", "mean of 2)"):
        assert figure in out
    assert bench_main(["--text", str(text), "--model", str(p), "--train-steps", "0"]) == 0
    assert "training step" not in capsys.readouterr().out


def test_memory_table_is_the_default_models():
    """The README's UP5K memory table is what `snnfpga info` derives for the shipped model."""
    from snnfpga.model.resources import memory_report

    import snnfpga

    m = snnfpga.load()
    table = re.search(r"```\n(memory .*?)\n```", README, flags=re.S).group(1)
    assert table.splitlines() == memory_report(m.config, len(m.vocab))


def test_relative_links_resolve():
    """Every file the README and its companion pages link to is in the repository."""
    pages = [ROOT / "README.md", ROOT / "model" / "EXPERIMENTS.md", ROOT / "boards" / "TIMING.md",
             ROOT / "energy" / "README.md"]
    checked = 0
    for page in pages:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
            checked += 1
    assert checked >= 8
