"""Deliberately faulty NumPy Adams: one realistic bug each, to prove the gate catches what it claims to.

Each fault is a small subclass of the faithful ``NumpyAdam`` (adapters/numpy_lowp.py) that bends
one of its overridable methods the way a kernel author or a porter gets it wrong, plus an adapter
that runs it in every dtype. ``FAULTS`` maps every faulty adapter to the clause (SPEC-NOTES
section 2) its bug breaks. The controls that must pass wherever a fault is caught are the faithful
``NumpyLowPrecisionAdapter`` (float32 opmath) and ``StorageArithmeticAdapter`` (every elementwise
result rounded to the storage dtype) in float32, float16 and bfloat16. ``FaithfulAdapter``
is the same unbent code in the faulty adapters' dtypes, float64 included, for side-by-side CLI runs;
in float64 it is not quite faithful: like MindSpore it holds a tensor learning rate in float32,
which a float64 run's error model (float64 hyperparameters) flags on LR-SEQUENCE cases.

Part of the shipped zoo (``conformance.zoo``) that ``adam-conformance selftest`` runs; load one from
the CLI with ``--adapter conformance.zoo.numpy_faults:<AdapterClass>`` (``tests/faulty.py`` re-exports
them under their old path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from adapters import lr_port
from adapters.numpy_lowp import NumpyAdam, NumpyLowPrecisionAdapter, StorageArithmeticAdapter, _must
from conformance.cases import DynamicLRValue, ScheduleValue, SparseGrad

DTYPES = ("float64", "float32", "float16", "bfloat16")
HALF = ("float16", "bfloat16")


# ---- UPD -----------------------------------------------------------------------------------------

class EpsAfterBiasCorrection(NumpyAdam):
    """UPD-EPS: torch's form, eps added after bias correction -- sqrt(v)/sqrt(1-b2^t) + eps, which is
    the epsilon-hat form with eps*sqrt(1-b2^t) in the denominator."""

    def denominator(self, v: np.ndarray) -> np.ndarray:
        return np.sqrt(self.up(v)) + self.eps * np.sqrt(self.ct(1.0) - self.b2p)


class BiasStepOffByOne(NumpyAdam):
    """UPD-BIAS: the beta powers are advanced once at construction and again before every use, so
    the first update's step size uses t = 2 (b1^2, b2^2) instead of t = 1."""

    def step_size(self, lr: Any) -> Any:
        one = self.ct(1.0)
        return lr * np.sqrt(one - self.b2p * self.b2) / (one - self.b1p * self.b1)


class SwappedBeta1(NumpyAdam):
    """UPD-MOMENTS: beta1 and (1 - beta1) swapped in the first moment: m = (1-b1) m + b1 g."""

    def moments(self, m: np.ndarray, v: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        one, gc = self.ct(1.0), self.up(g)
        m = self.q(self.up(m) * (one - self.b1) + gc * self.b1)
        v = self.q(self.up(v) + (gc * gc - self.up(v)) * (one - self.b2))
        return m, v


class NesterovStaleMoment(NumpyAdam):
    """UPD-NESTEROV: the look-ahead numerator b1*m + (1-b1)*g reads the *previous* first moment
    (m_{t-1}) instead of the already-updated m_t -- the kernel computes it before storing m.

    (Two tiny overrides: ``moments`` remembers the previous m, ``numerator`` uses it.)"""

    def moments(self, m: np.ndarray, v: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._m_prev = m
        return super().moments(m, v, g)

    def numerator(self, m: np.ndarray, g: np.ndarray) -> np.ndarray:
        if not self.nesterov:
            return self.up(m)
        return self.up(self._m_prev) * self.b1 + self.up(g) * (self.ct(1.0) - self.b1)


class HalfMasterWeights(NumpyAdam):
    """UPD-DTYPE: half-precision parameters are replaced by float32 master copies (every stored result
    stays in float32), so a float16 parameter comes back as float32."""

    def q(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=self.ct)


# ---- DEC -----------------------------------------------------------------------------------------

class DecoupledDecay(NumpyAdam):
    """DEC-L2: decoupled (AdamW-style) weight decay, w -= lr*wd*w after the Adam step, instead of
    adding wd*w to the gradient before the moments."""

    def step(self, grads: Mapping[str, Any]) -> None:
        i = self.global_step
        self.global_step += 1
        self.b1p, self.b2p = self.ct(self.b1p * self.b1), self.ct(self.b2p * self.b2)
        for s in self.slots:
            p = s["p"]
            g = self.grad(self.densify(grads[p.name], p.value.shape), p.value, 0.0, s["gc"])
            s["m"], s["v"] = self.moments(s["m"], s["v"], g)
            lr = self.lr_at(s["lr"], i)
            l = self.step_size(lr)
            w = self.up(p.value) - l * self.numerator(s["m"], g) / self.denominator(s["v"])
            p.value = self.q(w - lr * s["wd"] * self.up(p.value))


class FilterCaseInsensitive(NumpyAdam):
    """DEC-FILTER: the beta/gamma no-decay filter matches case-insensitively ('Beta_w', 'conv.Gamma'
    are wrongly exempted from decay)."""

    @staticmethod
    def decays(name: str) -> bool:
        low = name.lower()
        return "beta" not in low and "gamma" not in low


class GroupDecayIgnored(NumpyAdam):
    """DEC-GROUP: a group's own ``weight_decay`` is ignored; every parameter gets the optimizer's
    weight_decay."""

    def __init__(self, params: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(params, *args, **kwargs)
        wd = kwargs.get("weight_decay", args[6] if len(args) > 6 else 0.0)
        if self.grouped:
            for s in self.slots:
                s["wd"] = self.ct(wd)


class DecayDividedByLossScale(NumpyAdam):
    """DEC-LOSS-SCALE: decay is added to the loss-scaled gradient without being pre-multiplied by
    loss_scale, so it is divided by loss_scale too: net g/ls + (wd/ls)*w."""

    def grad(self, g: np.ndarray, w: np.ndarray, wd: Any, gc: bool) -> np.ndarray:
        if wd:
            g = self.q(self.up(g) + self.q(self.up(w) * wd))
        if gc and g.ndim >= 2 and g.shape[1] % 16 == 0 and g.size:
            axes = tuple(range(1, g.ndim))
            g = self.q(self.up(g) - self.up(g).mean(axis=axes, keepdims=True))
        return self.q(self.up(g) * (self.ct(1.0) / self.ls)) if self.ls != 1 else g


# ---- GRP -----------------------------------------------------------------------------------------

class GroupLrIgnored(NumpyAdam):
    """GRP-LR: a group's own ``lr`` is ignored; every parameter uses the optimizer's learning_rate."""

    def __init__(self, params: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(params, *args, **kwargs)
        lr = kwargs.get("learning_rate", args[0] if args else 1e-3)
        for s in self.slots:
            s["lr"] = lr


class CentralizeAxis0(NumpyAdam):
    """GRP-GC: gradient centralization subtracts the mean over axis 0 instead of over all axes but 0."""

    def grad(self, g: np.ndarray, w: np.ndarray, wd: Any, gc: bool) -> np.ndarray:
        if wd:
            g = self.q(self.up(g) + self.q(self.up(w) * (wd * self.ls)))
        if gc and g.ndim >= 2 and g.shape[1] % 16 == 0 and g.size:
            g = self.q(self.up(g) - self.up(g).mean(axis=0, keepdims=True))
        return self.q(self.up(g) * (self.ct(1.0) / self.ls)) if self.ls != 1 else g


# ---- LR ------------------------------------------------------------------------------------------

class LrSequenceOffByOne(NumpyAdam):
    """LR-SEQUENCE: the i-th update reads element i+1 of a learning-rate sequence (the step counter is
    incremented before the lookup), clamped to the last element."""

    def lr_at(self, lr: Any, i: int) -> Any:
        if isinstance(lr, (ScheduleValue, DynamicLRValue)):  # (NamedTuples: tuples too)
            return super().lr_at(lr, i)
        if isinstance(lr, np.ndarray) and lr.ndim == 1:
            flat = lr.reshape(-1)
            return self.ct(flat[min(i + 1, flat.size - 1)])
        if isinstance(lr, (list, tuple)):
            return self.ct(lr[min(i + 1, len(lr) - 1)])
        return super().lr_at(lr, i)


class ScheduleAtNextStep(NumpyAdam):
    """LR-SCHEDULE: the schedule (or dynamic_lr list) is evaluated at global step i+1 -- the step
    counter is advanced before the learning rate is read -- so the first update does not see step 0."""

    def lr_at(self, lr: Any, i: int) -> Any:
        if isinstance(lr, ScheduleValue):
            return self.ct(lr_port.schedule_at(lr.name, lr.args, i + 1))
        if isinstance(lr, DynamicLRValue):
            values = lr_port.dynamic_lr_list(lr.name, lr.args)
            return self.ct(values[min(i + 1, len(values) - 1)])
        return super().lr_at(lr, i)


# ---- SPR -----------------------------------------------------------------------------------------

class LazySparseRows(NumpyAdam):
    """SPR-DENSE-EQUIV: lazy sparse update (SparseAdam-style): rows absent from the indices keep their
    w, m and v instead of decaying m, v and moving like the densified gradient says."""

    def step(self, grads: Mapping[str, Any]) -> None:
        keep: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        for s in self.slots:
            g = grads[s["p"].name]
            if isinstance(g, SparseGrad):
                absent = np.ones(s["p"].value.shape[0], dtype=bool)
                absent[g.indices] = False
                keep[s["p"].name] = (absent, s["p"].value.copy(), s["m"].copy(), s["v"].copy())
        super().step(grads)
        for s in self.slots:
            if s["p"].name in keep:
                absent, w, m, v = keep[s["p"].name]
                s["p"].value[absent], s["m"][absent], s["v"][absent] = w[absent], m[absent], v[absent]


class SparseDuplicatesLastWins(NumpyAdam):
    """SPR-DUPLICATES: repeated sparse indices are scattered with assignment (the last value wins)
    instead of being summed."""

    def densify(self, g: Any, shape: tuple[int, ...]) -> np.ndarray:
        if isinstance(g, SparseGrad):
            dense = np.zeros(shape, dtype=self.ct)
            dense[g.indices] = self.up(self.q(g.values))
            return self.q(dense)
        return self.q(g)


# ---- VAL -----------------------------------------------------------------------------------------

class BetaZeroAccepted(NumpyAdam):
    """VAL-BETA-RANGE: betas checked against the half-open [0, 1) (torch's check), so beta = 0.0 is
    accepted instead of raising ValueError."""

    def check_scalars(self, b1: Any, b2: Any, eps: Any, ls: Any) -> None:
        for name, value in (("beta1", b1), ("beta2", b2)):
            _must(type(value) is float, TypeError, f"{name} must be float")
            _must(0.0 <= value < 1.0, ValueError, f"{name} must be in [0, 1)")
        super().check_scalars(0.9, 0.999, eps, ls)


class BetaOneAccepted(NumpyAdam):
    """VAL-BETA-RANGE: betas checked against (0, 1] -- beta = 1.0 is accepted instead of raising
    ValueError."""

    def check_scalars(self, b1: Any, b2: Any, eps: Any, ls: Any) -> None:
        for name, value in (("beta1", b1), ("beta2", b2)):
            _must(type(value) is float, TypeError, f"{name} must be float")
            _must(0.0 < value <= 1.0, ValueError, f"{name} must be in (0, 1]")
        super().check_scalars(0.9, 0.999, eps, ls)


class EpsZeroAccepted(NumpyAdam):
    """VAL-POSITIVE: eps and loss_scale checked with ``>= 0``, so eps = 0.0 (and loss_scale = 0.0) are
    accepted instead of raising ValueError."""

    def check_scalars(self, b1: Any, b2: Any, eps: Any, ls: Any) -> None:
        for name, value in (("eps", eps), ("loss_scale", ls)):
            _must(type(value) is float, TypeError, f"{name} must be float")
            _must(value >= 0.0, ValueError, f"{name} must be >= 0")
        super().check_scalars(b1, b2, 1e-8, 1.0)


class IntBetaAccepted(NumpyAdam):
    """VAL-FLOAT-TYPE: beta1/beta2 type-checked with isinstance(value, (int, float)), so an int (or a
    bool) is accepted as a number -- beta1=1 then raises ValueError (range) instead of TypeError."""

    def check_scalars(self, b1: Any, b2: Any, eps: Any, ls: Any) -> None:
        for name, value in (("beta1", b1), ("beta2", b2)):
            _must(isinstance(value, (int, float)), TypeError, f"{name} must be a number")
            _must(0.0 < value < 1.0, ValueError, f"{name} must be in (0, 1)")
        super().check_scalars(0.9, 0.999, eps, ls)


# ---- half precision: hyperparameters and state in the storage dtype -----------------------------

class HyperparametersInStorageDtype(NumpyAdam):
    """UPD-DTYPE: every hyperparameter (lr, beta1, beta2, eps, weight_decay, loss_scale) and the beta powers
    are held in the parameter's dtype (Keras 3 casts them to the variable dtype). In bfloat16 beta2 = 0.999
    becomes 1.0: v stays 0 and sqrt(1 - beta2^t) = 0, so the weights never move; in float16 beta2 becomes
    0.99902 and 1 - beta2 is 2.3% small."""

    def __init__(self, params: Any, *args: Any, dtype: str = "float32", **kwargs: Any) -> None:
        super().__init__(params, *args, dtype=dtype, **kwargs)
        self.b1, self.b2, self.eps, self.ls = (self.held(x) for x in (self.b1, self.b2, self.eps, self.ls))
        for s in self.slots:
            s["wd"] = self.held(s["wd"])

    def held(self, x: Any) -> Any:
        return self.ct(self.st(x))

    def lr_at(self, lr: Any, i: int) -> Any:
        return self.held(super().lr_at(lr, i))

    def step_size(self, lr: Any) -> Any:
        t, one = self.global_step, self.ct(1.0)  # beta^t as one power op in the storage dtype (Keras)
        return lr * np.sqrt(one - self.held(self.b2**t)) / (one - self.held(self.b1**t))


class Beta2InStorageDtype(NumpyAdam):
    """UPD-DTYPE: beta1, beta2 and eps are cast to the variable's dtype inside the kernel (TensorFlow's
    ApplyAdam takes them as tensors of the variable dtype) while the beta powers come in as float32. In
    bfloat16 1 - beta2 = 0, v stays exactly 0 and the step is l*m/eps; in float16 v is 2.3% low."""

    def __init__(self, params: Any, *args: Any, dtype: str = "float32", **kwargs: Any) -> None:
        super().__init__(params, *args, dtype=dtype, **kwargs)
        self.b1, self.b2, self.eps = (self.ct(self.st(x)) for x in (self.b1, self.b2, self.eps))
        self.b1p_true = self.b2p_true = self.ct(1.0)
        self.b1_true = self.ct(kwargs.get("beta1", args[1] if len(args) > 1 else 0.9))
        self.b2_true = self.ct(kwargs.get("beta2", args[2] if len(args) > 2 else 0.999))

    def step_size(self, lr: Any) -> Any:
        # the powers as float32 products of the float32 betas (the caller's own running products)
        t = self.global_step
        one = self.ct(1.0)
        return lr * np.sqrt(one - self.b2_true ** self.ct(t)) / (one - self.b1_true ** self.ct(t))


class FrozenSecondMoment(NumpyAdam):
    """UPD-MOMENTS: v is never written back (the kernel updates a temporary), so it stays at its zero
    initial value and every step is l*m/eps."""

    def moments(self, m: np.ndarray, v: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m_new, _ = super().moments(m, v, g)
        return m_new, v


class WeightsNeverWritten(NumpyAdam):
    """UPD-DTYPE: the update goes to a float32 master copy that is never written back to the parameter, so
    the parameter keeps its initial value (m and v move as they should)."""

    def step(self, grads: Mapping[str, Any]) -> None:
        kept = [s["p"].value.copy() for s in self.slots]
        super().step(grads)
        for s, w in zip(self.slots, kept):
            s["p"].value = w


# ---- more clauses: sparse + decay / nesterov, validation ranges and groups ------------------------

class _SparseRows(NumpyAdam):
    """Remembers which rows the current parameter's sparse gradient touches (None when dense)."""

    _rows: np.ndarray | None = None

    def densify(self, g: Any, shape: tuple[int, ...]) -> np.ndarray:
        self._rows = None
        if isinstance(g, SparseGrad):
            rows = np.zeros(shape[0], dtype=bool)
            rows[np.asarray(g.indices, dtype=np.int64)] = True
            self._rows = rows
        return super().densify(g, shape)


class SparseDecayTouchedRowsOnly(_SparseRows):
    """SPR-DECAY: with a sparse gradient, weight decay reaches only the rows the indices touch (the decay
    term is added to the sparse values before densifying) instead of every row as dense decay does."""

    def grad(self, g: np.ndarray, w: np.ndarray, wd: Any, gc: bool) -> np.ndarray:
        if self._rows is not None and wd:
            w = np.where(self._rows.reshape((-1,) + (1,) * (w.ndim - 1)), w, np.zeros_like(w))
        return super().grad(g, w, wd, gc)


class SparseNesterovDropped(_SparseRows):
    """SPR-NESTEROV: the sparse kernel has no nesterov branch, so a sparse gradient gets the plain m
    numerator even with use_nesterov=True."""

    def numerator(self, m: np.ndarray, g: np.ndarray) -> np.ndarray:
        return self.up(m) if self._rows is not None else super().numerator(m, g)


class NegativeLrAccepted(NumpyAdam):
    """VAL-LR-RANGE: a fixed learning rate is checked for its type only, so lr < 0 is accepted (and the
    optimizer ascends) instead of raising ValueError."""

    @staticmethod
    def check_lr(lr: Any, name: str) -> None:
        if isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr < 0:
            return
        NumpyAdam.check_lr(lr, name)


class NegativeDecayAccepted(NumpyAdam):
    """VAL-WD-RANGE: weight_decay is type-checked but its sign is not, so weight_decay < 0 is accepted
    instead of raising ValueError."""

    @staticmethod
    def check_wd(wd: Any, name: str) -> None:
        _must(isinstance(wd, (int, float)) and not isinstance(wd, bool), TypeError, f"{name} must be int/float")


class UnknownGroupKeyAccepted(NumpyAdam):
    """VAL-GROUP: group dicts are not checked (unknown keys, a group without 'params', empty groups and a
    parameter in two groups are accepted or fail later) instead of raising at construction."""

    def check_groups(self, groups: list[dict[str, Any]], lr: Any = None) -> None:
        return None


# ---- adapters --------------------------------------------------------------------------------------

class FaithfulAdapter(NumpyLowPrecisionAdapter):
    """The unbent NumpyAdam in the faulty adapters' dtypes (see the module docstring for float64)."""

    name = "faithful-numpy"
    impl = NumpyAdam
    dtypes = DTYPES


class FaultyEpsAfterBias(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-eps-after-bias", EpsAfterBiasCorrection, DTYPES


class FaultyBiasOffByOne(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-bias-t2", BiasStepOffByOne, DTYPES


class FaultySwappedBeta1(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-swapped-beta1", SwappedBeta1, DTYPES


class FaultyNesterovStale(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-nesterov-stale-m", NesterovStaleMoment, DTYPES


class FaultyHalfMaster(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-half-master-weights", HalfMasterWeights, DTYPES


class FaultyDecoupledDecay(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-decoupled-decay", DecoupledDecay, DTYPES


class FaultyFilterCase(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-filter-case-insensitive", FilterCaseInsensitive, DTYPES


class FaultyGroupDecay(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-group-decay-ignored", GroupDecayIgnored, DTYPES


class FaultyDecayLossScale(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-decay-over-loss-scale", DecayDividedByLossScale, DTYPES


class FaultyGroupLr(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-group-lr-ignored", GroupLrIgnored, DTYPES


class FaultyGcAxis0(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-gc-axis0", CentralizeAxis0, DTYPES


class FaultyLrSequence(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-lr-sequence-off-by-one", LrSequenceOffByOne, DTYPES


class FaultySchedule(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-schedule-next-step", ScheduleAtNextStep, DTYPES


class FaultyLazySparse(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-lazy-sparse", LazySparseRows, DTYPES


class FaultySparseLastWins(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-sparse-last-wins", SparseDuplicatesLastWins, DTYPES


class FaultyBetaZero(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-beta-zero-accepted", BetaZeroAccepted, DTYPES


class FaultyBetaOne(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-beta-one-accepted", BetaOneAccepted, DTYPES


class FaultyEpsZero(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-eps-zero-accepted", EpsZeroAccepted, DTYPES


class FaultyIntBeta(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-int-beta-accepted", IntBetaAccepted, DTYPES


class FaultyHyperInStorage(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-hyper-in-storage-dtype", HyperparametersInStorageDtype, HALF


class FaultyBeta2InStorage(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-beta2-in-storage-dtype", Beta2InStorageDtype, HALF


class FaultyFrozenV(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-frozen-v", FrozenSecondMoment, DTYPES


class FaultyFrozenW(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-frozen-w", WeightsNeverWritten, DTYPES


class FaultySparseDecayRows(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-sparse-decay-touched-rows", SparseDecayTouchedRowsOnly, DTYPES


class FaultySparseNesterov(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-sparse-nesterov-dropped", SparseNesterovDropped, DTYPES


class FaultyNegativeLr(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-negative-lr-accepted", NegativeLrAccepted, DTYPES


class FaultyNegativeDecay(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-negative-decay-accepted", NegativeDecayAccepted, DTYPES


class FaultyGroupUnchecked(NumpyLowPrecisionAdapter):
    name, impl, dtypes = "faulty-groups-unchecked", UnknownGroupKeyAccepted, DTYPES


# Faithful controls in the half dtypes, both arithmetic styles (the zoo runs them next to the faults).
class FaithfulOpmath(NumpyLowPrecisionAdapter):
    name = "faithful-numpy-opmath"


class FaithfulStorageArith(StorageArithmeticAdapter):
    name = "faithful-numpy-storage-arith"


# adapter class -> the clause its fault breaks
FAULTS: dict[type[NumpyLowPrecisionAdapter], str] = {
    FaultyEpsAfterBias: "UPD-EPS",
    FaultyBiasOffByOne: "UPD-BIAS",
    FaultySwappedBeta1: "UPD-MOMENTS",
    FaultyNesterovStale: "UPD-NESTEROV",
    FaultyHalfMaster: "UPD-DTYPE",
    FaultyDecoupledDecay: "DEC-L2",
    FaultyFilterCase: "DEC-FILTER",
    FaultyGroupDecay: "DEC-GROUP",
    FaultyDecayLossScale: "DEC-LOSS-SCALE",
    FaultyGroupLr: "GRP-LR",
    FaultyGcAxis0: "GRP-GC",
    FaultyLrSequence: "LR-SEQUENCE",
    FaultySchedule: "LR-SCHEDULE",
    FaultyLazySparse: "SPR-DENSE-EQUIV",
    FaultySparseLastWins: "SPR-DUPLICATES",
    FaultyBetaZero: "VAL-BETA-RANGE",
    FaultyBetaOne: "VAL-BETA-RANGE",
    FaultyEpsZero: "VAL-POSITIVE",
    FaultyIntBeta: "VAL-FLOAT-TYPE",
    FaultyHyperInStorage: "UPD-DTYPE",
    FaultyBeta2InStorage: "UPD-DTYPE",
    FaultyFrozenV: "UPD-MOMENTS",
    FaultyFrozenW: "UPD-DTYPE",
    FaultySparseDecayRows: "SPR-DECAY",
    FaultySparseNesterov: "SPR-NESTEROV",
    FaultyNegativeLr: "VAL-LR-RANGE",
    FaultyNegativeDecay: "VAL-WD-RANGE",
    FaultyGroupUnchecked: "VAL-GROUP",
}
FAITHFUL = (FaithfulOpmath, FaithfulStorageArith)
