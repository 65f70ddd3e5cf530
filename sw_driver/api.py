"""The public API: load a model, generate text on a back-end, evaluate, train.

Back-ends: ``"golden"`` (the integer model on the CPU), ``"sim"`` (the virtual board: the
board's top-level in Verilator, started and stopped here) and ``"board"`` (a board, or
anything that speaks its protocol, on a serial port or a pyserial URL such as
``socket://127.0.0.1:PORT``). All give the same characters and event counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from ..model.errors import ModelError
from ..model.golden import GoldenModel
from ..model.modelfile import SpikingModel, load_model
from .protocol import DEFAULT_BAUD

#: Seconds to wait for an answer from a real board, and from the virtual board: a simulated
#: chip runs a few million cycles a second, fewer on a busy machine, so its HELLO (which hashes
#: every weight word) can take seconds where a board takes milliseconds.
BOARD_TIMEOUT = 5.0
SIM_TIMEOUT = 60.0

__all__ = ["BACKENDS", "default_model_path", "load", "generate", "generate_stream"]

BACKENDS = ("golden", "sim", "board")


def default_model_path() -> Path:
    """Path of the shipped default model (trained on tinyshakespeare's training split)."""
    return Path(str(resources.files("snnfpga.model").joinpath("default.snnm")))


def load(model: str | Path | SpikingModel | None = None) -> SpikingModel:
    """Return ``model`` itself, the model file at that path, or the default model for ``None``."""
    if isinstance(model, SpikingModel):
        return model
    if model is None:
        return load_model(default_model_path())
    if isinstance(model, (str, Path)):
        return load_model(model)
    raise ModelError(f"model must be a path, a SpikingModel or None, not {type(model).__name__}")


def generate_stream(prompt: str, *, max_new_tokens: int = 200, temperature: float = 0.8,
                    seed: int = 0, backend: str = "golden",
                    model: str | Path | SpikingModel | None = None,
                    counters: dict | None = None, port: str | None = None,
                    baudrate: int = DEFAULT_BAUD) -> Iterator[str]:
    """Yield the generated characters one at a time (see :func:`generate`)."""
    if backend not in BACKENDS:
        raise ModelError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if not isinstance(prompt, str):
        raise ModelError(f"prompt must be a string, not {type(prompt).__name__}")
    m = load(model)
    ids = m.vocab.encode(prompt)
    chars = m.vocab.chars
    if backend == "golden":
        gm = GoldenModel(m)
        for i in gm.generate(ids, max_new_tokens, temperature=temperature, seed=seed,
                             totals=counters):
            yield chars[i]
        return
    if backend == "sim":
        from ..sim.vboard import VirtualBoard

        if len(ids) == 0:
            raise ModelError("the prompt must have at least one character")
        with VirtualBoard(m) as vb:
            yield from _board_stream(m, ids, max_new_tokens, temperature, seed, counters,
                                     vb.url, baudrate, SIM_TIMEOUT)
        return
    if port is None:
        raise ModelError("backend 'board' needs port= (a serial port or a pyserial URL)")
    yield from _board_stream(m, ids, max_new_tokens, temperature, seed, counters, port,
                             baudrate, BOARD_TIMEOUT)


def _board_stream(m: SpikingModel, ids, count, temperature, seed, counters, port, baudrate,
                  timeout: float):
    from ..model.golden import temperature_to_fixed
    from .device import Device, SerialTransport

    if len(ids) == 0:
        raise ModelError("the prompt must have at least one character")
    tq = temperature_to_fixed(temperature, m.config.temperature_frac_bits)
    dev = Device(SerialTransport(port, baudrate), timeout=timeout)
    try:
        dev.check(m, load=True)
        dev.counters()   # start from zero
        dev.reset(seed)
        for i in dev.generate([int(x) for x in ids], count, tq):
            yield m.vocab.chars[i]
        if counters is not None:
            for k, v in dev.counters().items():
                counters[k] = counters.get(k, 0) + v
    finally:
        dev.close()


def generate(prompt: str, *, max_new_tokens: int = 200, temperature: float = 0.8,
             seed: int = 0, backend: str = "golden",
             model: str | Path | SpikingModel | None = None,
             counters: dict | None = None, port: str | None = None,
             baudrate: int = DEFAULT_BAUD) -> str:
    """Continue ``prompt`` by ``max_new_tokens`` characters and return them.

    Parameters
    ----------
    prompt : str
        At least one character, all in the model's vocabulary.
    max_new_tokens : int
        Characters to generate.
    temperature : float
        0 for argmax; otherwise Gumbel-max sampling at this temperature (step 2**-8).
    seed : int
        Seed of the sampler's LFSR; the same seed gives the same text on every back-end.
    backend : str
        ``"golden"``, ``"sim"`` (builds the virtual board on first use, about 30 s) or
        ``"board"``.
    model : path, SpikingModel or None
        The model to run; ``None`` is the shipped default model.
    counters : dict, optional
        If given, receives the summed counters: tokens, spikes, syn_events, readout_ops (and,
        from a board, every hardware counter: cycles, memory words, ...).
    port : str
        Back-end ``"board"``: the serial port or pyserial URL of the board.
    baudrate : int
        Back-end ``"board"``: the serial line's rate.
    """
    return "".join(generate_stream(prompt, max_new_tokens=max_new_tokens,
                                   temperature=temperature, seed=seed, backend=backend,
                                   model=model, counters=counters, port=port,
                                   baudrate=baudrate))
