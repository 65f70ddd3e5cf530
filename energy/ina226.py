"""The INA226 current and power monitor: host-side driver, I2C buses, behavioural model.

Register map (TI SBOS547, section 7.1), 16-bit registers, big-endian on the wire:

=====  ==================  ====================================================
addr   register            contents
=====  ==================  ====================================================
0x00   configuration       RST, AVG[11:9], VBUSCT[8:6], VSHCT[5:3], MODE[2:0]
0x01   shunt voltage       signed, LSB 2.5 µV
0x02   bus voltage         unsigned, LSB 1.25 mV
0x03   power               unsigned, LSB 25 x current_LSB (W)
0x04   current             signed, LSB current_LSB (A)
0x05   calibration         CAL = 0.00512 / (current_LSB * R_shunt)
0x06   mask/enable         bit 3 CVRF: a conversion finished (cleared on read)
0x07   alert limit
0xFE   manufacturer id     0x5449 ("TI")
0xFF   die id              0x2260
=====  ==================  ====================================================

One I2C transaction writes the register pointer (and, for a write, two data bytes); a read
is a pointer write, a repeated start and two bytes read, the master ACKing the first and
NACKing the last.

**Where it is read: the host.** The UP5K gateware uses 5,240 of 5,280 logic cells, too few
for an I2C master and a sampling path beside the core. The host reads the monitor through a
USB-I2C adapter (Linux ``i2c-dev``: :class:`LinuxI2CBus`) and pairs each sample with the run
in progress; the counters come from the chip after the run, so the energy of a run is the
integral of power over the run's wall-clock window, divided by the run's counts. Samples are
the INA226's own averages over back-to-back conversion windows (one read per conversion,
paced by CVRF), so the integral has no gaps; its resolution is the conversion period.
"""

from __future__ import annotations

import abc
import math
import os

from .counters import EnergyError

__all__ = [
    "Reg", "CONVERSION_US", "AVERAGES", "MANUFACTURER_ID", "DIE_ID", "SHUNT_LSB_V",
    "BUS_LSB_V", "I2CBus", "I2CError", "LinuxI2CBus", "Ina226", "Ina226Model",
    "BitBangI2CBus", "I2CSlaveBits", "config_word", "conversion_period_s",
]


class Reg:
    """Register addresses."""

    CONFIG = 0x00
    SHUNT = 0x01
    BUS = 0x02
    POWER = 0x03
    CURRENT = 0x04
    CALIBRATION = 0x05
    MASK_ENABLE = 0x06
    ALERT_LIMIT = 0x07
    MANUFACTURER = 0xFE
    DIE = 0xFF


#: Conversion times of the VBUSCT and VSHCT codes 0..7, in µs (SBOS547 table 7-3).
CONVERSION_US = (140, 204, 332, 588, 1100, 2116, 4156, 8244)
#: Samples averaged for the AVG codes 0..7.
AVERAGES = (1, 4, 16, 64, 128, 256, 512, 1024)
MANUFACTURER_ID = 0x5449
DIE_ID = 0x2260
SHUNT_LSB_V = 2.5e-6
BUS_LSB_V = 1.25e-3
POR_CONFIG = 0x4127
CVRF = 1 << 3
MODE_CONTINUOUS = 0b111


def config_word(avg: int, vbusct: int, vshct: int, mode: int = MODE_CONTINUOUS) -> int:
    """Configuration register for averaging code ``avg``, conversion-time codes and mode."""
    for name, v, hi in (("avg", avg, 7), ("vbusct", vbusct, 7), ("vshct", vshct, 7),
                        ("mode", mode, 7)):
        if not 0 <= v <= hi:
            raise ValueError(f"{name} code must be in 0..{hi}, not {v!r}")
    return 0x4000 | avg << 9 | vbusct << 6 | vshct << 3 | mode


def conversion_period_s(config: int) -> float:
    """Seconds between result updates in continuous shunt-and-bus mode."""
    avg = AVERAGES[(config >> 9) & 7]
    return avg * (CONVERSION_US[(config >> 6) & 7] + CONVERSION_US[(config >> 3) & 7]) * 1e-6


class I2CError(EnergyError):
    """An I2C transfer failed: no device, a NACK, or no adapter."""


class I2CBus(abc.ABC):
    """An I2C master: 7-bit addresses, a write, and a write then repeated-start read."""

    @abc.abstractmethod
    def write(self, addr: int, data: bytes) -> None:
        """Write ``data`` to the device at ``addr``; raise :class:`I2CError` on a NACK."""

    @abc.abstractmethod
    def write_read(self, addr: int, data: bytes, n: int) -> bytes:
        """Write ``data``, then (repeated start) read ``n`` bytes."""

    def close(self) -> None:  # noqa: B027 (nothing to release by default)
        """Release the adapter."""


class LinuxI2CBus(I2CBus):
    """An I2C adapter through Linux ``i2c-dev`` (``/dev/i2c-N``, e.g. a CH341 or FT232H
    adapter), combined transfers by the ``I2C_RDWR`` ioctl. Not exercised by the tests: they
    have no adapter."""

    I2C_RDWR = 0x0707
    I2C_M_RD = 0x0001

    def __init__(self, device: str):
        try:
            self._fd = os.open(device, os.O_RDWR)
        except OSError as e:
            raise I2CError(f"cannot open I2C adapter {device}: {e.strerror}; is a USB-I2C "
                           "adapter connected and the i2c-dev module loaded?") from None

    def _transfer(self, msgs):
        import ctypes
        import fcntl

        class Msg(ctypes.Structure):
            _fields_ = [("addr", ctypes.c_uint16), ("flags", ctypes.c_uint16),
                        ("len", ctypes.c_uint16), ("buf", ctypes.POINTER(ctypes.c_uint8))]

        class RdWr(ctypes.Structure):
            _fields_ = [("msgs", ctypes.POINTER(Msg)), ("nmsgs", ctypes.c_uint32)]

        bufs = [(ctypes.c_uint8 * max(len(d), 1)).from_buffer_copy(bytes(d) or b"\0")
                for _, _, d in msgs]
        arr = (Msg * len(msgs))(*[Msg(a, f, len(d), ctypes.cast(b, ctypes.POINTER(
            ctypes.c_uint8))) for (a, f, d), b in zip(msgs, bufs, strict=True)])
        req = RdWr(arr, len(msgs))
        try:
            fcntl.ioctl(self._fd, self.I2C_RDWR, req)
        except OSError as e:
            raise I2CError(f"I2C transfer to 0x{msgs[0][0]:02x} failed: {e.strerror} "
                           "(no device at that address?)") from None
        return [bytes(b)[:len(d)] for (_, _, d), b in zip(msgs, bufs, strict=True)]

    def write(self, addr, data):
        self._transfer([(addr, 0, bytes(data))])

    def write_read(self, addr, data, n):
        return self._transfer([(addr, 0, bytes(data)), (addr, self.I2C_M_RD, bytes(n))])[1]

    def close(self):
        os.close(self._fd)


class Ina226:
    """Host driver of one INA226.

    Parameters
    ----------
    bus : I2CBus
        The bus it hangs on.
    address : int
        Its 7-bit address (0x40 with A0 = A1 = GND).
    shunt_ohm : float
        The shunt resistor.
    max_current_a : float
        Largest current to measure; sets ``current_LSB = max_current_a / 2**15``.
    """

    def __init__(self, bus: I2CBus, *, address: int = 0x40, shunt_ohm: float = 0.1,
                 max_current_a: float = 0.2):
        if shunt_ohm <= 0 or max_current_a <= 0:
            raise ValueError(f"shunt_ohm and max_current_a must be positive, not "
                             f"{shunt_ohm!r}, {max_current_a!r}")
        self.bus, self.address, self.shunt_ohm = bus, address, shunt_ohm
        self.cal = min(0x7FFF, max(1, round(0.00512 / (max_current_a / 2**15 * shunt_ohm))))
        #: the current LSB the chosen CAL actually gives (CAL is an integer)
        self.current_lsb = 0.00512 / (self.cal * shunt_ohm)
        self.config = POR_CONFIG

    @property
    def power_lsb(self) -> float:
        return 25 * self.current_lsb

    def read(self, reg: int) -> int:
        data = self.bus.write_read(self.address, bytes([reg]), 2)
        return data[0] << 8 | data[1]

    def write(self, reg: int, value: int) -> None:
        self.bus.write(self.address, bytes([reg, value >> 8 & 0xFF, value & 0xFF]))

    def check(self) -> None:
        """Raise :class:`I2CError` unless an INA226 answers at the address."""
        man, die = self.read(Reg.MANUFACTURER), self.read(Reg.DIE)
        if (man, die) != (MANUFACTURER_ID, DIE_ID):
            raise I2CError(f"device at 0x{self.address:02x} is not an INA226: manufacturer "
                           f"id 0x{man:04x}, die id 0x{die:04x} (expected 0x5449, 0x2260)")

    def configure(self, *, avg: int = 2, vbusct: int = 4, vshct: int = 4) -> float:
        """Continuous shunt and bus conversions; write CAL; return the conversion period."""
        self.config = config_word(avg, vbusct, vshct)
        self.write(Reg.CONFIG, self.config)
        self.write(Reg.CALIBRATION, self.cal)
        return conversion_period_s(self.config)

    @property
    def period_s(self) -> float:
        return conversion_period_s(self.config)

    def ready(self) -> bool:
        """A conversion finished since the last call (reads and so clears CVRF)."""
        return bool(self.read(Reg.MASK_ENABLE) & CVRF)

    def power_w(self) -> float:
        return self.read(Reg.POWER) * self.power_lsb

    def current_a(self) -> float:
        v = self.read(Reg.CURRENT)
        return (v - 0x10000 if v & 0x8000 else v) * self.current_lsb

    def bus_v(self) -> float:
        return self.read(Reg.BUS) * BUS_LSB_V

    def quantisation_w(self, bus_v: float, current_a: float) -> float:
        """Bound on one power sample's error from the registers' resolution (SBOS547 eq. 3
        and 4): shunt rounding (half of 2.5 µV), the current's and power's truncation (one
        LSB each) and bus rounding (half of 1.25 mV)."""
        return (bus_v * (SHUNT_LSB_V / 2 / self.shunt_ohm + self.current_lsb)
                + abs(current_a) * BUS_LSB_V / 2 + self.power_lsb)


# -- behavioural model ----------------------------------------------------------------------

class Ina226Model:
    """An INA226 in simulated time, measuring a known profile.

    ``profile(t)`` gives ``(bus voltage in V, current in A)`` at time ``t`` (s). In continuous
    shunt-and-bus mode each averaging step converts the shunt voltage for ``VSHCT`` and then
    the bus voltage for ``VBUSCT``; each conversion is the mean of the profile over its
    window (numerically, ``substeps`` points), rounded to the LSB. After ``AVG`` steps the
    averages update the registers, CURRENT = SHUNT * CAL / 2048 and POWER = CURRENT * BUS /
    20000 are computed (truncated), and CVRF is set. Writing CONFIG restarts the conversion.
    """

    def __init__(self, profile, *, shunt_ohm: float = 0.1, substeps: int = 16):
        self.profile, self.shunt_ohm, self.substeps = profile, shunt_ohm, substeps
        self.now = 0.0
        self.regs = {Reg.CONFIG: POR_CONFIG, Reg.SHUNT: 0, Reg.BUS: 0, Reg.POWER: 0,
                     Reg.CURRENT: 0, Reg.CALIBRATION: 0, Reg.MASK_ENABLE: 0,
                     Reg.ALERT_LIMIT: 0, Reg.MANUFACTURER: MANUFACTURER_ID, Reg.DIE: DIE_ID}
        self.pointer = 0
        self._start = 0.0
        #: (start, end) of every completed conversion period, for the tests
        self.periods: list[tuple[float, float]] = []

    def _mean(self, t0: float, t1: float, which: int) -> float:
        n = self.substeps
        return sum(self.profile(t0 + (k + 0.5) * (t1 - t0) / n)[which] for k in range(n)) / n

    def advance(self, t: float) -> None:
        """Let simulated time run to ``t``, completing every conversion period before it."""
        cfg = self.regs[Reg.CONFIG]
        avg = AVERAGES[cfg >> 9 & 7]
        tsh = CONVERSION_US[cfg >> 3 & 7] * 1e-6
        tbus = CONVERSION_US[cfg >> 6 & 7] * 1e-6
        period = avg * (tsh + tbus)
        while cfg & 7 == MODE_CONTINUOUS and self._start + period <= t:
            sh = bus = 0
            for k in range(avg):
                t0 = self._start + k * (tsh + tbus)
                i = self._mean(t0, t0 + tsh, 1)
                v = self._mean(t0 + tsh, t0 + tsh + tbus, 0)
                sh += round(i * self.shunt_ohm / SHUNT_LSB_V)
                bus += round(v / BUS_LSB_V)
            sh = max(-32768, min(32767, _round_div(sh, avg)))
            bus = max(0, min(0x7FFF, _round_div(bus, avg)))
            cur = int(sh * self.regs[Reg.CALIBRATION] / 2048)       # truncated toward zero
            cur = max(-32768, min(32767, cur))
            pwr = min(0xFFFF, abs(cur) * bus // 20000)
            self.regs[Reg.SHUNT] = sh & 0xFFFF
            self.regs[Reg.BUS] = bus
            self.regs[Reg.CURRENT] = cur & 0xFFFF
            self.regs[Reg.POWER] = pwr
            self.regs[Reg.MASK_ENABLE] |= CVRF
            self.periods.append((self._start, self._start + period))
            self._start += period
        self.now = max(self.now, t)

    # the register-level interface the I2C slave drives
    def set_pointer(self, reg: int) -> None:
        self.pointer = reg

    def read_pointer(self) -> int:
        reg = self.pointer
        value = self.regs.get(reg, 0)
        if reg == Reg.MASK_ENABLE:
            self.regs[reg] &= ~CVRF
        return value

    def write_register(self, reg: int, value: int) -> None:
        if reg in (Reg.SHUNT, Reg.BUS, Reg.POWER, Reg.CURRENT, Reg.MANUFACTURER, Reg.DIE):
            return                                                   # read-only
        if reg == Reg.CONFIG:
            if value & 0x8000:                                       # RST
                self.regs.update({Reg.CONFIG: POR_CONFIG, Reg.CALIBRATION: 0})
            else:
                self.regs[reg] = value
            self._start = self.now
            return
        if reg == Reg.CALIBRATION:
            value &= 0x7FFF                                          # bit 15 reads as zero
        self.regs[reg] = value


def _round_div(a: int, b: int) -> int:
    return int(math.floor(a / b + 0.5))


class I2CSlaveBits:
    """The INA226's I2C slave at the level of SCL and SDA: it watches the lines and drives SDA
    (open drain) for its ACKs and its read data.

    Protocol (SBOS547 section 6.5.5): START (SDA falls, SCL high); address byte, MSB first,
    7-bit address and R/W; ACK by pulling SDA low in the ninth clock. A write's first data
    byte sets the register pointer, two more bytes (MSB first) write the register. A read
    returns the pointed register MSB first; the master ACKs the first byte and NACKs the last.
    A repeated START begins a new address phase; STOP (SDA rises, SCL high) ends it all.
    """

    def __init__(self, device: Ina226Model, address: int = 0x40):
        self.dev, self.address = device, address
        self.sda_out = 1          # released
        self._scl, self._sda = 1, 1
        self._state = "idle"
        self._bits = 0
        self._nbits = 0
        self._bytes: list[int] = []
        self._read = False
        self._tx = 0
        self._tx_bits = 0

    def lines(self, scl: int, sda_master: int) -> None:
        """The master sets SCL and its SDA output; the bus is the wired AND with ours."""
        sda = sda_master & self.sda_out
        if scl and self._scl and sda != self._sda:
            if not sda:                                   # START or repeated START
                self._state, self._nbits, self._bits = "addr", 0, 0
                self._bytes, self.sda_out = [], 1
            else:                                         # STOP
                self._state, self.sda_out = "idle", 1
        elif scl and not self._scl:                       # rising edge: sample
            self._rise(sda)
        elif not scl and self._scl:                       # falling edge: drive
            self._fall()
        self._scl, self._sda = scl, sda_master & self.sda_out

    def _rise(self, sda):
        if self._state in ("addr", "wdata"):
            self._bits = self._bits << 1 | sda
            self._nbits += 1
        elif self._state == "rdata":
            self._tx_bits += 1
        elif self._state == "rack":                       # master's ACK (0) or NACK (1)
            self._state = "rdata_next" if sda == 0 else "rdone"

    def _fall(self):
        st = self._state
        if st in ("addr", "wdata") and self._nbits == 8:
            byte = self._bits
            self._nbits, self._bits = 0, 0
            if st == "addr":
                if byte >> 1 != self.address:
                    self._state = "ignore"
                    return
                self._read = bool(byte & 1)
                self._state = "ack_addr"
            else:
                self._bytes.append(byte)
                if len(self._bytes) == 1:                 # the register pointer
                    self.dev.set_pointer(byte)
                elif len(self._bytes) == 3:               # MSB, LSB: write the register
                    self.dev.write_register(self._bytes[0],
                                            self._bytes[1] << 8 | self._bytes[2])
                self._state = "ack_data"
            self.sda_out = 0                              # ACK during the ninth clock
        elif st in ("ack_addr", "ack_data"):              # ninth clock over
            self.sda_out = 1
            if st == "ack_addr" and self._read:
                self._tx = self.dev.read_pointer()
                self._tx_bits = 0
                self._state = "rdata"
                self._drive_bit()
            else:
                self._state = "wdata"
        elif st == "rdata":
            if self._tx_bits in (8, 16):
                self.sda_out = 1                          # release for the master's (N)ACK
                self._state = "rack"
            else:
                self._drive_bit()
        elif st == "rdata_next":
            self._state = "rdata"
            self._drive_bit()
        elif st == "rdone":
            self.sda_out = 1

    def _drive_bit(self):
        self.sda_out = self._tx >> (15 - self._tx_bits % 16) & 1 if self._tx_bits < 16 else 1


class BitBangI2CBus(I2CBus):
    """An I2C master that toggles SCL and SDA against :class:`I2CSlaveBits` (the simulated
    INA226), one half period at a time, advancing the device's simulated time by the bit
    time (``1 / scl_hz`` per bit)."""

    def __init__(self, slave: I2CSlaveBits, *, scl_hz: float = 400e3):
        self.slave = slave
        self.bit_s = 1 / scl_hz
        self.transactions = 0

    def _set(self, scl, sda):
        self.slave.lines(scl, sda)

    def _sda(self) -> int:
        return self.slave.sda_out

    def _start(self):
        self._set(1, 1)
        self._set(1, 0)
        self._set(0, 0)

    def _stop(self):
        self._set(0, 0)
        self._set(1, 0)
        self._set(1, 1)

    def _byte_out(self, b: int) -> bool:
        for i in range(7, -1, -1):
            bit = b >> i & 1
            self._set(0, bit)
            self._set(1, bit)
            self._set(0, bit)
        self._set(0, 1)            # release SDA for the ACK
        self._set(1, 1)
        ack = self._sda() == 0
        self._set(0, 1)
        return ack

    def _byte_in(self, ack: bool) -> int:
        v = 0
        for _ in range(8):
            self._set(0, 1)
            self._set(1, 1)
            v = v << 1 | self._sda()
            self._set(0, 1)
        bit = 0 if ack else 1
        self._set(0, bit)
        self._set(1, bit)
        self._set(0, bit)
        return v

    def _tick(self, nbits: int):
        dev = self.slave.dev
        dev.advance(dev.now + nbits * self.bit_s)

    def _address_and_write(self, addr, data):
        """START, the address for writing, the data bytes; each must be ACKed."""
        self._start()
        if not self._byte_out(addr << 1):
            self._stop()
            raise I2CError(f"no ACK from 0x{addr:02x} (no device at that address)")
        for b in data:
            if not self._byte_out(b):
                self._stop()
                raise I2CError(f"0x{addr:02x} did not ACK a data byte")

    def write(self, addr, data):
        self._address_and_write(addr, data)
        self._stop()
        self.transactions += 1
        self._tick(9 * (1 + len(data)) + 2)

    def write_read(self, addr, data, n):
        self._address_and_write(addr, data)
        self._set(0, 1)           # repeated START
        self._start()
        if not self._byte_out(addr << 1 | 1):
            self._stop()
            raise I2CError(f"no ACK from 0x{addr:02x} for the read")
        out = bytes(self._byte_in(ack=i < n - 1) for i in range(n))
        self._stop()
        self.transactions += 1
        self._tick(9 * (2 + len(data) + n) + 3)
        return out

