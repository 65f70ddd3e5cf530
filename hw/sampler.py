"""Argmax and Gumbel-max sampling of the next character: SPEC.md section 5."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..model.config import ModelConfig
from ..model.golden import gumbel_table
from .lfsr import Lfsr32

__all__ = ["Sampler"]

#: Width of the fixed-point temperature ``tq`` (SPEC.md section 5: ``0 .. 2**15 - 1``).
TEMPERATURE_BITS = 15


class Sampler(wiring.Component):
    """Pick the next character from its ``V`` integer logits, streamed in id order.

    For each character the sampler takes ``V = vocab_size`` logits ``L[0] .. L[V-1]``, one per
    transfer on ``i_stream``, and emits one id on ``o_stream``, bit-exactly as
    ``snnfpga.model.golden.GoldenModel.sample``:

    * ``tq == 0`` (argmax): ``score[y] = L[y]``; no random numbers are drawn.
    * ``tq > 0`` (Gumbel-max): for ``y = 0 .. V-1`` in order, draw ``u`` (8 bits of the LFSR,
      SPEC.md section 6) and ``score[y] = L[y] + floor(tq * G[u] * 2**(logit_frac_bits -
      temperature_frac_bits - gumbel_frac_bits))``, computed exactly (never rounded or
      wrapped: the score register is as wide as the sum needs).

    The result is the smallest id with the largest score (a later id wins only if its score is
    strictly greater). ``G`` is the 256-entry table ``golden.gumbel_table(gumbel_frac_bits)``,
    held in a ROM with a registered read (an EBR on iCE40).

    Pipeline: a logit is taken in stage 0 together with its draw (the ROM address), stage 1
    multiplies ``tq * G[u]``, stage 2 adds the noise to the logit, stage 3 compares and keeps
    the best. ``i_stream`` takes one logit per cycle; it pauses while a character's last logit
    is in the pipeline and while the result waits on ``o_stream``, so one character costs
    ``V + 4`` cycles at best.

    Parameters
    ----------
    config : ModelConfig
        Reads ``logit_frac_bits``, ``gumbel_frac_bits`` and ``temperature_frac_bits``.
    vocab_size : int
        Number of logits per character, ``V >= 1``.
    logit_bits : int
        Signed width of a logit, 32 by default (SPEC.md section 1), ``2 .. 64``.

    Attributes
    ----------
    i_stream : In(stream.Signature(signed(logit_bits)))
        The logits of one character after another, id 0 first. Idle cycles are allowed.
    tq : In(15)
        Fixed-point temperature ``round(T * 2**temperature_frac_bits)``, ``0 .. 2**15 - 1``,
        ``0`` for argmax. Sampled when the first logit (id 0) of a character is taken and held
        for the character, so it may change freely between characters.
    seed : In(32)
        LFSR state ``1 .. 2**32 - 1`` (``golden.seed_to_state(seed)``), loaded by
        ``seed_load``.
    seed_load : In(1)
        Load ``seed`` into the LFSR at the clock edge (the ``RESET`` of a generation). Meant
        between characters; a logit taken in the same cycle uses the draw of the old state.
    o_stream : Out(stream.Signature(unsigned(ceil_log2(V))))
        The sampled id, ``0 .. V-1``, one per character (at least 1 bit wide).
    """

    def __init__(self, *, config: ModelConfig, vocab_size: int, logit_bits: int = 32):
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, not {config!r}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be an integer >= 1, not {vocab_size!r}")
        if isinstance(logit_bits, bool) or not isinstance(logit_bits, int) \
                or not 2 <= logit_bits <= 64:
            raise ValueError(f"logit_bits must be an integer in 2 .. 64, not {logit_bits!r}")
        self._config = config
        self._vocab_size = vocab_size
        self._logit_bits = logit_bits
        self._id_shape = unsigned(max(1, ceil_log2(vocab_size)))
        super().__init__({
            "i_stream":  In(stream.Signature(signed(logit_bits))),
            "tq":        In(TEMPERATURE_BITS),
            "seed":      In(32),
            "seed_load": In(1),
            "o_stream":  Out(stream.Signature(self._id_shape)),
        })

    @property
    def config(self) -> ModelConfig:
        """The model configuration the sampler was built for."""
        return self._config

    @property
    def vocab_size(self) -> int:
        """Logits per character, ``V``."""
        return self._vocab_size

    @property
    def logit_bits(self) -> int:
        """Signed width of a logit."""
        return self._logit_bits

    @property
    def id_shape(self) -> Shape:
        """Shape of the sampled id."""
        return self._id_shape

    def elaborate(self, platform):
        m = Module()
        c = self._config
        last_id = self._vocab_size - 1

        table = [int(g) for g in gumbel_table(c.gumbel_frac_bits)]
        m.submodules.gumbel = rom = Memory(
            shape=Shape.cast(range(min(table), max(table) + 1)), depth=len(table), init=table)
        rd = rom.read_port()   # registered read, enable stays at its reset value 1
        m.submodules.lfsr = lfsr = Lfsr32()

        # -- stage 0: take a logit, start its ROM read with the current draw --------------------
        index = Signal(range(max(2, self._vocab_size)))
        tq_held = Signal(TEMPERATURE_BITS)
        s1_valid, s1_last = Signal(), Signal()
        s2_valid, s2_last = Signal(), Signal()
        s3_valid, s3_last = Signal(), Signal()
        last_in_flight = (s1_valid & s1_last) | (s2_valid & s2_last) | (s3_valid & s3_last)
        # One result register on the output: a character's last logit enters only when the
        # result of the previous character has left and none is on its way there.
        m.d.comb += self.i_stream.ready.eq(~self.o_stream.valid & ~last_in_flight)
        take = self.i_stream.valid & self.i_stream.ready
        first = index == 0
        tq_now = Mux(first, self.tq, tq_held)

        m.d.comb += [
            rd.addr.eq(lfsr.draw),
            # draws only when sampling, in id order: one draw per logit taken
            lfsr.advance.eq(take & (tq_now != 0)),
            lfsr.seed.eq(self.seed),
            lfsr.load.eq(self.seed_load),
        ]
        s1_logit = Signal(signed(self._logit_bits))
        s1_id = Signal(self._id_shape)
        s1_first = Signal()
        s1_tq = Signal(TEMPERATURE_BITS)
        m.d.sync += [
            s1_valid.eq(take),
            s1_logit.eq(self.i_stream.payload),
            s1_id.eq(index),
            s1_first.eq(first),
            s1_last.eq(index == last_id),
            s1_tq.eq(tq_now),
        ]
        with m.If(take):
            m.d.sync += index.eq(Mux(index == last_id, 0, index + 1))
            with m.If(first):
                m.d.sync += tq_held.eq(self.tq)

        # -- stage 1: the product tq * G[u], exact (unsigned 15 bits x signed table) -----------
        # With tq == 0 the product is 0 whatever the ROM returned for the unconsumed draw.
        product = s1_tq * rd.data
        s2_product = Signal(product.shape())
        s2_logit = Signal(signed(self._logit_bits))
        s2_id = Signal(self._id_shape)
        s2_first = Signal()
        m.d.sync += [
            s2_valid.eq(s1_valid),
            s2_product.eq(product),
            s2_logit.eq(s1_logit),
            s2_id.eq(s1_id),
            s2_first.eq(s1_first),
            s2_last.eq(s1_last),
        ]

        # -- stage 2: the score, logit plus scaled noise ----------------------------------------
        shift = c.temperature_frac_bits + c.gumbel_frac_bits - c.logit_frac_bits
        # a signed >> is arithmetic, i.e. the floor of SPEC.md; << multiplies exactly
        noise = s2_product >> shift if shift >= 0 else s2_product << -shift
        score = s2_logit + noise
        s3_score = Signal(score.shape())
        s3_id = Signal(self._id_shape)
        s3_first = Signal()
        m.d.sync += [
            s3_valid.eq(s2_valid),
            s3_score.eq(score),
            s3_id.eq(s2_id),
            s3_first.eq(s2_first),
            s3_last.eq(s2_last),
        ]

        # -- stage 3: compare, keep the first maximum (a stage of its own: the adder and the
        # comparator in one cycle were the longest path of the whole design on the iCE40) ----
        best = Signal(score.shape())
        best_id = Signal(self._id_shape)
        # strictly greater: on a tie the earlier (lower) id stays
        better = s3_first | (s3_score > best)
        with m.If(s3_valid & better):
            m.d.sync += [best.eq(s3_score), best_id.eq(s3_id)]

        with m.If(s3_valid & s3_last):
            m.d.sync += [
                self.o_stream.payload.eq(Mux(better, s3_id, best_id)),
                self.o_stream.valid.eq(1),
            ]
        with m.Elif(self.o_stream.ready):
            m.d.sync += self.o_stream.valid.eq(0)
        return m
