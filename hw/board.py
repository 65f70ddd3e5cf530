"""The board's logic behind a byte stream: frames in, the command layer, the core, frames out.

:class:`Board` is what a host talks to, minus the serial line: ``FrameRx`` and ``FrameTx``
(``framing.py``) around the command layer, which drives the :class:`~.core.Core` through its
command, load and output streams. The command layer answers exactly as
``snnfpga.sw_driver.board_model.BoardModel`` does (the tests compare their bytes); the
protocol is ``snnfpga.sw_driver.protocol``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import ModelConfig
from ..model.modelfile import IntWeights
from ..sw_driver.board_model import WEIGHT_MEMORIES, build_id
from ..sw_driver.protocol import (
    COUNTER_BYTES,
    GENERATE_HEAD,
    HELLO_REPLY,
    MAX_PAYLOAD,
    MEM_REQUEST,
    PROTOCOL_VERSION,
    RESET_REQUEST,
    STEP_LOGITS,
    STEP_REQUEST,
    STEP_SAMPLE,
    Cmd,
    Err,
    Rsp,
    word_bytes,
)
from .core import COUNTERS, Core, Op
from .framing import FrameRx, FrameTx
from .memmap import DEFAULT_LANES, DEFAULT_READOUT_LANES, MemId
from .sampler import TEMPERATURE_BITS

__all__ = ["Board", "BoardTop", "CRC32_POLY"]


#: Bytes the board top-level buffers between the UART receiver and the command layer.
UART_FIFO_DEPTH = 16


#: CRC-32 (zlib's), reflected polynomial: HELLO's hash of the weights is computed a bit a cycle
#: (32 logic cells; the byte-wide XOR network took five times that, for a hash that is
#: computed once per connection).
CRC32_POLY = 0xEDB88320


class Board(wiring.Component):
    """Frames in on ``i_stream``, answers out on ``o_stream`` (bytes, before any UART).

    Parameters
    ----------
    config, vocab_size, weights, lanes, readout_lanes, synapse_lanes, spram, registered_reads
        Those of the :class:`~.core.Core` inside.

    Attributes
    ----------
    i_stream : In(stream of 8 bits)
        Bytes from the host.
    o_stream : Out(stream of 8 bits)
        Bytes to the host.
    """

    def __init__(self, *, config: ModelConfig, vocab_size: int,
                 weights: IntWeights | None = None, lanes: int = DEFAULT_LANES,
                 readout_lanes: int = DEFAULT_READOUT_LANES,
                 synapse_lanes: int | None = None, spram: bool = False,
                 registered_reads: bool = False):
        self._core = Core(config=config, vocab_size=vocab_size, weights=weights, lanes=lanes,
                          readout_lanes=readout_lanes, synapse_lanes=synapse_lanes, spram=spram,
                          registered_reads=registered_reads)
        self._geom = self._core.geometry
        super().__init__({"i_stream": In(stream.Signature(8)),
                          "o_stream": Out(stream.Signature(8))})

    @property
    def core(self) -> Core:
        return self._core

    def elaborate(self, platform):
        m = Module()
        g = self._geom
        c = g.config
        V = g.vocab_size
        m.submodules.core = core = self._core
        m.submodules.rx = rx = FrameRx()
        m.submodules.tx = tx = FrameTx()
        wiring.connect(m, wiring.flipped(self.i_stream), rx.i_stream)
        wiring.connect(m, tx.o_stream, wiring.flipped(self.o_stream))

        mems = list(MemId)
        depth = Array(Const(g.depth(mm), 32) for mm in mems)
        # the bits above each memory's word width: a LOAD word with any of them set is refused
        over = Array(Const(~((1 << g.width(mm)) - 1) & 0xFFFFFFFF, 32) for mm in mems)
        nbytes = Array(Const(word_bytes(g.width(mm)), 3) for mm in mems)

        # -- the frame being served ------------------------------------------------------------
        f = rx.o_frame.payload
        # a frame without error is at most MAX_PAYLOAD long (the decoder refuses longer ones)
        kind, tag, length = Signal(8), Signal(8), Signal(range(MAX_PAYLOAD + 1))
        err = Signal(8)                       # the reason of an ERROR answer
        known = Signal()                      # the frame's kind is a command
        bad_len = Signal()                    # its length is not one the command takes
        in_gen = Signal()                     # an ERROR returns to the GENERATE loop
        p = Signal(range(MAX_PAYLOAD + 2))    # read pointer into the receive buffer
        nb = Signal(3)                        # bytes per word of the selected memory
        kbyte = Signal(3)                     # byte of the word being read / sent
        nbit = Signal(6)                      # HELLO: bit of the word going into the CRC
        # an address is kept in the bits the deepest memory needs; addr_hi records that one of
        # the request's higher bits was set, which no memory can serve
        abits = max(g.depth(mm) for mm in mems).bit_length()
        mem, addr, count = Signal(8), Signal(abits), Signal(16)
        addr_hi = Signal()
        i = Signal(16)                        # word / character counter
        pass2 = Signal()                      # LOAD: checking (0) or writing (1)
        word = Signal(32)
        m.d.comb += rx.rd_addr.eq(p)
        # count words of the selected memory in bytes, without a multiplier (1 to 4 bytes)
        count_bytes = Signal(range(4 * 0xFFFF + 1))
        # ... registered before they are compared, with the request's end (MEM_SIZE)
        want_len = Signal(range(MEM_REQUEST.size + 4 * 0xFFFF + 1))
        end = Signal(max(abits, 16) + 1)
        # ... and the verdicts on them registered before the request is refused or served
        out_of_range, load_len_bad, read_len_bad = Signal(), Signal(), Signal()
        nbm = nbytes[mem[:3]]
        m.d.comb += count_bytes.eq(Mux(nbm == 1, count, Mux(nbm == 2, count << 1,
                                                            Mux(nbm == 3, (count << 1) + count,
                                                                count << 2))))
        rdata = rx.rd_data

        # -- transmit helpers: a header, then payload bytes ------------------------------------
        hk, ht, hl = Signal(8), Signal(8), Signal(16)   # the header to send next
        m.d.comb += [tx.i_head.payload.kind.eq(hk), tx.i_head.payload.tag.eq(ht),
                     tx.i_head.payload.length.eq(hl)]
        obyte = Signal(8)
        m.d.comb += tx.i_data.payload.eq(obyte)

        # -- the command being run on the core --------------------------------------------------
        cid = Signal(8)
        flags = Signal(8)
        tq = Signal(16)
        want_sample, want_logits = Signal(), Signal()
        seed = Signal(32)
        cmd = core.cmd.payload
        m.d.comb += [cmd.id.eq(cid), cmd.sample.eq(want_sample), cmd.logits.eq(want_logits),
                     cmd.tq.eq(tq), cmd.seed.eq(seed)]
        logit = Signal(32)
        produced = Signal(16)
        gen_count = Signal(16)
        gen_tag = Signal(8)
        stop_tag = Signal(8)
        stopped = Signal()
        plen = Signal(range(MAX_PAYLOAD + 1))

        crc = Signal(32)
        hello = [PROTOCOL_VERSION] + list(build_id(g).to_bytes(4, "little")) \
            + list(c.neurons.to_bytes(2, "little")) + list(c.fanout.to_bytes(2, "little")) \
            + [c.steps, V, g.lanes, g.readout_lanes, g.synapse_lanes]
        assert len(hello) + 4 == HELLO_REPLY.size
        hello_bytes = Array([Const(b, 8) for b in hello] + [~crc[k * 8:(k + 1) * 8]
                                                            for k in range(4)])
        ctr = Array(Cat(c, Const(0, 8 * COUNTER_BYTES - len(c))) for c in core.counters)
        weight_mems = [int(mm) for mm in WEIGHT_MEMORIES]
        assert weight_mems == list(range(len(weight_mems))), "WEIGHT_MEMORIES come first"
        # the load port's payload comes straight from registers (the running address, the word,
        # pass2 as the write flag): only ``valid`` is decoded from the state
        mc = core.mem_cmd.payload
        m.d.comb += [mc.mem.eq(mem), mc.addr.eq(addr), mc.data.eq(word), mc.write.eq(pass2)]

        def head(k, t, n):
            m.d.sync += [hk.eq(k), ht.eq(t), hl.eq(n)]

        def refuse(reason, to_tag=tag):
            m.d.sync += err.eq(reason)
            head(Rsp.ERROR, to_tag, 1)
            m.next = "ERR_HEAD"

        with m.FSM(name="link"):
            with m.State("IDLE"):
                m.d.comb += rx.o_frame.ready.eq(1)
                with m.If(rx.o_frame.valid):
                    m.d.sync += [kind.eq(f.kind), tag.eq(f.tag), length.eq(f.length),
                                 p.eq(0), i.eq(0), in_gen.eq(0), known.eq(1), bad_len.eq(0)]
                    # the command and its length are judged here, into two flags, so that
                    # DISPATCH only branches (the judging and the branching in one cycle made
                    # the command layer's longest path)
                    with m.Switch(f.kind):
                        with m.Case(Cmd.HELLO, Cmd.COUNTERS, Cmd.STOP):
                            m.d.sync += bad_len.eq(f.length != 0)
                        with m.Case(Cmd.LOAD, Cmd.READ):
                            m.d.sync += bad_len.eq(f.length < MEM_REQUEST.size)
                        with m.Case(Cmd.RESET):
                            m.d.sync += bad_len.eq(f.length != RESET_REQUEST.size)
                        with m.Case(Cmd.STEP):
                            m.d.sync += bad_len.eq(f.length != STEP_REQUEST.size)
                        with m.Case(Cmd.GENERATE):
                            m.d.sync += bad_len.eq(f.length < GENERATE_HEAD.size + 1)
                        with m.Default():
                            m.d.sync += known.eq(0)
                    with m.If(f.err != 0):   # a frame error: answered with tag 0
                        refuse(f.err, 0)
                    with m.Else():
                        m.next = "DISPATCH"

            with m.State("DISPATCH"):
                with m.If(~known):
                    refuse(Err.UNKNOWN_COMMAND)
                with m.Elif(bad_len):
                    refuse(Err.BAD_ARGUMENT)
                with m.Else():
                    with m.Switch(kind):
                        with m.Case(Cmd.HELLO):
                            m.d.sync += [crc.eq(0xFFFFFFFF), mem.eq(0), addr.eq(0), pass2.eq(0)]
                            m.next = "HELLO_READ"
                        with m.Case(Cmd.COUNTERS):
                            m.d.sync += [hk.eq(Rsp.OK), ht.eq(tag),
                                         hl.eq(COUNTER_BYTES * len(COUNTERS)), i.eq(0),
                                         kbyte.eq(0)]
                            m.next = "COUNTERS_HEAD"
                        with m.Case(Cmd.STOP):   # STOP with no GENERATE running
                            m.d.sync += [hk.eq(Rsp.OK), ht.eq(tag), hl.eq(0)]
                            m.next = "HEAD_ONLY"
                        with m.Case(Cmd.LOAD, Cmd.READ):
                            m.next = "MEM_FETCH"
                        with m.Case(Cmd.RESET):
                            m.next = "RESET_FETCH"
                        with m.Case(Cmd.STEP):
                            m.next = "STEP_FETCH"
                        with m.Default():
                            m.next = "GEN_FETCH"

            # -- errors --------------------------------------------------------------------
            with m.State("ERR_HEAD"):
                m.d.comb += tx.i_head.valid.eq(1)
                with m.If(tx.i_head.ready):
                    m.next = "ERR_BYTE"
            with m.State("ERR_BYTE"):
                m.d.comb += [tx.i_data.valid.eq(1), obyte.eq(err)]
                with m.If(tx.i_data.ready):
                    m.d.comb += rx.release.eq(1)
                    m.next = "ERR_DONE"
            with m.State("ERR_DONE"):
                with m.If(in_gen):
                    m.next = "GEN_POLL"
                with m.Else():
                    m.next = "IDLE"

            # -- an answer with no payload ---------------------------------------------------
            with m.State("HEAD_ONLY"):
                m.d.comb += [rx.release.eq(1), tx.i_head.valid.eq(1)]
                with m.If(tx.i_head.ready):
                    m.next = "IDLE"

            # -- HELLO: CRC-32 of the weight memories, read through the load port -------------
            with m.State("HELLO_READ"):
                m.d.comb += rx.release.eq(1)
                with m.If(mem == len(weight_mems)):
                    m.d.sync += [hk.eq(Rsp.OK), ht.eq(tag), hl.eq(HELLO_REPLY.size), i.eq(0)]
                    m.next = "HELLO_HEAD"
                with m.Elif(addr == depth[mem[:3]]):
                    m.d.sync += [mem.eq(mem + 1), addr.eq(0)]
                with m.Else():
                    m.d.comb += core.mem_cmd.valid.eq(1)
                    with m.If(core.mem_cmd.ready):
                        m.next = "HELLO_WAIT"
            with m.State("HELLO_WAIT"):
                m.d.comb += core.mem_rsp.ready.eq(1)
                with m.If(core.mem_rsp.valid):
                    m.d.sync += [word.eq(core.mem_rsp.payload), nbit.eq(0),
                                 nb.eq(nbytes[mem[:3]])]
                    m.next = "HELLO_CRC"
            with m.State("HELLO_CRC"):   # one bit a cycle, each byte's least significant first
                fb = crc[0] ^ word[0]
                m.d.sync += [crc.eq((crc >> 1) ^ Mux(fb, CRC32_POLY, 0)), word.eq(word >> 1),
                             nbit.eq(nbit + 1)]
                with m.If(nbit == Cat(Const(7, 3), (nb - 1)[:3])):   # bit 8 * nb - 1
                    m.d.sync += addr.eq(addr + 1)
                    m.next = "HELLO_READ"
            with m.State("HELLO_HEAD"):
                m.d.comb += tx.i_head.valid.eq(1)
                with m.If(tx.i_head.ready):
                    m.next = "HELLO_BYTES"
            with m.State("HELLO_BYTES"):
                m.d.comb += [tx.i_data.valid.eq(1), obyte.eq(hello_bytes[i[:5]])]
                with m.If(tx.i_data.ready):
                    m.d.sync += i.eq(i + 1)
                    with m.If(i == HELLO_REPLY.size - 1):
                        m.next = "IDLE"

            # -- LOAD / READ: memory, first word, count ----------------------------------------
            with m.State("MEM_FETCH"):   # bytes 0 .. 6 of the payload, one a cycle
                m.d.sync += p.eq(p + 1)
                with m.If(p != 0):
                    with m.Switch(p):
                        with m.Case(1):
                            m.d.sync += [mem.eq(rdata), addr_hi.eq(0)]
                        for k in range(4):   # address bytes, least significant first
                            with m.Case(2 + k):
                                lo = 8 * k
                                if lo < abits:
                                    m.d.sync += addr[lo:lo + 8].eq(rdata)
                                if lo + 8 > abits:
                                    with m.If(rdata[max(0, abits - lo):] != 0):
                                        m.d.sync += addr_hi.eq(1)
                        with m.Case(6):
                            m.d.sync += count[:8].eq(rdata)
                        with m.Case(7):
                            m.d.sync += count[8:].eq(rdata)
                with m.If(p == MEM_REQUEST.size):
                    m.next = "MEM_SIZE"
            with m.State("MEM_SIZE"):
                m.d.sync += [want_len.eq(MEM_REQUEST.size + count_bytes), end.eq(addr + count)]
                m.next = "MEM_BOUNDS"
            with m.State("MEM_BOUNDS"):
                # the wide comparisons are registered here, so that the decision below (and
                # the FSM's next state) waits for no carry chain
                limit = Mux(kind == Cmd.LOAD, len(weight_mems), len(mems))
                m.d.sync += [
                    out_of_range.eq((mem >= limit) | addr_hi | (end > depth[mem[:3]])),
                    load_len_bad.eq(length != want_len),
                    read_len_bad.eq((length != MEM_REQUEST.size)
                                    | (want_len > MEM_REQUEST.size + MAX_PAYLOAD)),
                ]
                m.next = "MEM_CHECK"
            with m.State("MEM_CHECK"):
                m.d.sync += [nb.eq(nbytes[mem[:3]]), i.eq(0), pass2.eq(0),
                             p.eq(MEM_REQUEST.size)]
                with m.If(out_of_range):
                    refuse(Err.BAD_ARGUMENT)
                with m.Elif(kind == Cmd.LOAD):
                    with m.If(load_len_bad):
                        refuse(Err.BAD_ARGUMENT)
                    with m.Else():
                        m.next = "LOAD_WORD"
                with m.Else():
                    with m.If(read_len_bad):
                        refuse(Err.BAD_ARGUMENT)
                    with m.Else():
                        m.d.sync += [hk.eq(Rsp.OK), ht.eq(tag),
                                     hl.eq(count_bytes)]
                        m.next = "READ_HEAD"

            with m.State("LOAD_WORD"):   # assemble word i from nb bytes (p runs ahead by one)
                with m.If(i == count):
                    with m.If(pass2):
                        m.d.sync += [hk.eq(Rsp.OK), ht.eq(tag), hl.eq(0)]
                        m.next = "HEAD_ONLY"
                    with m.Else():
                        m.d.sync += [pass2.eq(1), i.eq(0), p.eq(MEM_REQUEST.size)]
                with m.Else():
                    m.d.sync += [p.eq(p + 1), kbyte.eq(0), word.eq(0)]
                    m.next = "LOAD_BYTES"
            with m.State("LOAD_BYTES"):
                m.d.sync += [word.eq(word | (rdata.as_unsigned() << (kbyte * 8))[:32]),
                             kbyte.eq(kbyte + 1)]
                with m.If(kbyte == nb - 1):
                    m.next = "LOAD_USE"
                with m.Else():
                    m.d.sync += p.eq(p + 1)
            with m.State("LOAD_USE"):
                with m.If(~pass2):
                    with m.If((word & over[mem[:3]]) != 0):
                        refuse(Err.BAD_ARGUMENT)
                    with m.Else():
                        m.d.sync += i.eq(i + 1)
                        m.next = "LOAD_WORD"
                with m.Else():
                    m.d.comb += core.mem_cmd.valid.eq(1)
                    with m.If(core.mem_cmd.ready):
                        m.d.sync += [i.eq(i + 1), addr.eq(addr + 1)]
                        m.next = "LOAD_WORD"

            with m.State("READ_HEAD"):
                m.d.comb += [rx.release.eq(1), tx.i_head.valid.eq(1)]
                with m.If(tx.i_head.ready):
                    m.d.sync += i.eq(0)
                    m.next = "READ_ISSUE"
            with m.State("READ_ISSUE"):
                with m.If(i == count):
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += core.mem_cmd.valid.eq(1)
                    with m.If(core.mem_cmd.ready):
                        m.d.sync += addr.eq(addr + 1)
                        m.next = "READ_WAIT"
            with m.State("READ_WAIT"):
                m.d.comb += core.mem_rsp.ready.eq(1)
                with m.If(core.mem_rsp.valid):
                    m.d.sync += [word.eq(core.mem_rsp.payload), kbyte.eq(0)]
                    m.next = "READ_BYTES"
            with m.State("READ_BYTES"):
                m.d.comb += [tx.i_data.valid.eq(1), obyte.eq(word.word_select(kbyte, 8))]
                with m.If(tx.i_data.ready):
                    m.d.sync += kbyte.eq(kbyte + 1)
                    with m.If(kbyte == nb - 1):
                        m.d.sync += i.eq(i + 1)
                        m.next = "READ_ISSUE"

            # -- RESET ------------------------------------------------------------------------
            with m.State("RESET_FETCH"):
                m.d.sync += p.eq(p + 1)
                with m.If(p != 0):
                    m.d.sync += seed.eq(Cat(seed[8:], rdata))
                with m.If(p == RESET_REQUEST.size):
                    m.next = "RESET_CHECK"
            with m.State("RESET_CHECK"):
                with m.If(seed == 0):
                    refuse(Err.BAD_ARGUMENT)
                with m.Else():
                    m.d.comb += [rx.release.eq(1), core.cmd.valid.eq(1), cmd.op.eq(Op.RESET)]
                    with m.If(core.cmd.ready):
                        m.d.sync += [hk.eq(Rsp.OK), ht.eq(tag), hl.eq(0)]
                        m.next = "CORE_WAIT"
            with m.State("CORE_WAIT"):   # the core starts the cycle after taking a command
                m.next = "CORE_DONE"
            with m.State("CORE_DONE"):
                with m.If(~core.busy):
                    m.next = "HEAD_ONLY"

            # -- STEP -------------------------------------------------------------------------
            with m.State("STEP_FETCH"):
                m.d.sync += p.eq(p + 1)
                with m.Switch(p):
                    with m.Case(1):
                        m.d.sync += cid.eq(rdata)
                    with m.Case(2):
                        m.d.sync += flags.eq(rdata)
                    with m.Case(3):
                        m.d.sync += tq[:8].eq(rdata)
                    with m.Case(4):
                        m.d.sync += tq[8:].eq(rdata)
                with m.If(p == STEP_REQUEST.size):
                    m.next = "STEP_CHECK"
            with m.State("STEP_CHECK"):
                with m.If(cid >= V):
                    refuse(Err.BAD_CHARACTER)
                with m.Elif(tq >= (1 << TEMPERATURE_BITS)):
                    refuse(Err.BAD_ARGUMENT)
                with m.Else():
                    ws, wl = (flags & STEP_SAMPLE) != 0, (flags & STEP_LOGITS) != 0
                    m.d.sync += [want_sample.eq(ws), want_logits.eq(wl), hk.eq(Rsp.OK),
                                 ht.eq(tag), hl.eq(Mux(wl, 4 * V, 0) + ws), i.eq(0)]
                    m.next = "STEP_HEAD"
            with m.State("STEP_HEAD"):
                m.d.comb += [rx.release.eq(1), tx.i_head.valid.eq(1)]
                with m.If(tx.i_head.ready):
                    m.next = "STEP_CMD"
            with m.State("STEP_CMD"):
                m.d.comb += [core.cmd.valid.eq(1), cmd.op.eq(Op.TOKEN)]
                with m.If(core.cmd.ready):
                    m.next = "STEP_LOGIT"
            with m.State("STEP_LOGIT"):
                with m.If(~want_logits | (i == V)):
                    m.next = "STEP_CHAR"
                with m.Else():
                    m.d.comb += core.o_logit.ready.eq(1)
                    with m.If(core.o_logit.valid):
                        m.d.sync += [logit.eq(core.o_logit.payload.as_signed()), kbyte.eq(0),
                                     i.eq(i + 1)]
                        m.next = "STEP_LOGIT_BYTES"
            with m.State("STEP_LOGIT_BYTES"):
                m.d.comb += [tx.i_data.valid.eq(1), obyte.eq(logit.word_select(kbyte, 8))]
                with m.If(tx.i_data.ready):
                    m.d.sync += kbyte.eq(kbyte + 1)
                    with m.If(kbyte == 3):
                        m.next = "STEP_LOGIT"
            with m.State("STEP_CHAR"):
                with m.If(~want_sample):
                    m.next = "CORE_DONE_QUIET"
                with m.Else():
                    m.d.comb += core.o_char.ready.eq(1)
                    with m.If(core.o_char.valid):
                        m.d.sync += cid.eq(core.o_char.payload)
                        m.next = "STEP_CHAR_BYTE"
            with m.State("STEP_CHAR_BYTE"):
                m.d.comb += [tx.i_data.valid.eq(1), obyte.eq(cid)]
                with m.If(tx.i_data.ready):
                    m.next = "CORE_DONE_QUIET"
            with m.State("CORE_DONE_QUIET"):   # the answer is out; wait for the core to end
                with m.If(~core.busy):
                    m.next = "IDLE"

            # -- GENERATE ---------------------------------------------------------------------
            with m.State("GEN_FETCH"):
                m.d.sync += p.eq(p + 1)
                with m.Switch(p):
                    with m.Case(1):
                        m.d.sync += gen_count[:8].eq(rdata)
                    with m.Case(2):
                        m.d.sync += gen_count[8:].eq(rdata)
                    with m.Case(3):
                        m.d.sync += tq[:8].eq(rdata)
                    with m.Case(4):
                        m.d.sync += tq[8:].eq(rdata)
                with m.If(p == GENERATE_HEAD.size):
                    m.d.sync += [plen.eq(length - GENERATE_HEAD.size), gen_tag.eq(tag),
                                 stopped.eq(0), produced.eq(0)]
                    m.next = "GEN_CHECK"
            with m.State("GEN_CHECK"):   # every prompt id in the vocabulary (p runs ahead)
                with m.If(tq >= (1 << TEMPERATURE_BITS)):
                    refuse(Err.BAD_ARGUMENT)
                with m.Elif(p == length + 1):
                    m.d.sync += [p.eq(GENERATE_HEAD.size), i.eq(0)]
                    m.next = "GEN_PROMPT"
                with m.Else():
                    m.d.sync += p.eq(p + 1)
                    with m.If(rdata >= V):
                        refuse(Err.BAD_CHARACTER)
            with m.State("GEN_PROMPT"):   # wait a cycle for the buffer's read data
                with m.If(gen_count == 0):
                    m.d.comb += rx.release.eq(1)
                    head(Rsp.OK, gen_tag, 2)
                    m.next = "GEN_END_HEAD"
                with m.Else():
                    m.next = "GEN_FEED"
            with m.State("GEN_FEED"):     # feed prompt id i; sample only after the last one
                last = i == plen - 1
                m.d.comb += [core.cmd.valid.eq(1), cmd.op.eq(Op.TOKEN)]
                m.d.comb += [cmd.id.eq(rdata), cmd.sample.eq(last), cmd.logits.eq(0)]
                with m.If(core.cmd.ready):
                    m.d.sync += [i.eq(i + 1), p.eq(p + 1)]
                    with m.If(last):
                        m.next = "GEN_RELEASE"
                    with m.Else():
                        m.next = "GEN_PROMPT_WAIT"
            with m.State("GEN_PROMPT_WAIT"):
                m.next = "GEN_PROMPT_DONE"
            with m.State("GEN_PROMPT_DONE"):
                with m.If(~core.busy):
                    m.next = "GEN_FEED"
            with m.State("GEN_RELEASE"):   # the prompt is in: new frames may arrive now
                m.d.comb += rx.release.eq(1)
                m.next = "GEN_CHAR"
            with m.State("GEN_CHAR"):
                m.d.comb += core.o_char.ready.eq(1)
                with m.If(core.o_char.valid):
                    m.d.sync += [cid.eq(core.o_char.payload), produced.eq(produced + 1)]
                    m.next = "GEN_CHAR_DONE"
            with m.State("GEN_CHAR_DONE"):
                with m.If(~core.busy):
                    head(Rsp.CHARS, gen_tag, 1)
                    m.next = "GEN_CHARS_HEAD"
            with m.State("GEN_CHARS_HEAD"):
                m.d.comb += tx.i_head.valid.eq(1)
                with m.If(tx.i_head.ready):
                    m.next = "GEN_CHARS_BYTE"
            with m.State("GEN_CHARS_BYTE"):
                m.d.comb += [tx.i_data.valid.eq(1), obyte.eq(cid)]
                with m.If(tx.i_data.ready):
                    m.next = "GEN_POLL"
            with m.State("GEN_POLL"):     # frames that came meanwhile: STOP, or refused
                with m.If(rx.o_frame.valid):
                    m.d.comb += rx.o_frame.ready.eq(1)
                    m.d.sync += in_gen.eq(1)
                    with m.If(f.err != 0):
                        refuse(f.err, 0)
                    with m.Elif(f.kind != Cmd.STOP):
                        refuse(Err.BUSY, f.tag)
                    with m.Elif(f.length != 0):
                        refuse(Err.BAD_ARGUMENT, f.tag)
                    with m.Else():
                        m.d.comb += rx.release.eq(1)
                        m.d.sync += [stopped.eq(1), stop_tag.eq(f.tag)]
                with m.Elif(stopped | (produced == gen_count)):
                    head(Rsp.OK, gen_tag, 2)
                    m.next = "GEN_END_HEAD"
                with m.Else():
                    m.next = "GEN_NEXT"
            with m.State("GEN_NEXT"):     # the sampled id back in; a state of its own, so that
                # the core's command does not hang on the judging of a frame in the same cycle
                # (that chain, frame -> verdict -> core -> link state, was the longest path)
                m.d.comb += [core.cmd.valid.eq(1), cmd.op.eq(Op.TOKEN)]
                m.d.comb += [cmd.id.eq(cid), cmd.sample.eq(1), cmd.logits.eq(0)]
                with m.If(core.cmd.ready):
                    m.next = "GEN_CHAR"
            with m.State("GEN_END_HEAD"):
                m.d.comb += tx.i_head.valid.eq(1)
                with m.If(tx.i_head.ready):
                    m.d.sync += kbyte.eq(0)
                    m.next = "GEN_END_BYTES"
            with m.State("GEN_END_BYTES"):
                m.d.comb += [tx.i_data.valid.eq(1), obyte.eq(produced.word_select(kbyte[0], 8))]
                with m.If(tx.i_data.ready):
                    m.d.sync += kbyte.eq(kbyte + 1)
                    with m.If(kbyte == 1):
                        with m.If(stopped):
                            m.d.sync += [hk.eq(Rsp.OK), ht.eq(stop_tag), hl.eq(0)]
                            m.next = "STOP_ANSWER"
                        with m.Else():
                            m.next = "IDLE"
            with m.State("STOP_ANSWER"):
                m.d.comb += tx.i_head.valid.eq(1)
                with m.If(tx.i_head.ready):
                    m.next = "IDLE"

            # -- COUNTERS ---------------------------------------------------------------------
            with m.State("COUNTERS_HEAD"):
                m.d.comb += [rx.release.eq(1), tx.i_head.valid.eq(1)]
                with m.If(tx.i_head.ready):
                    m.next = "COUNTERS_BYTES"
            with m.State("COUNTERS_BYTES"):
                m.d.comb += [tx.i_data.valid.eq(1),
                             obyte.eq(ctr[i[:4]].word_select(kbyte, 8))]
                with m.If(tx.i_data.ready):
                    m.d.sync += kbyte.eq(kbyte + 1)
                    with m.If(kbyte == COUNTER_BYTES - 1):
                        m.d.sync += [kbyte.eq(0), i.eq(i + 1)]
                        with m.If(i == len(COUNTERS) - 1):
                            m.d.comb += core.counters_clear.eq(1)
                            m.next = "IDLE"
        return m


class BoardTop(wiring.Component):
    """The board behind its serial line: UART receiver, a FIFO, :class:`Board`, UART
    transmitter. The same component is the top of the bitstreams (``rx``/``tx`` on the pins
    of the board's USB serial bridge) and of the virtual board (``snnfpga.sim.vboard``).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit of the serial line (``uart.divisor_for(clock, baud)``).
    fifo_depth : int
        Bytes received while the command layer is busy with a frame (the host may send the
        next frame, or a STOP, before the answer to the last one has come).
    **board
        The parameters of :class:`Board` (model configuration, weights, lanes, ...).
    """

    def __init__(self, *, divisor: int, fifo_depth: int = UART_FIFO_DEPTH, **board):
        self._divisor = divisor
        self._fifo_depth = fifo_depth
        self._board = Board(**board)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1)})

    @property
    def board(self) -> Board:
        return self._board

    def elaborate(self, platform):
        from amaranth.lib.fifo import SyncFIFOBuffered

        from .uart import UARTRx, UARTTx

        m = Module()
        m.submodules.urx = urx = UARTRx(self._divisor)
        m.submodules.utx = utx = UARTTx(self._divisor)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=self._fifo_depth)
        m.submodules.board = board = self._board
        m.d.comb += [
            urx.rx.eq(self.rx), self.tx.eq(utx.tx),
            fifo.w_data.eq(urx.o_stream.payload), fifo.w_en.eq(urx.o_stream.valid),
            urx.o_stream.ready.eq(fifo.w_rdy),
            board.i_stream.payload.eq(fifo.r_data), board.i_stream.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(board.i_stream.ready),
        ]
        wiring.connect(m, board.o_stream, utx.i_stream)
        return m
