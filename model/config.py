"""Model configuration: every parameter that fixes the integer arithmetic.

A configuration is read from YAML (``model/configs/*.yaml``) for training and is stored,
as the same mapping, inside every model file. :class:`ModelConfig` checks each value when it
is built, so a model whose configuration was accepted can be elaborated and simulated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ModelError

__all__ = ["MAX_LOGIT_FRAC_BITS", "ModelConfig", "TrainConfig", "load_config", "with_overrides"]

MAX_LOGIT_FRAC_BITS = 16   # fraction bits of a logit (model files hold at most this)


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelError(f"{name} must be an integer in [{lo}, {hi}], not {value!r}")
    if not lo <= value <= hi:
        raise ModelError(f"{name} must be in [{lo}, {hi}], not {value}")


@dataclass(frozen=True)
class ModelConfig:
    """Parameters of the integer network (see ``model/SPEC.md`` for their meaning).

    Attributes
    ----------
    neurons : int
        Number of LIF neurons ``N``.
    fanout : int
        Recurrent targets per source neuron ``F`` (distinct targets, ``F <= N``).
    steps : int
        Time steps ``T`` per character.
    membrane_bits : int
        Signed width of the membrane potential; values saturate to its range.
    leak_shift_min, leak_shift_max : int
        Range of the per-neuron leak shifts ``k[n]`` stored in the model: each step
        ``v - (v >> k[n])`` (arithmetic shift, rounds toward -inf). Training spreads them
        evenly over the range so that the network has time constants from short to long.
    threshold : int
        A neuron spikes when ``v >= threshold`` (after leak and input).
    reset : str
        ``"subtract"`` (``v - threshold``) or ``"zero"`` on a spike.
    weight_bits : int
        Signed width of the input and recurrent weights (4: values -8 .. +7).
    input_shift, recurrent_shift : int
        Left shifts applied to the input drive and to the accumulated recurrent input.
    input_every_step : bool
        Whether the input row drives every step of a character (else only step 0).
    readout_bits : int
        Signed width of the readout weights.
    bias_bits : int
        Signed width of the readout bias.
    count_shift : int
        Spike-count feature = ``count << count_shift``.
    feature_shift, feature_bits : int
        Membrane feature = ``v >> feature_shift`` saturated to ``feature_bits`` signed bits.
    membrane_feature : str
        ``"signed"`` (the saturated value as it is) or ``"rectified"`` (negative values read
        as 0: the readout sees ``max(fm, 0)``, a nonlinearity that costs no cycles).
    logit_frac_bits : int
        The real-valued logit is ``logit * 2**-logit_frac_bits``.
    gumbel_frac_bits : int
        Fraction bits of the Gumbel table entries.
    temperature_frac_bits : int
        Fraction bits of the fixed-point sampling temperature.
    """

    neurons: int = 512
    fanout: int = 64
    steps: int = 4
    membrane_bits: int = 16
    leak_shift_min: int = 1
    leak_shift_max: int = 6
    threshold: int = 256
    reset: str = "subtract"
    weight_bits: int = 4
    input_shift: int = 5
    recurrent_shift: int = 5
    input_every_step: bool = True
    readout_bits: int = 4
    bias_bits: int = 20
    count_shift: int = 4
    feature_shift: int = 3
    feature_bits: int = 8
    membrane_feature: str = "signed"
    logit_frac_bits: int = 4
    gumbel_frac_bits: int = 8
    temperature_frac_bits: int = 8

    def __post_init__(self) -> None:
        _check_int("neurons", self.neurons, 1, 1 << 16)
        _check_int("fanout", self.fanout, 0, self.neurons)
        _check_int("steps", self.steps, 1, 64)
        _check_int("membrane_bits", self.membrane_bits, 4, 24)
        _check_int("leak_shift_min", self.leak_shift_min, 1, self.membrane_bits - 1)
        _check_int("leak_shift_max", self.leak_shift_max, self.leak_shift_min,
                   self.membrane_bits - 1)
        _check_int("threshold", self.threshold, 1, self.v_max)
        if self.reset not in ("subtract", "zero"):
            raise ModelError(f"reset must be 'subtract' or 'zero', not {self.reset!r}")
        _check_int("weight_bits", self.weight_bits, 2, 8)
        _check_int("input_shift", self.input_shift, 0, self.membrane_bits - 1)
        _check_int("recurrent_shift", self.recurrent_shift, 0, self.membrane_bits - 1)
        if not isinstance(self.input_every_step, bool):
            raise ModelError(
                f"input_every_step must be true or false, not {self.input_every_step!r}")
        _check_int("readout_bits", self.readout_bits, 2, 16)
        _check_int("bias_bits", self.bias_bits, 2, 24)
        _check_int("count_shift", self.count_shift, 0, 16)
        _check_int("feature_shift", self.feature_shift, 0, self.membrane_bits - 1)
        _check_int("feature_bits", self.feature_bits, 2, self.membrane_bits)
        if self.membrane_feature not in ("signed", "rectified"):
            raise ModelError("membrane_feature must be 'signed' or 'rectified', not "
                             f"{self.membrane_feature!r}")
        _check_int("logit_frac_bits", self.logit_frac_bits, 0, MAX_LOGIT_FRAC_BITS)
        _check_int("gumbel_frac_bits", self.gumbel_frac_bits, 0, 12)
        _check_int("temperature_frac_bits", self.temperature_frac_bits, 0, 16)

    # -- derived ranges ----------------------------------------------------------------------
    @property
    def v_min(self) -> int:
        """Lowest membrane potential, ``-2**(membrane_bits-1)``."""
        return -(1 << (self.membrane_bits - 1))

    @property
    def v_max(self) -> int:
        """Highest membrane potential, ``2**(membrane_bits-1) - 1``."""
        return (1 << (self.membrane_bits - 1)) - 1

    @property
    def w_min(self) -> int:
        return -(1 << (self.weight_bits - 1))

    @property
    def w_max(self) -> int:
        return (1 << (self.weight_bits - 1)) - 1

    @property
    def r_min(self) -> int:
        return -(1 << (self.readout_bits - 1))

    @property
    def r_max(self) -> int:
        return (1 << (self.readout_bits - 1)) - 1

    @property
    def b_min(self) -> int:
        return -(1 << (self.bias_bits - 1))

    @property
    def b_max(self) -> int:
        return (1 << (self.bias_bits - 1)) - 1

    @property
    def f_min(self) -> int:
        """Lowest membrane feature: ``-2**(feature_bits-1)``, or 0 when rectified."""
        return 0 if self.membrane_feature == "rectified" else -(1 << (self.feature_bits - 1))

    @property
    def f_max(self) -> int:
        return (1 << (self.feature_bits - 1)) - 1

    @property
    def features(self) -> int:
        """Readout features per neuron class: ``2 * neurons`` (counts, then membranes)."""
        return 2 * self.neurons

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        if not isinstance(d, dict):
            raise ModelError(f"model configuration must be a mapping, not {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ModelError(
                f"unknown model configuration keys {unknown}; expected some of {sorted(names)}"
            )
        return cls(**d)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of training (they do not change the integer arithmetic)."""

    recipe: str = "trained"  # "trained" (BPTT) or "reservoir" (the original recipe)
    seed: int = 0
    batch: int = 64
    seq_len: int = 64
    float_minutes: float = 30.0
    qat_minutes: float = 10.0
    lr: float = 3e-3
    lr_qat: float = 5e-4
    readout_lr_scale: float = 1.0
    rate_target: float = 0.06
    rate_penalty: float = 1.0
    surrogate_slope: float = 4.0
    surrogate_damping: float = 1.0  # factor on the surrogate derivative
    clip: str = "global"  # gradient-norm clipping at 1: "global" or "per_group" (readout apart)
    init_scale: float = 1.0
    eval_every: int = 200
    rollback_bpc: float = 0.3   # dev BPC this far above the best: roll back, halve the lr
    max_steps: int = 0  # 0: limited by the time budget only
    epoch_offset: bool = False  # each epoch starts its streams at a random place in the text
    feature_dropout: float = 0.0  # fraction of readout features zeroed at each float step
    compile: bool = False  # train through torch.compile (compiles first, then faster steps)
    readout_epochs: int = 0     # passes of the readout pass (model/readout_pass.py); 0: none
    readout_lr: float = 0.05    # its learning rate, in units of one integer weight

    def __post_init__(self) -> None:
        if self.recipe not in ("trained", "reservoir"):
            raise ModelError(f"recipe must be 'trained' or 'reservoir', not {self.recipe!r}")
        if self.clip not in ("global", "per_group"):
            raise ModelError(f"clip must be 'global' or 'per_group', not {self.clip!r}")
        for name in ("batch", "seq_len"):
            _check_int(name, getattr(self, name), 1, 1 << 20)
        for name, lo in (("seed", 0), ("eval_every", 1), ("max_steps", 0), ("readout_epochs", 0)):
            _check_int(name, getattr(self, name), lo, 1 << 62)
        for name in ("epoch_offset", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ModelError(f"{name} must be true or false, not {getattr(self, name)!r}")
        for f in dataclasses.fields(self):   # annotations are strings (postponed evaluation)
            value = getattr(self, f.name)
            if f.type == "float" and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not value >= 0):
                raise ModelError(f"training key {f.name} must be a number >= 0, not {value!r}")
        if self.feature_dropout >= 1:
            raise ModelError(f"feature_dropout must be below 1, not {self.feature_dropout!r}")
        if self.readout_epochs and not self.readout_lr > 0:
            raise ModelError(f"readout_lr must be above 0 when readout_epochs is "
                             f"{self.readout_epochs}, not {self.readout_lr!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ModelError(f"unknown training keys {unknown}; expected some of {sorted(names)}")
        return cls(**d)


@dataclass(frozen=True)
class ExperimentConfig:
    """A YAML file's three sections: ``vocabulary`` (optional), ``model``, ``train``.

    Without a vocabulary, training takes the distinct characters of the text, sorted.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    vocabulary: str | None = None


def load_config(path: str | Path) -> ExperimentConfig:
    """Read a YAML file with ``model:`` and ``train:`` sections."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ModelError(f"cannot read configuration {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ModelError(f"configuration {path} is not valid YAML: {e}") from None
    if raw is None:
        raw = {}
    keys = {"vocabulary", "model", "train"}
    if not isinstance(raw, dict) or set(raw) - keys:
        raise ModelError(f"configuration {path} must be a mapping with keys among "
                         f"{sorted(keys)}, found {sorted(raw) if isinstance(raw, dict) else raw!r}")
    vocab = raw.get("vocabulary")
    if vocab is not None and (not isinstance(vocab, str) or not vocab):
        raise ModelError(f"vocabulary must be a non-empty string of characters, not {vocab!r}")
    return ExperimentConfig(
        model=ModelConfig.from_dict(raw.get("model") or {}),
        train=TrainConfig.from_dict(raw.get("train") or {}),
        vocabulary=vocab,
    )


def _override_value(text: str) -> Any:
    """A value as YAML reads it, with exponent floats (``5e-4``) read as floats."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def with_overrides(exp: ExperimentConfig, items: list[str]) -> ExperimentConfig:
    """``exp`` with ``section.key=value`` items applied (sections ``model`` and ``train``).

    Each value is read as YAML (``4``, ``false``, ``5e-4``, ``zero``); the changed section is
    rebuilt, so its checks run on the new value.
    """
    sections = {"model": exp.model.to_dict(), "train": dataclasses.asdict(exp.train)}
    for item in items:
        key, eq, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not eq or not dot or section not in sections or not name:
            raise ModelError(f"an override is SECTION.KEY=VALUE with SECTION 'model' or 'train' "
                             f"(for example model.steps=4), not {item!r}")
        if name not in sections[section]:
            raise ModelError(f"unknown {section} key {name!r} in {item!r}; expected one of "
                             f"{sorted(sections[section])}")
        sections[section][name] = _override_value(text.strip())
    return ExperimentConfig(model=ModelConfig.from_dict(sections["model"]),
                            train=TrainConfig.from_dict(sections["train"]),
                            vocabulary=exp.vocabulary)
