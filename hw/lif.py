"""The leaky integrate-and-fire update of one neuron: SPEC.md section 3.2, as a datapath."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..model.config import ModelConfig

__all__ = ["LIFUnit", "accumulator_shape"]


def accumulator_shape(config: ModelConfig) -> Shape:
    """Exact range of a step's synaptic sum before its shift: ``N`` spikes of extreme weight."""
    return Shape.cast(range(config.neurons * config.w_min, config.neurons * config.w_max + 1))


class LIFUnit(wiring.Component):
    """One neuron update per cycle: leak, add drive and synaptic input, saturate, fire, reset.

    With ``M = membrane_bits``, ``W = weight_bits`` and ``N = neurons`` of ``config``, the unit
    computes, bit-exactly as ``snnfpga.model.golden.GoldenModel`` does (SPEC.md section 3.2)::

        u      = v - (v >> leak) + (drive_en ? w_in << input_shift : 0)
                   + (acc << recurrent_shift)          # exact, never wraps
        u      = min(max(u, V_MIN), V_MAX)             # saturate to M bits
        spike  = u >= threshold
        v_next = spike ? (u - threshold | 0) : u       # reset: subtract | zero

    The shifts ``input_shift`` and ``recurrent_shift`` are constants of the configuration, so
    they cost wiring only; the leak shift is per neuron and therefore a barrel shifter.

    Parameters
    ----------
    config : ModelConfig
        The model configuration; the unit reads ``membrane_bits``, ``leak_shift_max``,
        ``weight_bits``, ``neurons``, ``input_shift``, ``recurrent_shift``, ``threshold`` and
        ``reset``.
    latency : int
        0: the outputs are a combinational function of the inputs. 1: the saturated sum is
        registered, so ``v_next`` and ``spike`` belong to the inputs of the previous cycle
        (the register cuts the path after the adder tree; threshold and reset follow it).
        The pipeline never stalls: every cycle's inputs produce an output one cycle later.

    Attributes
    ----------
    v : In(signed(M))
        Membrane potential before the step, ``V_MIN .. V_MAX``.
    leak : In(unsigned(bits_for(leak_shift_max)))
        Leak shift ``k`` of the neuron. Any value is computed exactly (``k = 0`` leaks the
        whole potential); model files hold ``leak_shift_min .. leak_shift_max``.
    w_in : In(signed(W))
        Input weight ``W_in[x][n]`` of the current character, ``-2**(W-1) .. 2**(W-1)-1``.
    drive_en : In(1)
        Whether the input drive applies at this step (``t == 0`` or ``input_every_step``).
    acc : In(signed(...))
        Synaptic sum of the step before its shift, ``sum w[s][j]`` over the spikes delivered
        to this neuron. A target appears at most once in each source's fan-out list and each
        of the ``N`` neurons spikes at most once per step, so ``acc`` lies in
        ``N * -2**(W-1) .. N * (2**(W-1)-1)``; the port has exactly that range (``acc_shape``).
    v_next : Out(signed(M))
        Membrane potential after saturation and reset.
    spike : Out(1)
        Whether the neuron fired at this step.
    """

    def __init__(self, *, config: ModelConfig, latency: int = 0):
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, not {config!r}")
        if isinstance(latency, bool) or latency not in (0, 1):
            raise ValueError(f"latency must be 0 or 1, not {latency!r}")
        self._config = config
        self._latency = latency
        c = config
        self._acc_shape = accumulator_shape(c)
        super().__init__({
            "v":        In(signed(c.membrane_bits)),
            "leak":     In(range(c.leak_shift_max + 1)),
            "w_in":     In(signed(c.weight_bits)),
            "drive_en": In(1),
            "acc":      In(self._acc_shape),
            "v_next":   Out(signed(c.membrane_bits)),
            "spike":    Out(1),
        })

    @property
    def config(self) -> ModelConfig:
        """The model configuration the unit was built for."""
        return self._config

    @property
    def latency(self) -> int:
        """Cycles from the inputs to ``v_next`` / ``spike`` (0 or 1)."""
        return self._latency

    @property
    def acc_shape(self) -> Shape:
        """Shape of the ``acc`` port: the full range of one step's synaptic sum."""
        return self._acc_shape

    def elaborate(self, platform):
        m = Module()
        c = self._config

        # Every operand is widened by Amaranth's arithmetic (+/- add a bit, << by a constant
        # adds its bits), so `total` is the exact sum of SPEC.md 3.2.2 whatever the widths.
        # The barrel shift runs beside the first additions, not before them.
        drive = Mux(self.drive_en, self.w_in << c.input_shift, 0)
        total = (self.v + drive + (self.acc << c.recurrent_shift)) - (self.v >> self.leak)

        if self._latency:
            saturated = Mux(total > c.v_max, c.v_max, Mux(total < c.v_min, c.v_min, total))
            u = Signal(signed(c.membrane_bits))
            m.d.sync += u.eq(saturated)
            # The reset follows the saturation, so a saturated neuron leaves at
            # V_MAX - threshold at most; both results fit the membrane width since
            # 1 <= threshold <= V_MAX.
            fire = u >= c.threshold
            after_reset = u - c.threshold if c.reset == "subtract" else 0
            m.d.comb += [self.spike.eq(fire), self.v_next.eq(Mux(fire, after_reset, u))]
            return m

        # Without the register the same function is computed with the comparisons side by
        # side instead of one after another: saturating to V_MAX >= threshold keeps a spike,
        # saturating to V_MIN < threshold keeps its absence, so ``fire`` is read off the
        # unsaturated sum, and only the side the spike selects can saturate (high when it
        # fires, low when it does not).
        fire = total >= c.threshold
        if c.reset == "subtract":
            after_reset = Mux(total > c.v_max, c.v_max - c.threshold, total - c.threshold)
        else:
            after_reset = 0
        quiet = Mux(total < c.v_min, c.v_min, total)
        m.d.comb += [self.spike.eq(fire), self.v_next.eq(Mux(fire, after_reset, quiet))]
        return m
