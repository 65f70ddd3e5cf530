"""System co-simulation: the core's Verilog in Verilator against the golden model (``make sim``).

``python -m snnfpga.sim.cosim`` builds the core for the shipped default model, streams the
first ``--chars`` characters of the validation split through it twice (argmax, then
temperature sampling), compares every sampled id, logit and per-token counter, the spike
counts of the last token and the final membranes with the golden model, and prints the
figures: characters compared, mismatches, cycles per character against the lower bound,
spikes and synaptic events per character, co-simulation speed. ``--waves`` writes a VCD.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..hw.core import Core, cycle_lower_bound
from ..hw.memmap import DEFAULT_LANES, DEFAULT_READOUT_LANES, Geometry
from ..model.data import read_text, shared_corpus, split_text
from ..model.golden import temperature_to_fixed
from ..model.modelfile import SpikingModel, load_model
from .build import CLOCK_PERIOD_NS, SimulationError, run
from .trace import Command

__all__ = ["CosimReport", "core_run_data", "cosim", "main", "payload_fields"]


def payload_fields(layout) -> dict[str, list[int]]:
    """``{field: [offset, width]}`` of an Amaranth struct layout, for packing in cocotb."""
    return {name: [f.offset, f.width] for name, f in layout}


def core_run_data(core: Core, model_path: str | Path, commands: list[Command], *,
                  stall: float = 0.0, idle: float = 0.0, read_counts: bool = False,
                  seed: int = 0, load: bool = False) -> dict:
    """What ``sim/tb_core.py`` reads: the model, the core's lanes and port layouts, the
    commands, and how to drive them (stalls, idle cycles, counter reads, loading first)."""
    geom = core.geometry
    return {
        "model": str(Path(model_path).resolve()), "lanes": geom.lanes,
        "readout_lanes": geom.readout_lanes, "synapse_lanes": geom.synapse_lanes,
        "commands": [[c.op, c.id, int(c.sample), int(c.logits), c.tq, c.seed] for c in commands],
        "fields": {"cmd": payload_fields(core.cmd.payload.shape()),
                   "mem_cmd": payload_fields(core.mem_cmd.payload.shape()),
                   "o_spike": payload_fields(core.o_spike.payload.shape())},
        "stall": stall, "idle": idle, "seed": seed, "read_counts": read_counts, "load": load,
    }


@dataclass
class CosimReport:
    tokens: int
    mismatch: str | None
    cycles: list[int]
    bounds: list[int]
    spikes: list[int]
    syn_events: list[int]
    sim_seconds: float
    build_seconds: float
    build_cached: bool
    waves: Path | None


def cosim(model: SpikingModel, model_path: str | Path, commands: list[Command], *,
          lanes: int = DEFAULT_LANES, readout_lanes: int = DEFAULT_READOUT_LANES,
          synapse_lanes: int | None = None, stall: float = 0.0, idle: float = 0.0,
          read_counts: bool = False, seed: int = 0,
          waves: bool = False, spram: bool = False, registered_reads: bool = False,
          name: str = "core", run_name: str | None = None) -> CosimReport:
    """Run ``commands`` through the verilated core; raise on the first mismatch.

    With ``spram`` the core is built from SPRAM blocks (simulated by ``sim/models``) without
    initial weights, and the testbench writes every weight through the load port first.
    With ``registered_reads`` the core is the ECP5 build (two-cycle fan-out and weight reads).
    """
    core = Core(config=model.config, vocab_size=len(model.vocab),
                weights=None if spram else model.weights, lanes=lanes,
                readout_lanes=readout_lanes, synapse_lanes=synapse_lanes, spram=spram,
                registered_reads=registered_reads)
    geom = core.geometry
    data = core_run_data(core, model_path, commands, stall=stall, idle=idle,
                         read_counts=read_counts, seed=seed, load=spram)
    res = run(core, name, test_module="snnfpga.sim.tb_core", data=data, waves=waves,
              run_name=run_name, clock_ns=CLOCK_PERIOD_NS,
              models=["sb_spram256ka.v"] if spram else [])
    out = res.outputs
    return CosimReport(
        tokens=out["tokens"], mismatch=out["mismatch"], cycles=out["cycles"],
        bounds=[cycle_lower_bound(geom, e, r)
                for e, r in zip(out["syn_events"], out["readout_ops"], strict=True)],
        spikes=out["spikes"],
        syn_events=out["syn_events"], sim_seconds=out["seconds"],
        build_seconds=res.build.seconds, build_cached=res.build.cached, waves=res.waves)


def text_commands(model: SpikingModel, text: str, *, temperature: float, seed: int,
                  logits: bool = True) -> list[Command]:
    """A reset, then every character of ``text`` fed with its logits and a sampled id."""
    tq = temperature_to_fixed(temperature, model.config.temperature_frac_bits)
    ids = model.vocab.encode(text)
    return [Command("reset", seed=seed)] + [
        Command("token", id=int(i), sample=True, logits=logits, tq=tq) for i in ids]


def _run_text(model_path, text, temperature, seed, lanes, readout_lanes, synapse_lanes, regs,
              waves):
    model = load_model(model_path)
    cmds = text_commands(model, text, temperature=temperature, seed=seed)
    return cosim(model, model_path, cmds, lanes=lanes, readout_lanes=readout_lanes,
                 synapse_lanes=synapse_lanes, registered_reads=regs, waves=waves,
                 run_name=f"text-t{temperature:g}")


def default_model_runs(model_path, text: str, temperatures, *, seed: int = 1,
                       lanes: int = DEFAULT_LANES, readout_lanes: int = DEFAULT_READOUT_LANES,
                       synapse_lanes: int | None = None,
                       registered_reads: bool = False, waves: bool = False
                       ) -> list[CosimReport]:
    """Stream ``text`` through the core once per temperature, the runs in parallel processes.

    The core is built (or its build found) first, so the simulator processes share it; the
    two runs of ``make sim`` take one CPU core each.
    """
    model = load_model(model_path)
    core = Core(config=model.config, vocab_size=len(model.vocab), weights=model.weights,
                lanes=lanes, readout_lanes=readout_lanes, synapse_lanes=synapse_lanes,
                registered_reads=registered_reads)
    from .build import build
    built = build(core, "core", waves=waves, clock_ns=CLOCK_PERIOD_NS)
    with ProcessPoolExecutor(max_workers=min(len(temperatures), os.cpu_count() or 1),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_run_text, str(model_path), text, t, seed, lanes, readout_lanes,
                               synapse_lanes, registered_reads, waves) for t in temperatures]
        reports = [f.result() for f in futures]
    for r in reports:
        r.build_seconds, r.build_cached = built.seconds, built.cached
    return reports


def cycles_record(model: SpikingModel, geom: Geometry) -> Path:
    """Where ``make sim`` leaves the cycles per character it measured for a model and build,
    for the board builds' speed figure: named after a hash of the configuration and weights."""
    import hashlib

    from .build import build_root
    h = hashlib.sha256(repr(sorted(vars(model.config).items())).encode())
    for name in sorted(vars(model.weights)):
        h.update(name.encode())
        h.update(getattr(model.weights, name).tobytes())
    regs = "-regs" if geom.registered_reads else ""
    return build_root() / (f"cycles-{h.hexdigest()[:12]}-p{geom.lanes}-r{geom.readout_lanes}"
                           f"-s{geom.synapse_lanes}{regs}.json")


def main(argv=None) -> int:
    from ..sw_driver.api import default_model_path

    p = argparse.ArgumentParser(prog="python -m snnfpga.sim.cosim", description=__doc__)
    p.add_argument("--model", default=None, help="model file (default: the shipped model)")
    p.add_argument("--text", default=None, help="text file (default: tinyshakespeare.txt)")
    p.add_argument("--chars", type=int, default=2000, help="validation characters per run")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lanes", type=int, default=DEFAULT_LANES)
    p.add_argument("--readout-lanes", type=int, default=DEFAULT_READOUT_LANES)
    p.add_argument("--synapse-lanes", type=int, default=None,
                   help="fan-out entries a cycle (default: 2 if they divide the fan-out, else 1)")
    p.add_argument("--registered-reads", action="store_true",
                   help="the ECP5 build: two-cycle fan-out and weight reads")
    p.add_argument("--clock-mhz", type=float, default=24.0,
                   help="clock for the characters-per-second figure (UP5K target)")
    p.add_argument("--waves", action="store_true", help="write a VCD waveform")
    a = p.parse_args(argv)

    model_path = a.model or default_model_path()
    load_model(model_path)   # a damaged or missing model file fails here, before any build
    text_path = a.text or shared_corpus()
    if text_path is None:
        print("error: tinyshakespeare.txt not found; pass --text or set SNNFPGA_DATA",
              file=sys.stderr)
        return 2
    val = split_text(read_text(text_path), "val")[: a.chars]
    t0 = time.monotonic()
    runs = [("argmax", 0.0), (f"temperature {a.temperature}", a.temperature)]
    try:
        reports = list(zip([r[0] for r in runs], default_model_runs(
            model_path, val, [r[1] for r in runs], seed=a.seed, lanes=a.lanes,
            readout_lanes=a.readout_lanes, synapse_lanes=a.synapse_lanes,
            registered_reads=a.registered_reads,
            waves=a.waves), strict=True))
    except SimulationError as exc:
        print(f"MISMATCH\n{exc}", file=sys.stderr)
        return 1
    total = time.monotonic() - t0

    first = reports[0][1]
    build = "reused" if first.build_cached else f"{first.build_seconds:.1f} s"
    m = load_model(model_path)
    geom = Geometry(m.config, len(m.vocab), a.lanes, a.readout_lanes, a.registered_reads,
                    a.synapse_lanes)
    print(f"model: {Path(model_path).name}; {len(val)} validation characters per run; "
          f"lanes P={geom.lanes}, readout lanes R={geom.readout_lanes}, synapse lanes "
          f"S={geom.synapse_lanes}; Verilator build {build}")
    for label, r in reports:
        mean_c = statistics.fmean(r.cycles)
        mean_b = statistics.fmean(r.bounds)
        print(f"\n{label}:")
        print(f"  characters compared     {r.tokens}")
        print(f"  mismatches              {0 if r.mismatch is None else r.mismatch}")
        print(f"  cycles / char           mean {mean_c:.1f}, max {max(r.cycles)}")
        print(f"  lower bound / char      mean {mean_b:.1f} (syn_events/S + T*N/P + "
              f"ceil(V/R)*K); ratio {mean_c / mean_b:.3f}")
        print(f"  chars / s at {a.clock_mhz:g} MHz    {a.clock_mhz * 1e6 / mean_c:.0f}")
        print(f"  spikes / char           {statistics.fmean(r.spikes):.1f}")
        print(f"  synaptic events / char  {statistics.fmean(r.syn_events):.1f}")
        print(f"  co-simulation speed     {r.tokens / r.sim_seconds:.0f} chars/s, "
              f"{sum(r.cycles) / r.sim_seconds / 1e6:.2f} M cycles/s")
        if r.waves:
            print(f"  waveform                {r.waves}")
    print(f"\ntotal wall time, build included: {total:.1f} s")
    sampled = reports[-1][1]   # the sampled run: what GENERATE does
    rec = cycles_record(m, geom)
    rec.parent.mkdir(parents=True, exist_ok=True)
    rec.write_text(json.dumps({"cycles_per_char": statistics.fmean(sampled.cycles),
                               "chars": sampled.tokens, "temperature": a.temperature}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
