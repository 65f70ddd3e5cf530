"""The host link's framing and command set, shared by the host driver and the gateware.

A frame is a packet, COBS-encoded and terminated by one zero byte. Since COBS output has no
zero bytes, a receiver that sees garbage drops bytes until the next zero and then understands
the next good frame: that is the resynchronisation rule. The packet::

    offset  bytes  field
    0       1      kind     a :class:`Cmd` (host to board) or a :class:`Rsp` (board to host)
    1       1      tag      chosen by the host, echoed in every frame that answers it
    2       2      length   L, bytes of payload, little-endian, at most MAX_PAYLOAD
    4       L      payload
    4+L     2      CRC-16/CCITT-FALSE of bytes 0 .. 3+L (polynomial 0x1021, initial 0xFFFF,
                   no reflection, no final XOR), big-endian

A packet is therefore 6 .. MAX_PAYLOAD + 6 bytes, and its frame at most
``MAX_PAYLOAD + 6 + ceil((MAX_PAYLOAD + 6) / 254) + 1`` bytes on the wire.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "PROTOCOL_VERSION", "DEFAULT_BAUD", "MAX_PAYLOAD", "HEADER_BYTES", "CRC_BYTES", "Cmd",
    "Rsp", "Err", "HELLO_REPLY", "MEM_REQUEST", "RESET_REQUEST", "STEP_REQUEST", "GENERATE_HEAD",
    "COUNTER_BYTES", "STEP_SAMPLE", "STEP_LOGITS", "word_bytes", "ERR_MEANING",
    "Frame", "FrameError", "crc16", "cobs_encode", "cobs_decode", "encode_frame",
    "decode_packet", "FrameReader", "max_frame_bytes",
]

#: Bumped on every incompatible change of the frames or the command set.
PROTOCOL_VERSION = 2
#: Largest payload of one frame: the gateware's receive buffer is one 512 x 8 EBR block.
MAX_PAYLOAD = 500
HEADER_BYTES = 4
CRC_BYTES = 2
#: The serial rate of every board description (``boards/descriptions/*.yaml``, a test checks
#: them) and so the host's default: 8N1 at 1,000,000 baud, 100,000 bytes a second.
DEFAULT_BAUD = 1_000_000


class Cmd(IntEnum):
    """Commands, host to board."""

    HELLO = 0x01      # -> protocol version, build id, model dimensions, weight hash
    LOAD = 0x02       # write words of one memory
    READ = 0x03       # read words of one memory back
    RESET = 0x04      # clear the network state, seed the sampler
    STEP = 0x05       # one character in; the logits and/or the next character out
    GENERATE = 0x06   # prompt, count, temperature: characters stream back
    STOP = 0x07       # end a GENERATE early
    COUNTERS = 0x08   # read and clear the performance counters


class Rsp(IntEnum):
    """Responses, board to host."""

    OK = 0x80         # the command is done; its results, if any, in the payload
    CHARS = 0x81      # characters of a GENERATE, as they are sampled
    ERROR = 0xFF      # the command (tag 0: a frame) was refused; payload: one :class:`Err`


class Err(IntEnum):
    """Reasons in an ``ERROR`` frame (first payload byte)."""

    BAD_CRC = 1          # the CRC does not match
    BAD_FRAME = 2        # COBS error, or the length field disagrees with the frame
    OVERSIZE = 3         # more than MAX_PAYLOAD bytes of payload
    UNKNOWN_COMMAND = 4  # kind is not a Cmd
    BAD_ARGUMENT = 5     # a payload of the wrong size or a field out of range
    BAD_CHARACTER = 6    # a character id outside the vocabulary
    BUSY = 7             # a GENERATE is running (only STOP is accepted)


# -- payloads (little-endian) -----------------------------------------------------------------
#: HELLO's answer: protocol version, gateware build id, neurons, fan-out, time steps,
#: vocabulary size, lanes P, readout lanes R, synapse lanes S, CRC-32 of the weight memories'
#: words.
HELLO_REPLY = struct.Struct("<BIHHBBBBBI")
#: LOAD and READ: memory (``hw.memmap.MemId``), first word, word count. LOAD's words follow,
#: ``word_bytes`` each; READ's answer is the words.
MEM_REQUEST = struct.Struct("<BIH")
#: RESET: the sampler's 32-bit generator state (``golden.seed_to_state(seed)``).
RESET_REQUEST = struct.Struct("<I")
#: STEP: character id, flags (STEP_SAMPLE, STEP_LOGITS), fixed-point temperature. The answer
#: is the logits (int32 each, if asked) then the sampled id (one byte, if asked): the order
#: in which the core produces them.
STEP_REQUEST = struct.Struct("<BBH")
STEP_SAMPLE, STEP_LOGITS = 1, 2
#: GENERATE: characters to generate, fixed-point temperature; the prompt's ids follow. CHARS
#: frames carry the sampled ids; the closing OK frame the count generated (uint16).
GENERATE_HEAD = struct.Struct("<HH")
#: COUNTERS' answer: each counter of ``hw.core.COUNTERS`` in 6 bytes.
COUNTER_BYTES = 6


def word_bytes(width: int) -> int:
    """Bytes of a memory word of ``width`` bits in LOAD and READ payloads."""
    return (width + 7) // 8


#: What each error means, for messages on the host.
ERR_MEANING = {
    Err.BAD_CRC: "a frame's CRC did not match",
    Err.BAD_FRAME: "a frame was cut short or its length field disagreed with it",
    Err.OVERSIZE: f"a frame longer than {MAX_PAYLOAD} payload bytes",
    Err.UNKNOWN_COMMAND: "no such command",
    Err.BAD_ARGUMENT: "a payload of the wrong size or a field out of range",
    Err.BAD_CHARACTER: "a character id outside the vocabulary",
    Err.BUSY: "a GENERATE is running; only STOP is accepted",
}


class FrameError(ValueError):
    """A frame that cannot be understood; ``err`` is the :class:`Err` the board would send."""

    def __init__(self, err: Err, message: str):
        super().__init__(message)
        self.err = err


@dataclass(frozen=True)
class Frame:
    kind: int
    tag: int
    payload: bytes = b""


def max_frame_bytes(payload: int = MAX_PAYLOAD) -> int:
    """Bytes on the wire of a frame with ``payload`` bytes of payload, delimiter included."""
    n = payload + HEADER_BYTES + CRC_BYTES
    return n + (n + 253) // 254 + 1


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (check value of ``b"123456789"``: 0x29B1)."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def cobs_encode(data: bytes) -> bytes:
    """Consistent overhead byte stuffing: ``data`` without any zero byte (no delimiter)."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """The inverse of :func:`cobs_encode`; :class:`FrameError` for input no encoder makes."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise FrameError(Err.BAD_FRAME, f"zero byte inside a COBS frame at offset {i}")
        end = i + code
        if end > len(data):
            raise FrameError(Err.BAD_FRAME, f"COBS block at offset {i} announces {code - 1} "
                                            f"bytes, {len(data) - i - 1} follow")
        block = data[i + 1:end]
        if 0 in block:
            raise FrameError(Err.BAD_FRAME, f"zero byte inside a COBS frame at offset "
                                            f"{i + 1 + block.index(0)}")
        out += block
        i = end
        if code < 255 and i < len(data):
            out.append(0)
    return bytes(out)


def encode_frame(kind: int, tag: int, payload: bytes = b"") -> bytes:
    """The bytes on the wire for one frame, delimiter included."""
    if not 0 <= kind <= 255 or not 0 <= tag <= 255:
        raise ValueError(f"kind and tag must be bytes (0 .. 255), not {kind} and {tag}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes; at most {MAX_PAYLOAD} fit a frame")
    packet = struct.pack("<BBH", kind, tag, len(payload)) + bytes(payload)
    packet += struct.pack(">H", crc16(packet))
    return cobs_encode(packet) + b"\x00"


def decode_packet(encoded: bytes) -> Frame:
    """One frame's bytes between delimiters (COBS-encoded, no zero) to a :class:`Frame`."""
    packet = cobs_decode(encoded)
    if len(packet) < HEADER_BYTES + CRC_BYTES:
        raise FrameError(Err.BAD_FRAME, f"packet of {len(packet)} bytes; a frame has at least "
                                        f"{HEADER_BYTES + CRC_BYTES}")
    kind, tag, length = struct.unpack_from("<BBH", packet)
    if length > MAX_PAYLOAD:
        raise FrameError(Err.OVERSIZE, f"length field {length}; at most {MAX_PAYLOAD}")
    if len(packet) != HEADER_BYTES + length + CRC_BYTES:
        raise FrameError(Err.BAD_FRAME, f"length field {length} but {len(packet) - 6} payload "
                                        f"bytes in the frame")
    (crc,) = struct.unpack_from(">H", packet, HEADER_BYTES + length)
    want = crc16(packet[:HEADER_BYTES + length])
    if crc != want:
        raise FrameError(Err.BAD_CRC, f"CRC {crc:#06x}, computed {want:#06x}")
    return Frame(kind, tag, bytes(packet[HEADER_BYTES:HEADER_BYTES + length]))


class FrameReader:
    """Splits a byte stream into frames: feed bytes, take frames or errors as they complete.

    Bytes beyond :func:`max_frame_bytes` without a delimiter are dropped up to the next
    delimiter and reported once as ``OVERSIZE``; empty frames (two delimiters in a row) are
    skipped, so a sender may send a zero byte first to end any partial frame on the line.
    """

    def __init__(self):
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        limit = max_frame_bytes() - 1
        for byte in data:
            if byte != 0:
                if len(self._buf) < limit:
                    self._buf.append(byte)
                else:
                    self._overflow = True
                continue
            if self._overflow:
                out.append(FrameError(Err.OVERSIZE, f"frame longer than {limit} bytes"))
            elif self._buf:
                try:
                    out.append(decode_packet(bytes(self._buf)))
                except FrameError as exc:
                    out.append(exc)
            self._buf.clear()
            self._overflow = False
        return out
