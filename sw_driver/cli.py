"""The ``snnfpga`` command line: generate, train, tune-readout, eval, info, sim-board, fit,
build, flash, energy."""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..model.errors import SnnfpgaError
from .protocol import DEFAULT_BAUD

__all__ = ["main"]


def _progress(total: int, desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr,
                dynamic_ncols=True, leave=False)


def _cmd_generate(args) -> int:
    from .api import generate_stream

    counters: dict = {}
    t0 = time.perf_counter()
    sys.stdout.write(args.prompt)
    sys.stdout.flush()
    n = 0
    for ch in generate_stream(args.prompt, max_new_tokens=args.max_new_tokens,
                              temperature=args.temperature, seed=args.seed,
                              backend=args.backend, model=args.model, counters=counters,
                              port=args.port, baudrate=args.baud):
        sys.stdout.write(ch)
        sys.stdout.flush()
        n += 1
    sys.stdout.write("\n")
    dt = time.perf_counter() - t0
    if args.stats:
        tok = max(counters.get("tokens", 0), 1)
        print(f"[{args.backend}] {n} characters in {dt:.2f} s; per character fed: "
              f"{counters['spikes'] / tok:.1f} spikes, {counters['syn_events'] / tok:.1f} "
              f"synaptic events, {counters['readout_ops'] / tok:.1f} readout MACs",
              file=sys.stderr)
    return 0


def _load_eval_text(args):
    from ..model.data import read_text, split_text

    return split_text(read_text(args.text), args.split)


def _cmd_eval(args) -> int:
    from ..model.evaluate import evaluate
    from .api import load

    model = load(args.model)
    text = _load_eval_text(args)
    bar = _progress(len(text), f"eval ({args.split})", "char")
    done = [0]

    def progress(k):
        bar.update(k - done[0])
        done[0] = k

    t0 = time.perf_counter()
    rep = evaluate(model, text, progress=progress)
    bar.close()
    dt = time.perf_counter() - t0
    if args.json:
        print(json.dumps({**rep.as_dict(), "seconds": dt}, indent=2))
    else:
        print(f"model: {args.model or 'default'}   text: {args.text} ({args.split} split)")
        print("\n".join(rep.lines()))
        print(f"evaluation time      {dt:.1f} s ({rep.chars / dt:.0f} characters/s)")
    return 0


class _PhaseBars:
    """One progress bar per training phase, in percent; ``(phase, fraction[, bpc, rate])``."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.bars: dict = {}

    def __call__(self, phase, frac, bpc=None, rate=None):
        from tqdm import tqdm

        bar = self.bars.get(phase)
        if bar is None:
            self.close()
            bar = self.bars[phase] = tqdm(
                total=100, desc=f"{self.prefix} ({phase})", unit="%", file=sys.stderr,
                dynamic_ncols=True, mininterval=2.0,
                bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
        bar.update(int(100 * frac) - bar.n)
        if bpc is not None:
            bar.set_postfix_str(f"train BPC {bpc:.3f}, firing {100 * rate:.1f} %",
                                refresh=False)

    def close(self):
        for bar in self.bars.values():
            bar.close()


def _cmd_train(args) -> int:
    from tqdm import tqdm

    from ..model.training import run_training

    bars = _PhaseBars("train")
    try:
        run_training(text_path=args.text, config_path=args.config, out=args.out,
                     recipe=args.recipe, minutes=args.minutes, seed=args.seed,
                     log=tqdm.write, threads=args.threads, progress=bars,
                     overrides=args.overrides)
    finally:
        bars.close()
    return 0


def _cmd_tune_readout(args) -> int:
    from tqdm import tqdm

    from ..model.training import run_readout_pass

    bars = _PhaseBars("readout pass")
    try:
        run_readout_pass(text_path=args.text, model_path=args.model, out=args.out,
                         epochs=args.epochs, lr=args.lr, seed=args.seed, threads=args.threads,
                         log=tqdm.write, progress=bars)
    finally:
        bars.close()
    return 0


def _cmd_sim_board(args) -> int:
    import signal

    from ..sim.vboard import VirtualBoard
    from .api import load

    def stop(signum, frame):   # a plain SIGTERM ends the virtual board too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print("building the virtual board (reused once built)...", file=sys.stderr, flush=True)
    vb = VirtualBoard(load(args.model), port=args.port).start()
    print(f"virtual board on {vb.url} (Ctrl-C to stop); for example:\n"
          f"  snnfpga generate \"ROMEO:\" --backend board --port {vb.url}", flush=True)
    try:
        while vb.running():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        vb.close()
    return 0


def _cmd_info(args) -> int:
    from ..model.resources import memory_report
    from .api import load

    model = load(args.model)
    cfg = model.config
    print(f"model: {args.model or 'default'}")
    print(f"vocabulary: {len(model.vocab)} characters")
    for k, v in cfg.to_dict().items():
        print(f"  {k:22s} {v}")
    for k, v in sorted(model.meta.items()):
        print(f"  meta.{k:17s} {v}")
    print()
    print("\n".join(memory_report(cfg, len(model.vocab))))
    return 0


def _cmd_fit(args) -> int:
    from ..boards.description import load_board
    from ..boards.fit import predict_fit
    from .api import load

    desc = load_board(args.board)
    model = load(args.model if args.model else desc.model_path())
    rep = predict_fit(desc, model.config, len(model.vocab))
    print("\n".join(rep.lines()))
    if not rep.fits:
        print(f"snnfpga: error: the model does not fit the {desc.name}: "
              + "; ".join(rep.short()), file=sys.stderr)
        return 1
    if args.pack:
        from ..boards.build import build_bitstream

        print("synthesis and nextpnr's packer (about a minute) ...", flush=True)
        packed = build_bitstream(desc, model, build_dir=args.build_dir, pack_only=True)
        for k, (u, t) in packed.used.items():
            pred = f"{rep.need[k]:6d}" if k in rep.need else "     -"   # no flip-flop model
            print(f"  {k:12s} packed {u:6d} of {t:6d}   predicted {pred}")
        over = [f"{k}: {u} of {t}" for k, (u, t) in packed.used.items() if u > t]
        if over:
            print(f"snnfpga: error: the packed design does not fit the {desc.name}: "
                  + "; ".join(over), file=sys.stderr)
            return 1
    return 0


def _cmd_build(args) -> int:
    from ..boards.build import build_bitstream
    from ..boards.description import load_board
    from ..boards.fit import predict_fit
    from .api import load

    desc = load_board(args.board)
    model = load(args.model if args.model else desc.model_path())
    fit = predict_fit(desc, model.config, len(model.vocab))
    if not fit.fits:   # refuse before spending minutes in synthesis
        print("\n".join(fit.lines()))
        print(f"snnfpga: error: the model does not fit the {desc.name}: "
              + "; ".join(fit.short()), file=sys.stderr)
        return 1
    print(f"building {desc.name} ({desc.device.name}) with {args.model or desc.model}; "
          "synthesis, placement and routing take minutes", file=sys.stderr, flush=True)
    rep = build_bitstream(desc, args.model, build_dir=args.build_dir, seed=args.seed,
                          check=False)
    print("\n".join(rep.lines()))
    if not rep.timing_met:
        print(f"snnfpga: error: timing not met: Fmax {rep.fmax:.2f} MHz, the core clock is "
              f"{rep.clock_mhz:.3f} MHz (the bitstream was written, but is not safe to use "
              "at that clock)", file=sys.stderr)
        return 1
    return 0


def _cmd_flash(args) -> int:
    from pathlib import Path

    from ..boards.build import bitstream_path
    from ..boards.description import load_board
    from ..boards.flash import flash, programmer_for

    desc = load_board(args.board)
    bit = Path(args.bitstream) if args.bitstream else bitstream_path(desc, args.build_dir)
    prog = programmer_for(desc, args.tool)
    out = flash(prog, bit, target="flash" if args.flash else "volatile", dry_run=args.dry_run)
    print(out)
    return 0


def _cmd_bench(args) -> int:
    from ..bench.suite import run_from_args

    return run_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="snnfpga", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="continue a prompt with the spiking language model")
    g.add_argument("prompt", help="text to continue (characters of the model's vocabulary)")
    g.add_argument("-n", "--max-new-tokens", type=int, default=200)
    g.add_argument("-t", "--temperature", type=float, default=0.8,
                   help="0 for argmax; sampling temperature otherwise (default 0.8)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--backend", default="golden", choices=["golden", "sim", "board"],
                   help="golden (the integer model here, default), sim (the virtual board) "
                        "or board (needs --port)")
    g.add_argument("--port", default=None,
                   help="board: serial port or pyserial URL, e.g. socket://127.0.0.1:PORT")
    g.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                   help=f"board: serial rate (default {DEFAULT_BAUD}, the boards' rate)")
    g.add_argument("--model", default=None, help="model file (default: the shipped model)")
    g.add_argument("--stats", action="store_true", help="print counters to stderr")
    g.set_defaults(func=_cmd_generate)

    e = sub.add_parser("eval", help="bits per character and sparsity on a text, streaming")
    e.add_argument("--text", required=True, help="UTF-8 text file")
    e.add_argument("--model", default=None)
    e.add_argument("--split", default="val", choices=["val", "train", "all"],
                   help="part of the text: last 10 %% (val, default), first 90 %%, or all")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_cmd_eval)

    t = sub.add_parser("train", help="train a model on the first 90 %% of a text and export it")
    t.add_argument("--text", required=True, help="UTF-8 text file")
    t.add_argument("--config", default=None, help="YAML configuration (default: shipped)")
    t.add_argument("--out", default="model.snnm", help="model file to write")
    t.add_argument("--recipe", choices=["trained", "reservoir"], default=None,
                   help="trained (BPTT, default) or reservoir (readout trained alone)")
    t.add_argument("--minutes", type=float, default=None,
                   help="total training time budget, split float/QAT as in the config")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE",
                   help="change one configuration value, e.g. --set model.steps=4 "
                        "--set train.lr=5e-4 (repeatable)")
    t.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice, all cores)")
    t.set_defaults(func=_cmd_train)

    r = sub.add_parser("tune-readout", help="the readout pass alone: tune a trained model's "
                       "integer readout on its exact features over the first 90 %% of a text")
    r.add_argument("--text", required=True, help="UTF-8 text file")
    r.add_argument("--model", default=None, help="model file (default: the shipped model)")
    r.add_argument("--out", required=True, help="model file to write")
    r.add_argument("--epochs", type=int, default=None,
                   help="passes over the features (default: the shipped configuration's)")
    r.add_argument("--lr", type=float, default=None,
                   help="learning rate, in units of one integer weight (default: the "
                        "shipped configuration's)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice, all cores)")
    r.set_defaults(func=_cmd_tune_readout)

    i = sub.add_parser("info", help="configuration and on-chip memory of a model")
    i.add_argument("--model", default=None)
    i.set_defaults(func=_cmd_info)

    b = sub.add_parser("sim-board", help="run the virtual board, its serial line on a TCP port")
    b.add_argument("--model", default=None, help="model file (default: the shipped model)")
    b.add_argument("--port", type=int, default=0, help="TCP port (default: any free one)")
    b.set_defaults(func=_cmd_sim_board)

    boards = "icebreaker (default), ulx3s, orangecrab, arty_a7_35, or a .yaml description"
    f = sub.add_parser("fit", help="predict, before synthesis, whether a model fits a board")
    f.add_argument("--board", default="icebreaker", help=boards)
    f.add_argument("--model", default=None, help="model file (default: the board's model)")
    f.add_argument("--pack", action="store_true",
                   help="also synthesise and pack the design (no placement) and print the "
                        "cells it takes beside the prediction")
    f.add_argument("--build-dir", default="build/boards")
    f.set_defaults(func=_cmd_fit)

    bb = sub.add_parser("build", help="bitstream for a board with the open toolchain, and "
                                      "its fit and timing report")
    bb.add_argument("--board", default="icebreaker", help=boards)
    bb.add_argument("--model", default=None, help="model file (default: the board's model)")
    bb.add_argument("--build-dir", default="build/boards")
    bb.add_argument("--seed", type=int, default=None,
                    help="nextpnr's placement seed (default: the board's clock.place_seed)")
    bb.set_defaults(func=_cmd_build)

    fl = sub.add_parser("flash", help="program a board with openFPGALoader (or iceprog)")
    fl.add_argument("--board", default="icebreaker", help=boards)
    fl.add_argument("--bitstream", default=None,
                    help="default: what snnfpga build wrote for the board")
    fl.add_argument("--build-dir", default="build/boards")
    fl.add_argument("--flash", action="store_true",
                    help="write the configuration flash (default: volatile, lost at power-off)")
    fl.add_argument("--tool", default=None, choices=["openfpgaloader", "iceprog"],
                    help="default: openfpgaloader")
    fl.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    fl.set_defaults(func=_cmd_flash)

    from ..bench.suite import add_arguments as add_bench_arguments
    bn = sub.add_parser("bench", help="the seed's claims measured on held-out text: a Markdown "
                                      "report with tables and plots")
    add_bench_arguments(bn)
    bn.set_defaults(func=_cmd_bench)

    from ..energy.cli import add_energy_parser
    add_energy_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SnnfpgaError as e:
        print(f"snnfpga: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("snnfpga: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
