"""The sampler's random generator: SPEC.md section 6, eight LFSR steps per cycle."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..model.golden import GUMBEL_INDEX_BITS, LFSR_TAPS, seed_to_state

__all__ = ["Lfsr32"]


class Lfsr32(wiring.Component):
    """32-bit Galois LFSR (taps ``0x80200003``) that yields one ``draw_bits``-bit draw a cycle.

    One LFSR step is ``out = s & 1; s >>= 1; if out: s ^= 0x80200003``; a draw is
    ``draw_bits`` steps, the first bit out being the draw's most significant bit, exactly as
    ``snnfpga.model.golden.Lfsr32.draw``. The steps are unrolled combinationally: the draw is
    a function of the current state, and ``advance`` moves the state past it at the clock
    edge.

    Parameters
    ----------
    draw_bits : int
        Bits per draw, ``1 .. 32``; 8 (the Gumbel table index of SPEC.md section 5) by default.

    Attributes
    ----------
    draw : Out(draw_bits)
        The next draw, unsigned ``0 .. 2**draw_bits - 1``, valid in every cycle.
    advance : In(1)
        Consume ``draw``: the state advances by ``draw_bits`` steps at the clock edge.
    seed : In(32)
        State to load, ``1 .. 2**32 - 1`` (the host maps a user seed with
        ``golden.seed_to_state``). A zero state would lock the LFSR at zero: the host, not the
        gateware, owns that check, as it owns the seed.
    load : In(1)
        Load ``seed`` into the state at the clock edge; takes precedence over ``advance``.
    state : Out(32)
        The current state (for read-back and tests). It resets to ``seed_to_state(0) = 1``.
    """

    def __init__(self, *, draw_bits: int = GUMBEL_INDEX_BITS):
        if isinstance(draw_bits, bool) or not isinstance(draw_bits, int) \
                or not 1 <= draw_bits <= 32:
            raise ValueError(f"draw_bits must be an integer in 1 .. 32, not {draw_bits!r}")
        self._draw_bits = draw_bits
        super().__init__({
            "draw":    Out(draw_bits),
            "advance": In(1),
            "seed":    In(32),
            "load":    In(1),
            "state":   Out(32, init=seed_to_state(0)),
        })

    @property
    def draw_bits(self) -> int:
        """Bits per draw."""
        return self._draw_bits

    def elaborate(self, platform):
        m = Module()

        s = self.state
        out_bits = []
        for i in range(self._draw_bits):
            out = s[0]
            # One named signal per step: each step reads the previous state twice, so nesting
            # the expressions would double their size at every step (2**32 terms for 32 bits).
            nxt = Signal(32, name=f"step{i + 1}")
            # s >> 1 keeps 32 bits with a zero on top; the taps are XORed in when a 1 falls out
            m.d.comb += nxt.eq(Cat(s[1:], Const(0, 1)) ^ (out.replicate(32) & LFSR_TAPS))
            out_bits.append(out)
            s = nxt
        # Cat is least significant first; the first bit out is the most significant of the draw
        m.d.comb += self.draw.eq(Cat(*reversed(out_bits)))

        with m.If(self.load):
            m.d.sync += self.state.eq(self.seed)
        with m.Elif(self.advance):
            m.d.sync += self.state.eq(s)
        return m
