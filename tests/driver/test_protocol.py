"""Framing of the host link: CRC, COBS, frames, and a reader fed garbage, truncations, flips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snnfpga.sw_driver.protocol import (
    MAX_PAYLOAD,
    Cmd,
    Err,
    Frame,
    FrameError,
    FrameReader,
    cobs_decode,
    cobs_encode,
    crc16,
    decode_packet,
    encode_frame,
    max_frame_bytes,
)

payloads = st.binary(max_size=MAX_PAYLOAD)
frames = st.builds(Frame, st.integers(0, 255), st.integers(0, 255), payloads)


def test_crc_check_value_and_cobs_examples():
    assert crc16(b"123456789") == 0x29B1          # the CRC-16/CCITT-FALSE check value
    assert crc16(b"") == 0xFFFF
    # worked examples of the encoding: zeros become block codes, 254 non-zeros a full block
    assert cobs_encode(b"") == b"\x01"
    assert cobs_encode(b"\x00") == b"\x01\x01"
    assert cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255)) + b"\x01"
    assert max_frame_bytes(0) == 8


@given(st.binary(max_size=2000))
def test_cobs_round_trip_has_no_zero(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc) == data


@given(frames)
def test_frames_round_trip(frame):
    wire = encode_frame(frame.kind, frame.tag, frame.payload)
    assert wire[-1] == 0 and 0 not in wire[:-1]
    assert len(wire) <= max_frame_bytes(len(frame.payload))
    assert decode_packet(wire[:-1]) == frame
    assert FrameReader().feed(wire) == [frame]


@settings(max_examples=300)
@given(frames, st.data())
def test_a_flipped_bit_is_an_error_never_a_different_frame(frame, data):
    """Flip one bit anywhere before the delimiter: the reader reports an error (or splits at a
    new zero byte into errors), and the next good frame is understood."""
    wire = bytearray(encode_frame(frame.kind, frame.tag, frame.payload))
    bit = data.draw(st.integers(0, 8 * (len(wire) - 1) - 1))
    wire[bit // 8] ^= 1 << (bit % 8)
    good = encode_frame(Cmd.HELLO, 7)
    out = FrameReader().feed(bytes(wire) + good)
    assert out[-1] == Frame(Cmd.HELLO, 7)
    assert out[:-1] and all(isinstance(x, FrameError) for x in out[:-1]), out


@given(st.binary(max_size=3000))
def test_garbage_then_a_good_frame(garbage):
    """Random bytes never crash the reader; after a delimiter the next frame is understood."""
    reader = FrameReader()
    out = reader.feed(garbage)
    assert all(isinstance(x, (Frame, FrameError)) for x in out)
    rest = reader.feed(b"\x00" + encode_frame(Cmd.RESET, 3, b"\x01"))
    assert rest[-1] == Frame(Cmd.RESET, 3, b"\x01")
    assert all(isinstance(x, FrameError) for x in rest[:-1])   # the garbage's tail, if any


@given(frames, st.data())
def test_a_truncated_frame_is_an_error(frame, data):
    wire = encode_frame(frame.kind, frame.tag, frame.payload)
    cut = data.draw(st.integers(1, len(wire) - 2))
    out = FrameReader().feed(wire[:cut] + b"\x00")
    assert len(out) == 1 and isinstance(out[0], FrameError)
    assert out[0].err in (Err.BAD_FRAME, Err.BAD_CRC, Err.OVERSIZE)


def test_errors_name_what_was_expected():
    with pytest.raises(FrameError, match="packet of 3 bytes; a frame has at least 6") as e:
        decode_packet(cobs_encode(b"\x01\x02\x03"))
    assert e.value.err == Err.BAD_FRAME
    with pytest.raises(FrameError, match="CRC 0x0000, computed") as e:
        decode_packet(cobs_encode(b"\x01\x00\x00\x00\x00\x00"))
    assert e.value.err == Err.BAD_CRC
    with pytest.raises(FrameError, match=f"length field 1000; at most {MAX_PAYLOAD}"):
        decode_packet(cobs_encode(b"\x01\x00\xe8\x03" + bytes(1002)))
    with pytest.raises(ValueError, match=f"at most {MAX_PAYLOAD} fit a frame"):
        encode_frame(Cmd.LOAD, 0, bytes(MAX_PAYLOAD + 1))
    oversize = bytes([1]) * (max_frame_bytes() + 10) + b"\x00"
    out = FrameReader().feed(oversize + encode_frame(Cmd.STOP, 1))
    assert isinstance(out[0], FrameError) and out[0].err == Err.OVERSIZE
    assert out[1] == Frame(Cmd.STOP, 1)
