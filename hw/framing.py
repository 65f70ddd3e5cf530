"""Frames of the host link in gateware: COBS decoding and checking, assembling and encoding.

The format is ``snnfpga.sw_driver.protocol`` (one definition for host and gateware):
COBS-encoded packets ``kind, tag, length (2, LE), payload, CRC-16/CCITT-FALSE (2, BE)``,
each followed by a zero byte.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..sw_driver.protocol import CRC_BYTES, HEADER_BYTES, MAX_PAYLOAD, Err, max_frame_bytes

__all__ = ["FrameRx", "FrameTx", "crc16_update", "crc_byte_update", "BUFFER_BYTES"]

#: Bytes of a frame buffer: the largest packet, in one 512 x 8 EBR block.
BUFFER_BYTES = 512
assert MAX_PAYLOAD + HEADER_BYTES + CRC_BYTES <= BUFFER_BYTES

def crc_byte_update(crc: Value, byte: Value, *, width: int, poly: int,
                    reflected: bool) -> Value:
    """A CRC register after one more byte, as one XOR per output bit.

    The byte-at-a-time loop is unrolled symbolically: each register bit is tracked as the set
    of input bits (register and byte) whose XOR it is, so the logic is the flat linear map
    rather than eight nested multiplexers.
    """
    crc, byte = Value.cast(crc), Value.cast(byte)
    inputs = [crc[i] for i in range(width)] + [byte[i] for i in range(8)]
    c = [{i} for i in range(width)]                       # bit i of the register
    for k in range(8):                                     # the byte enters the register
        j = k if reflected else width - 8 + k
        c[j] = c[j] ^ {width + k}
    for _ in range(8):
        if reflected:
            out = c[0]
            c = c[1:] + [set()]
        else:
            out = c[width - 1]
            c = [set()] + c[:-1]
        c = [c[i] ^ out if poly >> i & 1 else c[i] for i in range(width)]
    bits = []
    for terms in c:
        v = Const(0, 1)
        for t in sorted(terms):
            v = v ^ inputs[t]
        bits.append(v)
    return Cat(*bits)


def crc16_update(crc: Value, byte: Value) -> Value:
    """CRC-16/CCITT-FALSE after one more byte (``protocol.crc16``), as logic."""
    return crc_byte_update(crc, byte, width=16, poly=0x1021, reflected=False)


class FrameRx(wiring.Component):
    """Decodes frames from a byte stream into a payload buffer.

    Every byte is taken in one cycle, except while a decoded frame is held: from the moment
    ``o_frame`` is valid until ``release`` the input waits (``i_stream.ready`` low), so the
    buffer is never overwritten under its reader. A frame ends at a zero byte and is checked
    in the order of ``protocol.FrameReader``: more than ``max_frame_bytes() - 1`` bytes on the
    wire (``OVERSIZE``), a COBS block cut short or a packet under 6 bytes (``BAD_FRAME``), a
    length field above ``MAX_PAYLOAD`` (``OVERSIZE``), a length field that disagrees with the
    packet (``BAD_FRAME``), the CRC (``BAD_CRC``). Empty frames (zero bytes in a row) are
    skipped. A bad frame is reported too (``err`` non-zero, with the kind and tag it had if
    it got that far), so that the command layer can answer with an error frame.

    Attributes
    ----------
    i_stream : In(stream of 8 bits)
        Bytes from the line.
    o_frame : Out(stream)
        ``kind``, ``tag``, ``length`` (payload bytes) and ``err`` (an ``Err``, or 0) of a
        frame; the payload is in the buffer at addresses ``0 .. length-1``.
    rd_addr, rd_data : In, Out
        The payload buffer's read port (data one cycle after the address).
    release : In(1)
        The held frame's buffer may be reused (a pulse, after ``o_frame`` was taken).
    """

    def __init__(self):
        self._limit = max_frame_bytes() - 1
        super().__init__({
            "i_stream": In(stream.Signature(8)),
            "o_frame": Out(stream.Signature(data.StructLayout({
                "kind": 8, "tag": 8, "length": 16, "err": 3}))),
            "rd_addr": In(range(BUFFER_BYTES)), "rd_data": Out(8),
            "release": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=BUFFER_BYTES, init=[])
        wp, rp = buf.write_port(), buf.read_port()
        m.d.comb += [rp.addr.eq(self.rd_addr), rp.en.eq(1), self.rd_data.eq(rp.data)]

        held = Signal()
        wire = Signal(range(self._limit + 2))       # wire bytes of this frame (saturating)
        remaining = Signal(8)                       # bytes left in the COBS block
        zero_due = Signal()                         # the block ends in a zero if more follows
        n = Signal(16)                              # decoded packet bytes so far
        crc = Signal(16, init=0xFFFF)
        kind, tag, length = Signal(8), Signal(8), Signal(16)

        m.d.comb += self.i_stream.ready.eq(~held)
        byte = self.i_stream.payload
        take = self.i_stream.valid & self.i_stream.ready

        # one decoded byte a cycle at most: a data byte, or the zero before a new block
        out_valid = Signal()
        out_byte = Signal(8)

        with m.If(take & (byte != 0)):
            m.d.sync += wire.eq(Mux(wire <= self._limit, wire + 1, wire))
            with m.If(remaining == 0):   # a code byte
                m.d.sync += [remaining.eq(byte - 1), zero_due.eq(byte != 255)]
                with m.If(zero_due & (wire != 0)):
                    m.d.comb += [out_valid.eq(1), out_byte.eq(0)]
            with m.Else():
                m.d.sync += remaining.eq(remaining - 1)
                m.d.comb += [out_valid.eq(1), out_byte.eq(byte)]

        with m.If(out_valid):
            m.d.sync += [n.eq(Mux(n == 0xFFFF, n, n + 1)), crc.eq(crc16_update(crc, out_byte))]
            with m.Switch(n):
                with m.Case(0):
                    m.d.sync += kind.eq(out_byte)
                with m.Case(1):
                    m.d.sync += tag.eq(out_byte)
                with m.Case(2):
                    m.d.sync += length[:8].eq(out_byte)
                with m.Case(3):
                    m.d.sync += length[8:].eq(out_byte)
            with m.If((n >= HEADER_BYTES) & (n < HEADER_BYTES + BUFFER_BYTES)):
                m.d.comb += [wp.addr.eq(n - HEADER_BYTES), wp.data.eq(out_byte), wp.en.eq(1)]

        f = self.o_frame.payload
        err = Signal(3)
        with m.If(wire > self._limit):
            m.d.comb += err.eq(Err.OVERSIZE)
        with m.Elif((remaining != 0) | (n < HEADER_BYTES + CRC_BYTES)):
            m.d.comb += err.eq(Err.BAD_FRAME)
        with m.Elif(length > MAX_PAYLOAD):
            m.d.comb += err.eq(Err.OVERSIZE)
        with m.Elif(n != length + HEADER_BYTES + CRC_BYTES):
            m.d.comb += err.eq(Err.BAD_FRAME)
        with m.Elif(crc != 0):           # the CRC over the packet and its own CRC leaves 0
            m.d.comb += err.eq(Err.BAD_CRC)

        with m.If(take & (byte == 0)):
            m.d.sync += [wire.eq(0), remaining.eq(0), zero_due.eq(0), n.eq(0), crc.eq(0xFFFF)]
            with m.If(wire != 0):         # not an empty frame: report it and hold the buffer
                m.d.sync += [held.eq(1), self.o_frame.valid.eq(1), f.kind.eq(kind),
                             f.tag.eq(tag), f.length.eq(length), f.err.eq(err)]
        with m.If(self.o_frame.valid & self.o_frame.ready):
            m.d.sync += self.o_frame.valid.eq(0)
        with m.If(self.release):
            m.d.sync += held.eq(0)
        return m


class FrameTx(wiring.Component):
    """Assembles a packet from a header and its payload bytes, then sends it COBS-encoded.

    A frame is ``i_head`` (``kind``, ``tag``, ``length``) followed by ``length`` bytes on
    ``i_data``. The packet goes into a buffer with its CRC; then each COBS block is sent by
    reading ahead to the block's end (next zero, 254 bytes or the end of the packet), sending
    the block's code and then its bytes, exactly as ``protocol.cobs_encode`` does; then the
    zero delimiter. ``i_head`` is taken only when the previous frame has been sent.

    Attributes
    ----------
    i_head : In(stream)
        ``kind``, ``tag``, ``length`` (at most ``MAX_PAYLOAD``; larger lengths are cut to it).
    i_data : In(stream of 8 bits)
        The payload bytes.
    o_stream : Out(stream of 8 bits)
        Bytes for the line.
    """

    def __init__(self):
        super().__init__({
            "i_head": In(stream.Signature(data.StructLayout({"kind": 8, "tag": 8,
                                                             "length": 16}))),
            "i_data": In(stream.Signature(8)),
            "o_stream": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=BUFFER_BYTES, init=[])
        wp, rp = buf.write_port(), buf.read_port(transparent_for=())
        total = Signal(range(BUFFER_BYTES + 1))    # packet bytes
        crc_hi = Signal.like(total)                # ... where the CRC's two bytes go (set with
        crc_lo = Signal.like(total)                # total, so that no subtraction runs into
                                                   # the state's next value)
        wpos = Signal(range(BUFFER_BYTES + 1))
        crc = Signal(16)
        length = Signal(range(MAX_PAYLOAD + 1))
        # a COBS block: its bytes are rdp .. scan - 1, non-zero; scan stops at a zero byte, the
        # packet's end or 254 bytes (run); rdp then walks up to scan sending them
        scan = Signal(range(BUFFER_BYTES + 1))
        rdp = Signal(range(BUFFER_BYTES + 1))
        run = Signal(range(256))
        h = self.i_head.payload
        header = Signal(32)                        # kind, tag, length (LE) of the packet

        m.d.comb += rp.en.eq(0)   # the read data holds unless a state reads
        crc_byte = Signal(8)      # the byte going into the CRC (one XOR network for both)
        crc_next = crc16_update(crc, crc_byte)

        def write(addr, value):
            m.d.comb += [wp.addr.eq(addr), wp.data.eq(value), wp.en.eq(1)]

        # a payload byte is taken into a register and reaches the buffer and the CRC the cycle
        # after: the byte comes out of the command layer's wide multiplexer, and with the CRC
        # network behind it that path was the longest of the whole design
        pend = Signal()
        pbyte = Signal(8)
        paddr = Signal.like(wpos)
        m.d.sync += pend.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.i_head.ready.eq(1)
                with m.If(self.i_head.valid):
                    ln = Mux(h.length > MAX_PAYLOAD, MAX_PAYLOAD, h.length)
                    m.d.sync += [length.eq(ln), total.eq(ln + HEADER_BYTES + CRC_BYTES),
                                 crc_hi.eq(ln + HEADER_BYTES + CRC_BYTES - 2),
                                 crc_lo.eq(ln + HEADER_BYTES + CRC_BYTES - 1),
                                 wpos.eq(0), crc.eq(0xFFFF)]
                    m.d.sync += header.eq(Cat(h.kind, h.tag, ln[:16]))
                    m.next = "HEADER"
            with m.State("HEADER"):   # four header bytes into the buffer
                b = header.word_select(wpos[:2], 8)
                write(wpos, b)
                m.d.comb += crc_byte.eq(b)
                m.d.sync += [crc.eq(crc_next), wpos.eq(wpos + 1)]
                with m.If(wpos == HEADER_BYTES - 1):
                    m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                with m.If(wpos == length + HEADER_BYTES):
                    m.next = "CRC"
                with m.Else():
                    m.d.comb += self.i_data.ready.eq(1)
                    with m.If(self.i_data.valid):
                        m.d.sync += [pbyte.eq(self.i_data.payload), paddr.eq(wpos),
                                     pend.eq(1), wpos.eq(wpos + 1)]
            with m.State("CRC"):   # entered a cycle after the last byte: that byte is in

                write(wpos, Mux(wpos == crc_hi, crc[8:], crc[:8]))
                m.d.sync += wpos.eq(wpos + 1)
                with m.If(wpos == crc_lo):
                    m.d.sync += [scan.eq(0), rdp.eq(0), run.eq(0)]
                    m.next = "SCAN"
            with m.State("SCAN"):
                # read byte `scan`; it arrives next cycle in SCAN_CHECK
                m.d.comb += [rp.addr.eq(scan), rp.en.eq(1)]
                with m.If((scan == total) | (run == 254)):
                    m.next = "CODE"
                with m.Else():
                    m.next = "SCAN_CHECK"
            with m.State("SCAN_CHECK"):
                with m.If(rp.data == 0):
                    m.next = "CODE"
                with m.Else():
                    m.d.sync += [run.eq(run + 1), scan.eq(scan + 1)]
                    m.next = "SCAN"
            with m.State("CODE"):
                m.d.comb += [self.o_stream.valid.eq(1), self.o_stream.payload.eq(run + 1)]
                with m.If(self.o_stream.ready):
                    m.next = "READ"
            with m.State("READ"):
                with m.If(rdp == scan):   # the block's bytes are out: next block or the end
                    m.d.sync += run.eq(0)
                    with m.If(run == 254):      # no zero ends a full block
                        m.next = "SCAN"
                    with m.Elif(scan == total):
                        m.next = "DELIM"
                    with m.Else():              # skip the zero that ended the block
                        m.d.sync += [scan.eq(scan + 1), rdp.eq(scan + 1)]
                        m.next = "SCAN"
                with m.Else():
                    m.d.comb += [rp.addr.eq(rdp), rp.en.eq(1)]
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.o_stream.valid.eq(1), self.o_stream.payload.eq(rp.data)]
                with m.If(self.o_stream.ready):
                    m.d.sync += rdp.eq(rdp + 1)
                    m.next = "READ"
            with m.State("DELIM"):
                m.d.comb += [self.o_stream.valid.eq(1), self.o_stream.payload.eq(0)]
                with m.If(self.o_stream.ready):
                    m.next = "IDLE"
        # the byte taken the cycle before (only in PAYLOAD and the cycle after, so never at the
        # same time as the header's or the CRC's writes)
        with m.If(pend):
            write(paddr, pbyte)
            m.d.comb += crc_byte.eq(pbyte)
            m.d.sync += crc.eq(crc_next)
        return m
