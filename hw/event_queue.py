"""Spike events between time steps: a double-buffered queue of neuron ids (SPEC.md 3.1-3.2)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Shape, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["EventQueue"]


class EventQueue(wiring.Component):
    """Two buffers of spike ids: the neuron phase fills "next", the synapse phase drains "current".

    During time step ``t`` the synapse phase pops, in push order, the ids of the neurons that
    spiked at step ``t - 1`` (the "current" buffer) while the neuron phase pushes the ids of
    the neurons spiking at step ``t`` (the "next" buffer). ``swap`` ends the step: "next"
    becomes "current" and the new "next" is empty. Both buffers live in one memory of
    ``2 * 2**ceil(log2 N)`` rows (one address bit selects the buffer), so a push and a pop
    never touch the same buffer in the same cycle.

    **Why depth N never overflows.** Between two swaps the neuron phase updates every neuron
    once and pushes the id of each one that spikes, so at most ``N`` ids enter "next" per
    step; each buffer holds ``N``. ``i_stream.ready`` still drops when "next" holds ``N``
    ids, so a controller that broke this rule would stall rather than lose or corrupt ids.

    Swap, push and pop in one cycle: a push taken in the swap cycle joins the buffer that
    becomes current (it is the last spike of the step); a pop taken in the swap cycle is the
    old current buffer's. The controller swaps when the synapse phase has taken every event
    (``cur_level == 0``). A swap before that drops the events of the old step that are not yet
    taken, except one already offered on ``o_stream``: stream rule 2 forbids withdrawing it,
    so it stays offered and is popped first, before the new step's events.

    Parameters
    ----------
    neurons : int
        Number of neurons ``N``, ``1 .. 65536``; ids are ``0 .. N-1``.

    Attributes
    ----------
    i_stream : In(stream.Signature(unsigned(ceil_log2(N))))
        Push the id of a neuron that spiked into "next" (at least 1 bit wide).
    o_stream : Out(stream.Signature(unsigned(ceil_log2(N))))
        Pop the ids of "current", oldest first, one per cycle at most. ``valid`` is a register
        (the ids come from a synchronous memory read): it lags a swap by one cycle.
    swap : In(1)
        Exchange the buffers at the clock edge.
    cur_level : Out(range(N + 2))
        Events of "current" not yet popped, including the one offered on ``o_stream``
        (``N + 1`` only just after a premature swap).
    next_level : Out(range(N + 1))
        Ids pushed into "next" since the last swap, ``0 .. N``.
    """

    def __init__(self, *, neurons: int):
        if isinstance(neurons, bool) or not isinstance(neurons, int) \
                or not 1 <= neurons <= 1 << 16:
            raise ValueError(f"neurons must be an integer in 1 .. 65536, not {neurons!r}")
        self._neurons = neurons
        self._id_shape = unsigned(max(1, ceil_log2(neurons)))
        super().__init__({
            "i_stream":   In(stream.Signature(self._id_shape)),
            "o_stream":   Out(stream.Signature(self._id_shape)),
            "swap":       In(1),
            "cur_level":  Out(range(neurons + 2)),
            "next_level": Out(range(neurons + 1)),
        })

    @property
    def neurons(self) -> int:
        """Number of neurons ``N`` (the depth of each buffer)."""
        return self._neurons

    @property
    def id_shape(self) -> Shape:
        """Shape of a neuron id."""
        return self._id_shape

    def elaborate(self, platform):
        m = Module()
        n = self._neurons
        ptr_bits = ceil_log2(n)

        m.submodules.events = mem = Memory(shape=self._id_shape, depth=2 << ptr_bits, init=[])
        wr = mem.write_port()
        # Reads and writes always address different buffers, so transparency is never needed.
        rd = mem.read_port()

        cur_bank = Signal()                  # buffer that holds "current"
        cur_count = Signal(range(n + 1))     # ids in "current" when it was swapped in
        rd_ptr = Signal(range(n + 1))        # ids of "current" already read from the memory
        next_count = Signal(range(n + 1))    # ids pushed into "next"

        push = self.i_stream.valid & self.i_stream.ready
        pop = self.o_stream.valid & self.o_stream.ready
        # The read port's data register is the payload register of o_stream: it is enabled only
        # to load the next id, and holds the offered id otherwise (stream rule 2).
        fetch = (~self.swap & (rd_ptr != cur_count)
                 & (~self.o_stream.valid | self.o_stream.ready))

        m.d.comb += [
            self.i_stream.ready.eq(next_count != n),
            wr.addr.eq(Cat(next_count[:ptr_bits], ~cur_bank)),
            wr.data.eq(self.i_stream.payload),
            wr.en.eq(push),
            rd.addr.eq(Cat(rd_ptr[:ptr_bits], cur_bank)),
            rd.en.eq(fetch),
            self.o_stream.payload.eq(rd.data),
            self.cur_level.eq(cur_count - rd_ptr + self.o_stream.valid),
            self.next_level.eq(next_count),
        ]

        with m.If(self.swap):
            m.d.sync += [
                cur_bank.eq(~cur_bank),
                cur_count.eq(next_count + push),
                rd_ptr.eq(0),
                next_count.eq(0),
            ]
            with m.If(pop):
                m.d.sync += self.o_stream.valid.eq(0)
        with m.Else():
            with m.If(push):
                m.d.sync += next_count.eq(next_count + 1)
            with m.If(fetch):
                m.d.sync += [rd_ptr.eq(rd_ptr + 1), self.o_stream.valid.eq(1)]
            with m.Elif(pop):
                m.d.sync += self.o_stream.valid.eq(0)
        return m
