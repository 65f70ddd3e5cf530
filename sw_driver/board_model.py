"""The board's command layer in Python, on the golden model: the reference for the gateware.

:class:`BoardModel` takes the bytes a host sends and returns the bytes the board answers,
frame for frame as ``protocol`` specifies. It holds the weight memories as words
(``hw.memmap`` layout, so LOAD and READ address what the gateware holds), runs tokens through
``model.golden`` and keeps the counters the golden model defines (tokens, spikes, synaptic
events, readout operations; it has no clock and no memory ports, so those counters stay 0).
The in-process back-end of the driver talks to it, and the gateware's command layer is tested
against it.
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from collections.abc import Iterator

import numpy as np
import torch

from ..hw.core import COUNTERS
from ..hw.memmap import Geometry, MemId, pack_lanes, pack_memories, unpack_memories
from ..hw.sampler import TEMPERATURE_BITS
from ..model.errors import ModelError
from ..model.golden import GoldenModel, Lfsr32, seed_to_state
from ..model.modelfile import SpikingModel
from .protocol import (
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
    Frame,
    FrameError,
    FrameReader,
    Rsp,
    encode_frame,
    word_bytes,
)

__all__ = ["BoardModel", "build_id", "weights_crc"]

log = logging.getLogger("snnfpga.board_model")

#: Memories LOAD may write (the state memories are read-only from the host).
WEIGHT_MEMORIES = (MemId.WGT, MemId.LEAK, MemId.FAN, MemId.BIAS)


def build_id(geom: Geometry) -> int:
    """32-bit identifier of a gateware build: CRC-32 of its configuration and lanes."""
    c = geom.config
    key = {"protocol": PROTOCOL_VERSION, "config": {k: getattr(c, k)
                                                    for k in c.__dataclass_fields__},
           "vocab_size": geom.vocab_size, "lanes": geom.lanes,
           "readout_lanes": geom.readout_lanes, "synapse_lanes": geom.synapse_lanes}
    return zlib.crc32(json.dumps(key, sort_keys=True).encode())


def weights_crc(geom: Geometry, words: dict[MemId, list[int]]) -> int:
    """CRC-32 of the weight memories' words: memories in ``WEIGHT_MEMORIES`` order, words in
    address order, each as ``word_bytes`` little-endian bytes."""
    crc = 0
    for mem in WEIGHT_MEMORIES:
        nb = word_bytes(geom.width(mem))
        crc = zlib.crc32(b"".join(w.to_bytes(nb, "little") for w in words[mem]), crc)
    return crc


class BoardModel:
    """A board running ``model`` (its weights loaded), answering frames with frames."""

    def __init__(self, model: SpikingModel, geom: Geometry | None = None):
        self.geom = geom or Geometry(model.config, len(model.vocab))
        self._model = model
        self.words = pack_memories(self.geom, model.weights)
        self._golden: GoldenModel | None = None
        self._reader = FrameReader()
        self._state = None
        self._rng = Lfsr32(seed_to_state(0))
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._gen: Iterator[bytes] | None = None
        self._stop_tag: int | None = None
        self._last_counts = [0] * model.config.neurons
        self._out = bytearray()

    # -- the byte interface ---------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Bytes from the host; answers become readable with :meth:`read`."""
        for item in self._reader.feed(data):
            if isinstance(item, FrameError):
                self._send(Rsp.ERROR, 0, bytes([item.err]))
            else:
                self._command(item)

    def read(self, limit: int = 1 << 16) -> bytes:
        """Bytes for the host: pending answers, then the next characters of a GENERATE."""
        while len(self._out) < limit and self._gen is not None:
            try:
                self._out += next(self._gen)
            except StopIteration:
                self._gen = None
        out = bytes(self._out[:limit])
        del self._out[:limit]
        return out

    # -- commands -------------------------------------------------------------------------
    def _send(self, kind: int, tag: int, payload: bytes = b"") -> None:
        self._out += encode_frame(kind, tag, payload)

    def _error(self, tag: int, err: Err, detail: str) -> None:
        """An ERROR frame carries the reason only, as the gateware's does; ``detail`` is
        logged."""
        log.debug("refused tag %d: %s (%s)", tag, err.name, detail)
        self._send(Rsp.ERROR, tag, bytes([err]))

    def _command(self, f: Frame) -> None:
        if self._gen is not None and f.kind != Cmd.STOP:
            self._error(f.tag, Err.BUSY, "a GENERATE is running; only STOP is accepted")
            return
        try:
            kind = Cmd(f.kind)
        except ValueError:
            self._error(f.tag, Err.UNKNOWN_COMMAND, f"no command {f.kind:#04x}")
            return
        try:
            getattr(self, f"_cmd_{kind.name.lower()}")(f)
        except _Refused as exc:
            self._error(f.tag, exc.err, str(exc))

    def _cmd_hello(self, f: Frame) -> None:
        _expect(f, 0)
        g, c = self.geom, self.geom.config
        self._send(Rsp.OK, f.tag, HELLO_REPLY.pack(
            PROTOCOL_VERSION, build_id(g), c.neurons, c.fanout, c.steps, g.vocab_size, g.lanes,
            g.readout_lanes, g.synapse_lanes, weights_crc(g, self.words)))

    def _mem(self, f: Frame, allowed) -> tuple[MemId, int, int, int]:
        if len(f.payload) < MEM_REQUEST.size:
            raise _Refused(Err.BAD_ARGUMENT, f"expected at least {MEM_REQUEST.size} bytes")
        mem, addr, count = MEM_REQUEST.unpack_from(f.payload)
        if mem not in [int(x) for x in allowed]:
            raise _Refused(Err.BAD_ARGUMENT, f"memory {mem} is not one of "
                                             f"{[int(x) for x in allowed]}")
        mem = MemId(mem)
        if addr + count > self.geom.depth(mem):
            raise _Refused(Err.BAD_ARGUMENT, f"words {addr}..{addr + count - 1} past the "
                                             f"{self.geom.depth(mem)} of memory {mem.name}")
        return mem, addr, count, word_bytes(self.geom.width(mem))

    def _cmd_load(self, f: Frame) -> None:
        mem, addr, count, nb = self._mem(f, WEIGHT_MEMORIES)
        body = f.payload[MEM_REQUEST.size:]
        if len(body) != count * nb:
            raise _Refused(Err.BAD_ARGUMENT, f"{count} words of {nb} bytes expected, "
                                             f"{len(body)} bytes came")
        width = self.geom.width(mem)
        ws = [int.from_bytes(body[i * nb:(i + 1) * nb], "little") for i in range(count)]
        if any(w >> width for w in ws):
            raise _Refused(Err.BAD_ARGUMENT, f"a word wider than the {width} bits of {mem.name}")
        self.words[mem][addr:addr + count] = ws
        self._golden = None
        self._send(Rsp.OK, f.tag)

    def _cmd_read(self, f: Frame) -> None:
        mem, addr, count, nb = self._mem(f, list(MemId))
        _expect(f, MEM_REQUEST.size)
        if count * nb > MAX_PAYLOAD:
            raise _Refused(Err.BAD_ARGUMENT, f"{count} words of {nb} bytes do not fit a frame")
        words = self._state_words(mem) if mem in (MemId.VMEM, MemId.CNT) else self.words[mem]
        self._send(Rsp.OK, f.tag, b"".join(w.to_bytes(nb, "little")
                                           for w in words[addr:addr + count]))

    def _state_words(self, mem: MemId) -> list[int]:
        g = self.geom
        c = g.config
        if self._state is None:
            vals = [0] * c.neurons
        elif mem == MemId.VMEM:
            vals = self._state.v[0].tolist()
        else:
            vals = self._last_counts
        bits = c.membrane_bits if mem == MemId.VMEM else g.count_bits
        return pack_lanes(np.asarray(vals).reshape(g.groups, g.lanes), bits)

    def _cmd_reset(self, f: Frame) -> None:
        _expect(f, RESET_REQUEST.size)
        (state,) = RESET_REQUEST.unpack(f.payload)
        if state == 0:
            raise _Refused(Err.BAD_ARGUMENT, "the generator state must not be 0")
        self._state = None
        self._rng = Lfsr32(state)
        self._send(Rsp.OK, f.tag)

    def _token(self, cid: int) -> torch.Tensor:
        gm = self._golden_model()
        if self._state is None:
            self._state = gm.init_state(1)
        with torch.inference_mode():
            self._state, res = gm.step(self._state, torch.tensor([cid]))
        self._last_counts = res.counts[0].tolist()
        for k in ("spikes", "syn_events", "readout_ops"):
            self._counts[k] += int(getattr(res, k)[0])
        self._counts["tokens"] += 1
        return res.logits[0]

    def _check_id(self, cid: int) -> None:
        if cid >= self.geom.vocab_size:
            raise _Refused(Err.BAD_CHARACTER, f"character id {cid}; the vocabulary has "
                                              f"{self.geom.vocab_size}")

    def _check_tq(self, tq: int) -> None:
        if tq >= 1 << TEMPERATURE_BITS:
            raise _Refused(Err.BAD_ARGUMENT, f"temperature {tq}; the sampler takes "
                                             f"{TEMPERATURE_BITS} bits")

    def _cmd_step(self, f: Frame) -> None:
        _expect(f, STEP_REQUEST.size)
        cid, flags, tq = STEP_REQUEST.unpack(f.payload)
        self._check_id(cid)
        self._check_tq(tq)
        logits = self._token(cid)
        out = b""
        if flags & STEP_LOGITS:
            out += struct.pack(f"<{len(logits)}i", *[int(x) for x in logits])
        if flags & STEP_SAMPLE:
            out += bytes([self._golden_model().sample(logits, tq, self._rng)])
        self._send(Rsp.OK, f.tag, out)

    def _cmd_generate(self, f: Frame) -> None:
        if len(f.payload) < GENERATE_HEAD.size + 1:
            raise _Refused(Err.BAD_ARGUMENT, "expected a count, a temperature and at least "
                                             "one prompt character")
        count, tq = GENERATE_HEAD.unpack_from(f.payload)
        self._check_tq(tq)
        prompt = list(f.payload[GENERATE_HEAD.size:])
        for cid in prompt:
            self._check_id(cid)
        self._golden_model()   # refuses weights that are not a model before anything starts
        self._gen = self._generate(f.tag, prompt, count, tq)
        self._stop_tag = None

    def _generate(self, tag: int, prompt: list[int], count: int, tq: int) -> Iterator[bytes]:
        gm = self._golden_model()
        produced = 0
        fed = list(prompt)
        i = 0
        while produced < count and self._stop_tag is None:
            logits = self._token(fed[i])
            i += 1
            if i < len(fed):
                continue
            nxt = gm.sample(logits, tq, self._rng)
            fed.append(nxt)
            produced += 1
            yield encode_frame(Rsp.CHARS, tag, bytes([nxt]))
        yield encode_frame(Rsp.OK, tag, struct.pack("<H", produced))
        if self._stop_tag is not None:
            yield encode_frame(Rsp.OK, self._stop_tag)

    def _cmd_stop(self, f: Frame) -> None:
        _expect(f, 0)
        if self._gen is None:
            self._send(Rsp.OK, f.tag)   # nothing to stop
        else:
            self._stop_tag = f.tag

    def _cmd_counters(self, f: Frame) -> None:
        _expect(f, 0)
        self._send(Rsp.OK, f.tag, b"".join(self._counts[k].to_bytes(COUNTER_BYTES, "little")
                                           for k in COUNTERS))
        self._counts = dict.fromkeys(COUNTERS, 0)

    def _golden_model(self) -> GoldenModel:
        if self._golden is None:
            w = unpack_memories(self.geom, self.words)
            try:
                w.validate(self._model.config, self.geom.vocab_size)
                self._golden = GoldenModel(SpikingModel(self._model.config, self._model.vocab,
                                                        w))
            except ModelError as exc:
                raise _Refused(Err.BAD_ARGUMENT,
                               f"the loaded weights are not a model: {exc}") from None
        return self._golden


class _Refused(Exception):
    def __init__(self, err: Err, message: str):
        super().__init__(message)
        self.err = err


def _expect(f: Frame, size: int) -> None:
    if len(f.payload) != size:
        raise _Refused(Err.BAD_ARGUMENT, f"{Cmd(f.kind).name} takes {size} payload bytes, "
                                         f"not {len(f.payload)}")
