"""The INA226 path against its behavioural model: registers, I2C bits, timing, integration."""

import pytest
from snnfpga.energy.ina226 import (
    AVERAGES,
    BUS_LSB_V,
    CONVERSION_US,
    DIE_ID,
    MANUFACTURER_ID,
    SHUNT_LSB_V,
    BitBangI2CBus,
    I2CError,
    I2CSlaveBits,
    Ina226,
    Ina226Model,
    Reg,
    config_word,
    conversion_period_s,
)
from snnfpga.energy.measure import PowerIntegrator, SimClock, measure_run


def rig(profile, *, shunt=0.1, max_current=0.05, address=0x40):
    dev = Ina226Model(profile, shunt_ohm=shunt)
    bus = BitBangI2CBus(I2CSlaveBits(dev, address=0x40))
    ina = Ina226(bus, address=address, shunt_ohm=shunt, max_current_a=max_current)
    return dev, bus, ina


def test_identity_and_power_on_values():
    dev, _, ina = rig(lambda t: (1.2, 0.0))
    assert ina.read(Reg.MANUFACTURER) == MANUFACTURER_ID == 0x5449
    assert ina.read(Reg.DIE) == DIE_ID == 0x2260
    assert ina.read(Reg.CONFIG) == 0x4127
    ina.check()


def test_wrong_address_is_a_nack():
    _, _, ina = rig(lambda t: (1.2, 0.0), address=0x41)
    with pytest.raises(I2CError, match="no ACK from 0x41"):
        ina.read(Reg.DIE)


def test_register_writes_read_back():
    dev, _, ina = rig(lambda t: (1.2, 0.0))
    ina.write(Reg.ALERT_LIMIT, 0xBEEF)
    assert ina.read(Reg.ALERT_LIMIT) == 0xBEEF
    ina.write(Reg.CALIBRATION, 0x8123)          # bit 15 is not implemented
    assert ina.read(Reg.CALIBRATION) == 0x0123
    ina.write(Reg.DIE, 0x1234)                  # read-only
    assert ina.read(Reg.DIE) == DIE_ID
    cfg = config_word(3, 2, 5)
    ina.write(Reg.CONFIG, cfg)
    assert ina.read(Reg.CONFIG) == cfg
    assert dev.regs[Reg.CONFIG] == cfg


def test_conversion_timing_and_cvrf():
    dev, _, ina = rig(lambda t: (1.2, 0.01))
    period = ina.configure(avg=1, vbusct=3, vshct=2)
    assert period == pytest.approx(AVERAGES[1] * (CONVERSION_US[3] + CONVERSION_US[2]) * 1e-6)
    assert conversion_period_s(ina.config) == period
    t0 = dev.now
    while not ina.ready():
        pass
    # the first result appears one period after the configuration write, within one poll
    assert period <= dev.now - t0 < period + 200e-6
    assert not ina.ready()                     # reading MASK/ENABLE cleared CVRF


def test_registers_follow_the_datasheet_equations():
    shunt, i, v = 0.1, 0.0123, 1.21
    dev, _, ina = rig(lambda t: (v, i), shunt=shunt)
    ina.configure(avg=0, vbusct=0, vshct=0)
    while not ina.ready():
        pass
    sh = round(i * shunt / SHUNT_LSB_V)
    bus = round(v / BUS_LSB_V)
    assert ina.read(Reg.SHUNT) == sh
    assert ina.read(Reg.BUS) == bus
    cur = sh * ina.cal // 2048
    assert ina.read(Reg.CURRENT) == cur
    assert ina.read(Reg.POWER) == cur * bus // 20000
    assert ina.power_w() == pytest.approx(i * v, abs=ina.quantisation_w(v, i))


def _profile(edges, v=1.2, idle=0.002):
    """Piecewise-constant current: idle, plus ``di`` from t0 to t1 for each (t0, t1, di)."""
    def f(t):
        return v, idle + sum(di for t0, t1, di in edges if t0 <= t < t1)
    return f


def test_integrated_energy_within_the_quantisation_bound():
    """Edges on conversion-period boundaries: only the registers' resolution is left."""
    v = 1.2
    dev, _, ina = rig(lambda t: (v, 0.0))
    period = ina.configure(avg=2, vbusct=4, vshct=4)          # 16 x (1.1 + 1.1) ms = 35.2 ms
    steps = [(3, 9, 0.004), (9, 14, 0.011), (20, 22, 0.0007)]  # in periods
    base = dev.periods[-1][1] if dev.periods else dev._start    # conversions start here
    dev.profile = _profile([(base + a * period, base + b * period, di) for a, b, di in steps], v)
    integ = PowerIntegrator(ina, SimClock(dev), poll_s=2e-3)
    integ.sync()
    first = len(dev.periods)          # results integrated from here on
    integ.run_for(25 * period)
    assert integ.missed == 0 and len(dev.periods) - first == integ.periods
    true = 0.0
    for s0, s1 in dev.periods[first:]:
        k = round((s0 - base) / period)
        true += v * (0.002 + sum(di for a, b, di in steps if a <= k < b)) * (s1 - s0)
    assert abs(integ.energy_j - true) <= integ.bound_j
    assert integ.bound_j < 0.02 * true


def test_measured_run_energy_matches_the_profile():
    """A run that starts and ends mid-period; idle power measured first and subtracted.

    Beyond the quantisation, an edge inside a period is seen only by the averaging steps'
    shunt windows: at most one step (VSHCT + VBUSCT) of the step's power per edge."""
    v, di = 1.2, 0.005
    dev, _, ina = rig(lambda t: (v, 0.002))
    ina.configure(avg=2, vbusct=4, vshct=4)
    span = {}

    def start():
        span["t"] = (dev.now + 0.0123, dev.now + 0.0123 + 0.3217)
        dev.profile = _profile([(*span["t"], di)], v)

    m = measure_run(ina, start, lambda: dev.now >= span["t"][1], clock=SimClock(dev),
                    idle_s=0.5, poll_s=2e-3)
    true = v * di * (span["t"][1] - span["t"][0])
    step = (CONVERSION_US[4] + CONVERSION_US[4]) * 1e-6
    assert m.missed == 0
    assert abs(m.dynamic_j - true) <= m.bound_j + 2 * v * di * step
    assert m.idle_w == pytest.approx(v * 0.002, abs=ina.quantisation_w(v, 0.002))


def test_measured_report_per_event_and_label():
    from snnfpga.energy.counters import RunCounts
    from snnfpga.energy.measure import Measurement, measured_report, run_in_thread

    start, done, result = run_in_thread(lambda: 42)
    start()
    assert result() == 42 and done()
    m = Measurement(energy_j=3e-3, window_s=0.5, idle_w=2e-3, dynamic_j=2e-3, bound_j=1e-5,
                    missed=0, samples=[])
    run = RunCounts({"tokens": 100, "spikes": 4000, "syn_events": 200000}, True, "hardware")
    rep = measured_report("icebreaker", m, run)
    assert rep.per("char") == pytest.approx(20e-6)
    assert rep.per("syn_event") == pytest.approx(1e-8)
    lines = rep.lines()
    assert lines[0].startswith("energy (measured)")
    assert all("(measured" in line for line in lines[2:])


def test_no_adapter_and_unfitted_monitor_are_plain_errors(tmp_path):
    import yaml
    from snnfpga.boards.description import load_board
    from snnfpga.energy import EnergyError
    from snnfpga.energy.ina226 import LinuxI2CBus
    from snnfpga.energy.measure import open_monitor

    with pytest.raises(I2CError, match="cannot open I2C adapter"):
        LinuxI2CBus(str(tmp_path / "i2c-9"))
    with pytest.raises(EnergyError, match="not fitted"):
        open_monitor("icebreaker", "/dev/i2c-1")
    data = yaml.safe_load(load_board("icebreaker").path.read_text())
    data["current_monitor"]["fitted"] = True
    p = tmp_path / "fitted.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(EnergyError, match="pass --i2c"):
        open_monitor(p, None)
    with pytest.raises(I2CError, match="cannot open"):
        open_monitor(p, str(tmp_path / "i2c-9"))
