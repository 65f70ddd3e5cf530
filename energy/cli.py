"""``snnfpga energy``: estimated (or, with ``--measure``, measured) energy of a generation."""

from __future__ import annotations

import json

__all__ = ["add_energy_parser"]


def _cmd_energy(args) -> int:
    from ..boards.description import load_board
    from ..sw_driver.api import load
    from .counters import EnergyError, default_geometry
    from .estimate import estimate
    from .run import generate_counts

    desc = load_board(args.board)
    if args.baud is None:
        args.baud = desc.baud
    model = load(args.model) if args.model else load(desc.model_path())
    geom = default_geometry(model, desc)
    kw = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
              seed=args.seed, backend=args.backend, model=model, geom=geom, port=args.port,
              baudrate=args.baud)
    if args.measure:
        from .measure import measure_run, measured_report, open_monitor, run_in_thread

        if args.backend != "board":
            raise EnergyError("--measure needs --backend board: only a board draws current")
        from .run import generate_on_board, open_board

        if args.port is None:
            raise EnergyError("--measure needs --port: the board's serial port")
        ina = open_monitor(desc, args.i2c, max_current_a=args.max_current)
        ina.configure()
        dev = open_board(model, args.port, args.baud)      # weights loaded before measuring
        try:
            start, done, result = run_in_thread(lambda: generate_on_board(
                dev, model, args.prompt, max_new_tokens=args.max_new_tokens,
                temperature=args.temperature, seed=args.seed))
            meas = measure_run(ina, start, done, idle_s=args.idle_seconds)
            _, run = result()
        finally:
            dev.close()
        rep = measured_report(desc.id, meas, run)
        if args.record:
            from .model import event_counts

            with open(args.record, "a") as fh:
                fh.write(json.dumps({
                    "label": f"{args.prompt!r} n={args.max_new_tokens} t={args.temperature} "
                             f"seed={args.seed}",
                    "events": event_counts(run.counters, geom, spram=desc.spram),
                    "energy_j": meas.dynamic_j, "bound_j": meas.bound_j,
                    "counters": run.counters}) + "\n")
        print(json.dumps({"label": "measured", "dynamic_j": meas.dynamic_j,
                          "idle_w": meas.idle_w, "bound_j": meas.bound_j,
                          "counters": run.counters}, indent=2) if args.json else rep)
        return 0
    text, run = generate_counts(args.prompt, **kw)
    rep = estimate(run, desc, model=model, geom=geom, calibrated=args.calibrated)
    if args.json:
        print(json.dumps(rep.as_dict(), indent=2))
    else:
        print(f"[{args.backend}] {args.prompt}{text}\n")
        print(rep)
    return 0


def add_energy_parser(sub) -> None:
    """Add the ``energy`` subcommand to the ``snnfpga`` command line's subparsers."""
    p = sub.add_parser("energy", help="estimated (or measured) energy per character, spike "
                                      "and synaptic event of a generation, and the dense ratio")
    p.add_argument("--board", default="icebreaker",
                   help="board whose energy model applies (boards/descriptions/*.yaml)")
    p.add_argument("--model", default=None, help="model file (default: the board's model)")
    p.add_argument("--prompt", default="ROMEO:", help="prompt to continue")
    p.add_argument("-n", "--max-new-tokens", type=int, default=200)
    p.add_argument("-t", "--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="golden", choices=["golden", "sim", "board"],
                   help="golden (counters derived), sim or board (counters read from the chip)")
    p.add_argument("--port", default=None, help="board: serial port or pyserial URL")
    p.add_argument("--baud", type=int, default=None,
                   help="board: serial rate (default: the board description's)")
    p.add_argument("--calibrated", action="store_true",
                   help="use the board's fitted event energies (energy/calibration/)")
    p.add_argument("--measure", action="store_true",
                   help="measure with the board's INA226 instead (needs --backend board)")
    p.add_argument("--i2c", default=None, help="--measure: the host's I2C adapter, /dev/i2c-N")
    p.add_argument("--max-current", type=float, default=0.05,
                   help="--measure: largest rail current in A; sets the INA226's current LSB "
                        "(default 0.05, the UP5K core rail)")
    p.add_argument("--idle-seconds", type=float, default=2.0,
                   help="--measure: how long to measure idle power first")
    p.add_argument("--record", default=None,
                   help="--measure: append the run (events, energy above idle) to this JSON-lines "
                        "file for python -m snnfpga.energy.calibrate")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_energy)
