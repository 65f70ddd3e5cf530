"""Record the default model's runs on the verilated core and on the virtual board.

``python -m snnfpga.sim.records`` writes ``tests/energy/data/cosim_records.json``: the runs
against which ``tests/energy/test_counters.py`` checks, without Verilator, the counters and
the cycles a token that :mod:`snnfpga.energy` derives from the golden model. Rerun it
whenever the shipped model changes (the records are its runs):

``core_generate``
    the core (``sim/tb_core.py``): a ``RESET``, then a prompt and the golden model's own
    samples fed back, the prompt unsampled except its last token, as ``GENERATE`` runs;
``core_all_sampled``
    the same with every token sampled (the sampler's extra cycles on each);
``board_sim``
    ``snnfpga.generate(backend="sim")``: the virtual board's own ``GENERATE`` and counters.

The core runs compare every token with the golden model and fail on a mismatch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from ..hw.core import COUNTERS, Core
from ..model.golden import GoldenModel, temperature_to_fixed
from ..sw_driver.api import default_model_path, load
from .build import CLOCK_PERIOD_NS, SimulationError, run
from .cosim import core_run_data
from .trace import Command

__all__ = ["core_record", "fed_tokens", "generation_commands", "main"]

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "energy" / "data" \
    / "cosim_records.json"

#: (name, prompt, new tokens, temperature, seed, every token sampled)
CORE_RUNS = (
    ("core_generate", "ROMEO: What, art thou mad?", 20, 0.8, 5, False),
    ("core_all_sampled", "ROMEO:", 250, 0.8, 1, True),
)
BOARD_RUN = ("board_sim", "ROMEO:", 40, 0.8, 3)


def fed_tokens(model, prompt: str, new_tokens: int, temperature: float, seed: int) -> list[int]:
    """The ids the core is fed: the prompt, then the golden model's samples fed back (the
    last sample is never fed)."""
    ids = [int(i) for i in model.vocab.encode(prompt)]
    with torch.inference_mode():
        out = list(GoldenModel(model).generate(ids, new_tokens, temperature=temperature,
                                               seed=seed))
    return ids + [int(i) for i in out[:-1]]


def generation_commands(fed: list[int], n_prompt: int, tq: int, seed: int, *,
                        all_sampled: bool = False) -> list[Command]:
    """The core's commands for a generation as ``GENERATE`` runs it: a ``RESET`` with
    ``seed``, then the ``fed`` ids, sampled from the prompt's last one on (every one with
    ``all_sampled``), no logits out."""
    return [Command("reset", seed=seed)] + [
        Command("token", id=int(i), sample=all_sampled or k >= n_prompt - 1, logits=False,
                tq=tq)
        for k, i in enumerate(fed)]


def core_record(model, model_path, name: str, prompt: str, new_tokens: int,
                temperature: float, seed: int, all_sampled: bool) -> dict:
    """Run one generation through the verilated core; return its record."""
    fed = fed_tokens(model, prompt, new_tokens, temperature, seed)
    tq = temperature_to_fixed(temperature, model.config.temperature_frac_bits)
    cmds = generation_commands(fed, len(model.vocab.encode(prompt)), tq, seed,
                               all_sampled=all_sampled)
    core = Core(config=model.config, vocab_size=len(model.vocab), weights=model.weights)
    data = core_run_data(core, model_path, cmds)
    out = run(core, "core", test_module="snnfpga.sim.tb_core", data=data,
              run_name=f"records-{name}", clock_ns=CLOCK_PERIOD_NS).outputs
    if out["mismatch"] is not None:
        raise SimulationError(f"{name}: the core differs from the golden model: "
                              f"{out['mismatch']}")
    how = ("core; every token sampled" if all_sampled else
           "core; prompt tokens unsampled except the last, as GENERATE does")
    return {"how": how, "prompt": prompt, "max_new_tokens": new_tokens,
            "temperature": temperature, "seed": seed, "totals": out["totals"],
            "cycles_per_token": out["cycles"]}


def board_record(model, prompt: str, new_tokens: int, temperature: float, seed: int) -> dict:
    from ..energy.run import generate_counts

    _, counts = generate_counts(prompt, max_new_tokens=new_tokens, temperature=temperature,
                                seed=seed, backend="sim", model=model)
    totals = {k: counts.counters[k] for k in COUNTERS}
    return {"how": "virtual board, snnfpga.generate(backend='sim', counters=...)",
            "prompt": prompt, "max_new_tokens": new_tokens, "temperature": temperature,
            "seed": seed, "totals": totals}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m snnfpga.sim.records", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"JSON file to write (default {DEFAULT_OUT})")
    a = ap.parse_args(argv)
    path = default_model_path()
    model = load(None)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=Path(__file__).parent, check=False).stdout.strip()
    except OSError:
        commit = ""
    records = {"about": (
        "Runs of the default model's core (P=1, R=7), written by `python -m "
        f"snnfpga.sim.records` at commit {commit or 'unknown'} (plus the working tree), to "
        "check the counters snnfpga.energy derives from the golden model. 'core': "
        "sim/tb_core.py in Verilator, a RESET then the prompt and the golden model's own "
        "samples fed back, no logits out, no mismatches; 'board_sim': "
        "snnfpga.generate(backend='sim'), the virtual board's counters (the board's own "
        "GENERATE).")}
    for name, prompt, n, temp, seed, all_sampled in CORE_RUNS:
        print(f"{name}: {prompt!r}, {n} new tokens, seed {seed}", flush=True)
        records[name] = core_record(model, path, name, prompt, n, temp, seed, all_sampled)
    name, prompt, n, temp, seed = BOARD_RUN
    print(f"{name}: {prompt!r}, {n} new tokens, seed {seed}", flush=True)
    records[name] = board_record(model, prompt, n, temp, seed)
    a.out.write_text(json.dumps(records, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
