"""The host driver: transports, and a :class:`Device` with one typed method per command."""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ..hw.core import COUNTERS
from ..hw.memmap import Geometry, MemId, pack_memories
from ..model.errors import SnnfpgaError
from ..model.golden import seed_to_state
from ..model.modelfile import SpikingModel
from .board_model import WEIGHT_MEMORIES, BoardModel, build_id, weights_crc
from .protocol import (
    COUNTER_BYTES,
    DEFAULT_BAUD,
    ERR_MEANING,
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

__all__ = ["DriverError", "DeviceTimeout", "DeviceError", "ProtocolError", "ModelMismatch",
           "Transport", "GoldenTransport", "SerialTransport", "Device", "Hello"]

log = logging.getLogger("snnfpga.driver")


class DriverError(SnnfpgaError, RuntimeError):
    """Every error of the driver."""


class DeviceTimeout(DriverError):
    """The device did not answer in time."""


class DeviceError(DriverError):
    """The device answered with an error frame; ``err`` is its :class:`Err`."""

    def __init__(self, err: int, message: str):
        super().__init__(message)
        self.err = err


class ProtocolError(DriverError):
    """The device answered something the protocol does not allow here."""


class ModelMismatch(DriverError):
    """The device's gateware or weights are not those of the model the host was given."""


class Transport:
    """Bytes to and from a device."""

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        """Whatever arrived, waiting at most ``timeout`` seconds for the first byte."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class GoldenTransport(Transport):
    """The board's command layer in-process (:class:`BoardModel` on the golden model)."""

    def __init__(self, model: SpikingModel, geom: Geometry | None = None):
        self.board = BoardModel(model, geom)

    def write(self, data: bytes) -> None:
        self.board.write(data)

    def read(self, timeout: float) -> bytes:
        return self.board.read(256)


class SerialTransport(Transport):
    """A serial port or a pyserial URL (``/dev/ttyUSB1``, ``socket://127.0.0.1:PORT``)."""

    def __init__(self, port: str, baudrate: int = DEFAULT_BAUD):
        try:
            import serial
        except ImportError as exc:   # pragma: no cover - pyserial is a dependency
            raise DriverError("the serial transport needs pyserial") from exc
        try:
            self._port = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, ValueError) as exc:
            raise DriverError(f"cannot open {port!r}: {exc}") from None

    def write(self, data: bytes) -> None:
        self._port.write(data)

    def read(self, timeout: float) -> bytes:
        self._port.timeout = timeout
        first = self._port.read(1)
        if not first:
            return b""
        return first + self._port.read(self._port.in_waiting)

    def close(self) -> None:
        self._port.close()


@dataclass(frozen=True)
class Hello:
    """What HELLO reports."""

    protocol: int
    build_id: int
    neurons: int
    fanout: int
    steps: int
    vocab_size: int
    lanes: int
    readout_lanes: int
    synapse_lanes: int
    weights_crc: int


class Device:
    """A board (or its model) behind a transport; one method per command.

    Every method sends one frame with a fresh tag and waits up to ``timeout`` seconds for the
    answer with that tag. An ERROR answer raises :class:`DeviceError` naming the reason.
    Frames for another command still in progress (a GENERATE being iterated) are kept for
    it; frames for no command in progress (one given up on) are logged and dropped.
    """

    def __init__(self, transport: Transport, *, timeout: float = 5.0):
        self.transport = transport
        self.timeout = timeout
        self._reader = FrameReader()
        self._pending: list[Frame] = []
        self._open: set[int] = set()   # tags whose answers are still expected
        self._tag = 0
        self.hello_info: Hello | None = None

    # -- framing ----------------------------------------------------------------------------
    def _send(self, cmd: Cmd, payload: bytes = b"") -> int:
        self._tag = (self._tag + 1) & 0xFF
        self._open.add(self._tag)
        log.debug("-> %s tag %d, %d payload bytes", cmd.name, self._tag, len(payload))
        self.transport.write(encode_frame(cmd, self._tag, payload))
        return self._tag

    def _next(self, tag: int, what: str, *, last: bool = True) -> Frame:
        """The next frame for ``tag``; ``last``: its command is then finished (unless the
        frame is CHARS, which a GENERATE's final OK follows)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, f in enumerate(self._pending):
                if f.tag == tag:
                    del self._pending[i]
                    break
            else:
                f = None
            if f is not None:
                log.debug("<- kind %#04x tag %d, %d payload bytes", f.kind, f.tag,
                          len(f.payload))
                if f.kind != Rsp.CHARS and last:
                    self._open.discard(tag)
                if f.kind == Rsp.ERROR:
                    err = f.payload[0] if f.payload else 0
                    name = Err(err).name if err in set(Err) else f"code {err}"
                    raise DeviceError(err, f"{what}: the device refused it: {name} "
                                           f"({ERR_MEANING.get(err, 'unknown reason')})")
                return f
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeviceTimeout(f"{what}: no answer within {self.timeout:g} s")
            for item in self._reader.feed(self.transport.read(min(left, 0.1))):
                if isinstance(item, FrameError):
                    log.warning("dropped a damaged frame from the device: %s", item)
                elif item.tag in self._open:
                    self._pending.append(item)
                else:
                    log.debug("dropped a frame for tag %d, which nothing waits for", item.tag)

    def _request(self, cmd: Cmd, payload: bytes = b"", *, reply: int | None = None) -> bytes:
        tag = self._send(cmd, payload)
        f = self._next(tag, cmd.name)
        if f.kind != Rsp.OK:
            raise ProtocolError(f"{cmd.name}: expected an OK frame, got kind {f.kind:#04x}")
        if reply is not None and len(f.payload) != reply:
            raise ProtocolError(f"{cmd.name}: expected {reply} payload bytes, got "
                                f"{len(f.payload)}")
        return f.payload

    # -- commands ---------------------------------------------------------------------------
    def hello(self) -> Hello:
        info = Hello(*HELLO_REPLY.unpack(self._request(Cmd.HELLO, reply=HELLO_REPLY.size)))
        if info.protocol != PROTOCOL_VERSION:
            raise ModelMismatch(f"the device speaks protocol {info.protocol}, this driver "
                                f"{PROTOCOL_VERSION}")
        self.hello_info = info
        return info

    def geometry(self, model: SpikingModel) -> Geometry:
        info = self.hello_info or self.hello()
        return Geometry(model.config, len(model.vocab), info.lanes, info.readout_lanes,
                        synapse_lanes=info.synapse_lanes)

    def check(self, model: SpikingModel, *, load: bool = False) -> None:
        """Raise :class:`ModelMismatch` unless the device runs ``model``; with ``load``,
        upload the weights first when the gateware fits but the weights differ."""
        info = self.hello()
        c = model.config
        built_for = (f"the gateware was built for {info.neurons} neurons, fan-out {info.fanout}, "
                     f"{info.steps} steps, {info.vocab_size} characters (build "
                     f"{info.build_id:#010x})")
        try:
            geom = self.geometry(model)
        except ValueError as exc:   # the device's lanes cannot hold this model at all
            raise ModelMismatch(f"{built_for}; the model has {c.neurons}, {c.fanout}, "
                                f"{c.steps}, {len(model.vocab)} ({exc})") from None
        if info.build_id != build_id(geom):
            raise ModelMismatch(
                f"{built_for}; the model has {c.neurons}, {c.fanout}, {c.steps}, "
                f"{len(model.vocab)} (build {build_id(geom):#010x})")
        want = weights_crc(geom, pack_memories(geom, model.weights))
        if info.weights_crc != want:
            if not load:
                raise ModelMismatch(f"the device holds other weights (CRC {info.weights_crc:#010x}"
                                    f", the model's {want:#010x}); load them first")
            self.load_model(model)

    def load_model(self, model: SpikingModel) -> None:
        """Write every weight memory, then check the device's CRC of them."""
        geom = self.geometry(model)
        words = pack_memories(geom, model.weights)
        for mem in WEIGHT_MEMORIES:
            nb = word_bytes(geom.width(mem))
            per = (MAX_PAYLOAD - MEM_REQUEST.size) // nb
            ws = words[mem]
            for a in range(0, len(ws), per):
                chunk = ws[a:a + per]
                self._request(Cmd.LOAD, MEM_REQUEST.pack(mem, a, len(chunk)) + b"".join(
                    w.to_bytes(nb, "little") for w in chunk), reply=0)
        got = self.hello().weights_crc
        want = weights_crc(geom, words)
        if got != want:
            raise ModelMismatch(f"after loading, the device's weight CRC is {got:#010x}, "
                                f"expected {want:#010x}")

    def read_words(self, mem: MemId, addr: int, count: int, width: int) -> list[int]:
        nb = word_bytes(width)
        data = self._request(Cmd.READ, MEM_REQUEST.pack(mem, addr, count), reply=count * nb)
        return [int.from_bytes(data[i * nb:(i + 1) * nb], "little") for i in range(count)]

    def reset(self, seed: int) -> None:
        self._request(Cmd.RESET, RESET_REQUEST.pack(seed_to_state(seed)), reply=0)

    def step(self, cid: int, *, sample: bool = True, logits: bool = False,
             tq: int = 0) -> tuple[int | None, list[int] | None]:
        flags = (STEP_SAMPLE if sample else 0) | (STEP_LOGITS if logits else 0)
        data = self._request(Cmd.STEP, STEP_REQUEST.pack(cid, flags, tq))
        sampled = data[-1] if sample else None
        rest = data[:-1] if sample else data
        out = list(struct.unpack(f"<{len(rest) // 4}i", rest)) if logits else None
        return sampled, out

    def generate(self, prompt_ids: list[int], count: int, tq: int) -> Iterator[int]:
        """Feed the prompt and yield each sampled id as it arrives (``count`` of them)."""
        tag = self._send(Cmd.GENERATE, GENERATE_HEAD.pack(count, tq) + bytes(prompt_ids))
        got = 0
        while True:
            f = self._next(tag, "GENERATE")
            if f.kind == Rsp.CHARS:
                for cid in f.payload:
                    got += 1
                    yield cid
            elif f.kind == Rsp.OK:
                (n,) = struct.unpack("<H", f.payload)
                if n != got:
                    raise ProtocolError(f"GENERATE: the device counted {n} characters, "
                                        f"{got} arrived")
                return
            else:
                raise ProtocolError(f"GENERATE: unexpected frame kind {f.kind:#04x}")

    def stop(self) -> None:
        self._request(Cmd.STOP, reply=0)

    def counters(self) -> dict[str, int]:
        """Read and clear the performance counters."""
        data = self._request(Cmd.COUNTERS, reply=COUNTER_BYTES * len(COUNTERS))
        return {k: int.from_bytes(data[i * COUNTER_BYTES:(i + 1) * COUNTER_BYTES], "little")
                for i, k in enumerate(COUNTERS)}

    def close(self) -> None:
        self.transport.close()
