"""UART transmitter and receiver, 8N1, behind byte streams."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTTx", "UARTRx", "divisor_for"]


def divisor_for(clock_hz: float, baud: int) -> int:
    """Clock cycles per bit for ``baud`` at ``clock_hz``; raises if the error exceeds 2 %.

    The receiver samples each bit near its centre, so the two ends of a link may differ by
    a few per cent over the ten bits of a character; 2 % for one end leaves room for the other.
    """
    if baud <= 0 or clock_hz <= 0:
        raise ValueError(f"clock and baud rate must be positive, not {clock_hz} and {baud}")
    div = round(clock_hz / baud)
    if div < 16:
        raise ValueError(f"{baud} baud at {clock_hz / 1e6:g} MHz is {clock_hz / baud:.1f} "
                         "cycles a bit; the receiver needs at least 16")
    err = abs(clock_hz / div - baud) / baud
    if err > 0.02:
        raise ValueError(f"{baud} baud at {clock_hz / 1e6:g} MHz: the nearest divisor {div} "
                         f"is {100 * err:.1f} % off; at most 2 % is allowed")
    return div


class UARTTx(wiring.Component):
    """Sends each byte of ``i_stream`` as one start bit (0), eight data bits (least
    significant first) and one stop bit (1), ``divisor`` clock cycles a bit.

    Attributes
    ----------
    i_stream : In(stream of 8 bits)
        Bytes to send; taken when the previous byte's stop bit has been sent.
    tx : Out(1)
        The line, idle high.
    """

    def __init__(self, divisor: int):
        if divisor < 2:
            raise ValueError(f"divisor must be at least 2 cycles a bit, not {divisor}")
        self._div = divisor
        super().__init__({"i_stream": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(10, init=0x3FF)     # stop, data[7:0], start: sent from bit 0
        bits = Signal(range(11))           # bits still to send
        timer = Signal(range(self._div))
        m.d.comb += [self.i_stream.ready.eq(bits == 0), self.tx.eq(shreg[0])]
        with m.If(self.i_stream.valid & self.i_stream.ready):
            m.d.sync += [shreg.eq(Cat(0, self.i_stream.payload, 1)), bits.eq(10),
                         timer.eq(self._div - 1)]
        with m.Elif(bits != 0):
            with m.If(timer == 0):
                m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), bits.eq(bits - 1),
                             timer.eq(self._div - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m


class UARTRx(wiring.Component):
    """Receives 8N1 characters from ``rx`` (asynchronous to the clock).

    The line passes a two-flip-flop synchroniser. A falling edge starts a character; the
    start bit is checked at its centre (a shorter pulse is a glitch and ignored). Each bit is
    then the majority of three samples taken ``divisor/16`` cycles apart around its centre
    (16x oversampling). A character whose stop bit is low is not delivered: ``error`` pulses
    and the receiver waits for the line to go high. A character that arrives while the
    previous one still waits on ``o_stream`` replaces nothing: it is dropped and ``overrun``
    pulses (the framing layer above then sees a bad frame and asks again).

    Attributes
    ----------
    rx : In(1)
        The line, idle high.
    o_stream : Out(stream of 8 bits)
        Received bytes.
    error, overrun : Out(1)
        One-cycle pulses: a framing error, a byte lost because ``o_stream`` was not ready.
    """

    def __init__(self, divisor: int):
        if divisor < 16:
            raise ValueError(f"divisor must be at least 16 cycles a bit (16x oversampling), "
                             f"not {divisor}")
        self._div = divisor
        super().__init__({
            "rx": In(1, init=1), "o_stream": Out(stream.Signature(8)),
            "error": Out(1), "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self._div
        step = d // 16
        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(d + 1))
        votes = Signal(2)                  # samples that were high, of this bit's three
        nsample = Signal(range(3))
        bit = Signal(range(10))            # 0 start, 1..8 data, 9 stop
        data = Signal(8)

        with m.If(self.o_stream.valid & self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)

        # sample k of a bit at its centre + (k - 1) * step; the timer counts down to them
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += [timer.eq(d // 2 - step - 1), bit.eq(0), votes.eq(0),
                                 nsample.eq(0)]
                    m.next = "SAMPLE"
            with m.State("SAMPLE"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    high = votes + line
                    with m.If(nsample != 2):
                        m.d.sync += [votes.eq(high), nsample.eq(nsample + 1),
                                     timer.eq(step - 1)]
                    with m.Else():
                        value = high >= 2
                        m.d.sync += [votes.eq(0), nsample.eq(0), bit.eq(bit + 1),
                                     timer.eq(d - 2 * step - 1)]
                        with m.If(bit == 0):
                            with m.If(value):      # not a start bit: a glitch
                                m.next = "IDLE"
                        with m.Elif(bit != 9):
                            m.d.sync += data.eq(Cat(data[1:], value))
                        with m.Else():
                            with m.If(~value):
                                m.d.comb += self.error.eq(1)
                                m.next = "BREAK"
                            with m.Elif(self.o_stream.valid & ~self.o_stream.ready):
                                m.d.comb += self.overrun.eq(1)
                                m.next = "IDLE"
                            with m.Else():
                                m.d.sync += [self.o_stream.payload.eq(data),
                                             self.o_stream.valid.eq(1)]
                                m.next = "IDLE"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m
