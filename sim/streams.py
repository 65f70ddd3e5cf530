"""Drive and watch Amaranth ``stream.Signature`` ports from cocotb, with random stalls.

An Amaranth stream ``s`` appears in the Verilog of ``amaranth.back.verilog.convert`` as the
ports ``s__payload``, ``s__valid`` and ``s__ready`` (``snnfpga.sim.build``); a payload that is
a ``data.StructLayout`` is one flat vector, packed and unpacked through the layout
(``layout.const({...}).as_bits()`` / ``layout.from_bits(x)``) by the caller.

Every class here works in whole clock cycles, with one timing discipline that makes the
handshake exact whatever the simulator:

1. after ``RisingEdge(clk)`` a driver writes its signals for the cycle;
2. in ``ReadOnly()`` of the same time step, when every driver has written and every
   combinational output has settled, each side samples ``valid`` and ``ready``: a transfer
   happens in this cycle iff both are 1 (Amaranth's stream rules: the receiver takes the
   payload at the next clock edge).

The sink records every transfer and checks stream rule 2 on the producer: once ``valid`` is
offered it stays 1 and the payload does not change until the transfer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from cocotb.handle import SimHandleBase
from cocotb.triggers import Event, ReadOnly, RisingEdge

__all__ = ["StreamSink", "StreamSource", "read_int", "stream_ports"]


def read_int(handle: SimHandleBase, *, signed: bool = False) -> int:
    """Return the value of a signal as an integer, two's complement if ``signed``.

    cocotb 2 gives a vector's value as a ``LogicArray`` (``to_unsigned()``/``to_signed()``)
    but a 1-bit signal's as a ``Logic``, which has only ``int()``; this covers both.
    """
    value = handle.value
    if hasattr(value, "to_unsigned"):
        return value.to_signed() if signed else value.to_unsigned()
    bit = int(value)
    return -bit if signed else bit


def stream_ports(dut: SimHandleBase, name: str) -> tuple[SimHandleBase, SimHandleBase,
                                                         SimHandleBase]:
    """Return the ``(payload, valid, ready)`` handles of the stream ``name`` of ``dut``."""
    try:
        return (getattr(dut, f"{name}__payload"), getattr(dut, f"{name}__valid"),
                getattr(dut, f"{name}__ready"))
    except AttributeError:
        raise AttributeError(f"{dut._name} has no stream {name!r} (expected ports "
                             f"{name}__payload, {name}__valid, {name}__ready)") from None


class _Rate:
    """A probability of stalling in a cycle, or a callable that decides it."""

    def __init__(self, stall: float | Callable[[], bool], rng: random.Random):
        if callable(stall):
            self._decide = stall
        elif 0.0 <= stall < 1.0:
            self._decide = lambda: rng.random() < stall
        else:
            raise ValueError(f"a stall probability must be in [0, 1), not {stall!r}")

    def __call__(self) -> bool:
        return self._decide()


class _Endpoint:
    """What a source and a sink share: the coroutine ``_run`` that drives the stream, started
    and stopped as a cocotb task."""

    _task = None

    def start(self):
        """Start the endpoint; returns the cocotb task."""
        import cocotb

        self._task = cocotb.start_soon(self._run())
        return self._task

    def stop(self) -> None:
        """Cancel the task (idempotent)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError


class StreamSource(_Endpoint):
    """Offer payloads on an input stream of the design, idling at random between them.

    Parameters
    ----------
    dut, name
        The design handle and the stream's name in its signature (``"i_stream"``).
    clk
        The clock handle.
    idle : float or callable
        Probability that the source idles (``valid`` low) in a cycle before offering the next
        payload, or a callable returning True to idle. The payload of an idle cycle is random
        so that the design cannot depend on it.
    rng : random.Random
        Source of the idle decisions and of the idle payloads.
    on_cycle : callable, optional
        Called as ``on_cycle(index_or_None)`` right after each clock edge, before the source
        writes; ``index`` is the position of the payload about to be offered (None when
        idle). Lets a testbench drive sideband inputs that belong to a transfer (such as the
        sampler's ``tq``).

    After :meth:`start` the source offers the payloads queued by :meth:`send` in order; a
    payload stays offered, unchanged, until ``ready`` takes it (stream rule 2).
    """

    def __init__(self, dut, name: str, clk, *, idle: float | Callable[[], bool] = 0.0,
                 rng: random.Random | None = None,
                 on_cycle: Callable[[int | None], None] | None = None):
        self.payload, self.valid, self.ready = stream_ports(dut, name)
        self.name = name
        self._clk = clk
        self._rng = rng or random.Random(0)
        self._idle = _Rate(idle, self._rng)
        self._on_cycle = on_cycle
        self._queue: list[int] = []
        self._next = 0              # index of the next payload to offer
        self.sent = 0               # payloads taken by the design
        self.cycles = 0             # cycles since start
        self.idle_cycles = 0        # cycles with nothing offered while payloads were queued
        self._drained = Event()
        self.valid.value = 0

    def send(self, payloads: Iterable[int]) -> None:
        """Queue payloads (integers; negative ones for signed payloads)."""
        self._queue.extend(int(p) for p in payloads)
        if self.sent < len(self._queue):
            self._drained.clear()

    @property
    def pending(self) -> int:
        """Payloads queued but not yet taken."""
        return len(self._queue) - self.sent

    async def wait_drained(self) -> None:
        """Wait until every queued payload has been taken.

        Returns in the ReadOnly phase of the cycle of the last transfer (or at once): await
        ``RisingEdge(clk)`` before writing signals.
        """
        if self.sent < len(self._queue):
            await self._drained.wait()

    async def _run(self) -> None:
        width = len(self.payload)
        offering = False
        while True:
            await RisingEdge(self._clk)
            self.cycles += 1
            if not offering and self._next < len(self._queue):
                offering = not self._idle()
                if not offering:
                    self.idle_cycles += 1
            if self._on_cycle is not None:
                self._on_cycle(self._next if offering else None)
            if offering:
                self.payload.value = _fit(self._queue[self._next], width)
                self.valid.value = 1
            else:
                self.payload.value = self._rng.getrandbits(width)
                self.valid.value = 0
            await ReadOnly()
            if offering and int(self.ready.value):
                offering = False
                self._next += 1
                self.sent += 1
                if self.sent == len(self._queue):
                    self._drained.set()


class StreamSink(_Endpoint):
    """Take payloads from an output stream of the design, with random back-pressure.

    Parameters
    ----------
    dut, name, clk
        The design handle, the stream's name in its signature (``"o_stream"``), the clock.
    stall : float or callable
        Probability that ``ready`` is low in a cycle, or a callable returning True to stall.
    rng : random.Random
        Source of the stall decisions.
    signed : bool
        Read payloads as two's complement.
    on_transfer : callable, optional
        Called as ``on_transfer(index, payload)`` for each transfer, in the ReadOnly phase
        of its cycle (it must not write signals); a monitor can check it against a model.

    Attributes
    ----------
    received : list of int
        Every payload taken, in order.
    transfer_cycles : list of int
        The cycle (counted from :meth:`start`) of each transfer.
    """

    def __init__(self, dut, name: str, clk, *, stall: float | Callable[[], bool] = 0.0,
                 rng: random.Random | None = None, signed: bool = False,
                 on_transfer: Callable[[int, int], None] | None = None):
        self.payload, self.valid, self.ready = stream_ports(dut, name)
        self.name = name
        self._clk = clk
        self._stall = _Rate(stall, rng or random.Random(1))
        self._signed = signed
        self._on_transfer = on_transfer
        self.received: list[int] = []
        self.transfer_cycles: list[int] = []
        self.cycles = 0
        self.stall_cycles = 0         # cycles with valid high and ready low
        self._wanted = 0
        self._enough = Event()
        self.ready.value = 0

    async def wait_for(self, count: int) -> list[int]:
        """Wait until ``count`` payloads have been received in all; return them.

        Returns in the ReadOnly phase of the cycle of the last transfer (or at once): await
        ``RisingEdge(clk)`` before writing signals.
        """
        if len(self.received) < count:
            self._wanted = count
            self._enough.clear()
            await self._enough.wait()
        return self.received[:count]

    def _read(self) -> int:
        return read_int(self.payload, signed=self._signed)

    async def _run(self) -> None:
        held = None            # payload offered but not taken in the previous cycle
        while True:
            await RisingEdge(self._clk)
            self.cycles += 1
            ready = not self._stall()
            self.ready.value = int(ready)
            await ReadOnly()
            valid = bool(int(self.valid.value))
            payload = self._read() if valid else None
            if held is not None:
                assert valid and payload == held, (
                    f"{self.name}: stream rule 2 broken at cycle {self.cycles}: offered "
                    f"{held}, then valid={int(valid)} payload={payload}")
            if valid and ready:
                index = len(self.received)
                self.received.append(payload)
                self.transfer_cycles.append(self.cycles)
                if self._on_transfer is not None:
                    self._on_transfer(index, payload)
                if self._wanted and len(self.received) >= self._wanted:
                    self._enough.set()
            elif valid:
                self.stall_cycles += 1
            held = payload if valid and not ready else None


def _fit(value: int, width: int) -> int:
    """Check that ``value`` fits ``width`` bits, signed or unsigned, and return it."""
    if not -(1 << (width - 1)) <= value < (1 << width):
        raise ValueError(f"payload {value} does not fit a {width}-bit stream")
    return value
