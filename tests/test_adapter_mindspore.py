"""The MindSpore adapters drive ``nn.Adam`` correctly: trajectories, groups, schedules, validation,
compiled-graph reuse, and sparse gradients on both the default and the ``target='CPU'`` path."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.mindspore_adam import MindSporeAdam, MindSporeAdamTargetCPU  # sets GLOG_v before mindspore loads

pytest.importorskip("mindspore")

import reference as ref
from adapters.base import Raised, Ran
from conformance.cases import (
    Case,
    OrderParams,
    ParamSpec,
    ScheduleValue,
    SparseGrad,
    encode_value,
)

# float32 sanity tolerance: after 3 steps at lr <= 0.1 MindSpore's float32 arithmetic differs from
# the float64 reference (fed the same float32-rounded inputs) by a few float32 ulps per operation,
# ~1e-6 relative; 1e-5 catches any wrong formula, argument or state read-out (those are >= 1e-3
# off) without modelling float32 error, which the engine's error model does properly. It is
# normwise (relative to the array's largest magnitude): an element of w that passes near zero loses
# its leading digits to cancellation in w - l*u, so elementwise it can be 1e-4 off and still right.
RTOL = 1e-5


def _f32(a: np.ndarray) -> list:
    return np.asarray(a, dtype=np.float32).astype(np.float64).tolist()


def _f16(a: np.ndarray) -> list:
    return np.asarray(a, dtype=np.float16).astype(np.float64).tolist()


def _dense_case(seed: int = 0, steps: int = 3, hyper: dict | None = None, groups: tuple | None = None,
                clauses: tuple[str, ...] = ("UPD-MOMENTS",), dtype: str = "float32") -> Case:
    rng = np.random.default_rng(seed)
    r = _f16 if dtype == "float16" else _f32
    shapes = {"w": (2, 3), "gamma": (3,), "b": (4,)}
    return Case(
        clauses=clauses, dtype=dtype,
        params=tuple(ParamSpec(n, s, r(rng.uniform(0.5, 1.5, s))) for n, s in shapes.items()),
        hyper={k: encode_value(v) for k, v in (hyper or {"learning_rate": 0.1}).items()},
        groups=groups,
        grads=tuple({n: {"dense": r(rng.uniform(-2, 2, s))} for n, s in shapes.items()} for _ in range(steps)),
    )


def _reference(case: Case):
    """The NumPy reference run on the same decoded case (tests may import the reference)."""
    vals = case.param_values()
    params = {n: ref.Param(n, vals[n]) for n in case.names}
    kw = case.hyperparameters()
    if isinstance(kw.get("learning_rate"), ScheduleValue):
        kw["learning_rate"] = ref.Schedule(kw["learning_rate"].name, dict(kw["learning_rate"].args))
    groups = case.param_groups()
    if groups is None:
        arg: list = [params[n] for n in case.names]
    else:
        arg = []
        for g in groups:
            if isinstance(g, OrderParams):
                arg.append({"order_params": [params[n] for n in g.names]})
                continue
            d = {"params": [params[n] for n in g.params]}
            d.update({k: getattr(g, k) for k in ("lr", "weight_decay", "grad_centralization")
                      if getattr(g, k) is not None})
            arg.append(d)
    grads = [{n: ref.Sparse(*g) if isinstance(g, SparseGrad) else g for n, g in case.gradients(i).items()}
             for i in range(case.num_steps)]
    return ref.Adam(arg, received_as=case.dtype, **kw).run(grads)


def _assert_matches_reference(out, case: Case) -> None:
    assert isinstance(out, Ran), out
    want = _reference(case)
    assert len(out.steps) == case.num_steps
    for i, step in enumerate(out.steps):
        assert set(step) == set(case.names)
        for n, s in step.items():
            r = want.steps[i][n]
            for got, exp, what in ((s.w, r.w, "w"), (s.m, r.m, "m"), (s.v, r.v, "v")):
                scale = max(float(np.max(np.abs(exp), initial=0.0)), 1e-30)
                err = float(np.max(np.abs(got - exp), initial=0.0))
                assert err <= RTOL * scale, f"step {i} {n}.{what}: max error {err:.3g}, scale {scale:.3g}"
    assert dict(out.dtypes) == {n: "float32" for n in case.names}


@pytest.fixture(scope="module")
def adapters() -> dict[str, MindSporeAdam]:
    return {"default": MindSporeAdam(), "target": MindSporeAdamTargetCPU()}


def test_available_and_info(adapters):
    a = adapters["default"]
    assert a.available() == (True, "")
    info = a.info()
    assert info.versions["mindspore"] and info.device.startswith("CPU")
    # every suite dtype is declared by design: a dtype MindSpore cannot step is an ERROR per case (a
    # failing probe of the optimizer must never shrink the declaration and pass a broken dtype as
    # UNSUPPORTED). bfloat16 alone is declared away, with the reason, when MindSpore cannot copy it
    # through the NumPy installed (tests/test_gate_audit11.py checks that against nn.Adam itself).
    expected = {"float64", "float32", "float16"} | (set() if info.notes.get("bfloat16") else {"bfloat16"})
    assert set(info.dtypes) == expected


@pytest.mark.parametrize("variant", ["default", "target"])
def test_dense_float32_matches_reference(adapters, variant):
    case = _dense_case(hyper={"learning_rate": 0.1, "weight_decay": 0.05, "use_nesterov": True})
    _assert_matches_reference(adapters[variant].run(case), case)


def test_groups_order_params_loss_scale(adapters):
    groups = ({"params": ["w"], "lr": 0.01, "weight_decay": 0.2}, {"params": ["gamma", "b"]},
              {"order_params": ["b", "w", "gamma"]})
    case = _dense_case(seed=1, hyper={"learning_rate": 0.1, "weight_decay": 0.05, "loss_scale": 4.0},
                       groups=groups, clauses=("GRP-ORDER", "DEC-GROUP", "DEC-LOSS-SCALE"))
    _assert_matches_reference(adapters["default"].run(case), case)


def test_schedule_learning_rate(adapters):
    """Two schedules differing only in a constant the graph bakes in: the second must not reuse the first."""
    for lr in (0.1, 0.02):
        sched = ScheduleValue("ExponentialDecayLR", {"learning_rate": lr, "decay_rate": 0.5, "decay_steps": 1})
        case = _dense_case(seed=2, hyper={"learning_rate": sched}, clauses=("LR-SCHEDULE",))
        _assert_matches_reference(adapters["default"].run(case), case)


@pytest.mark.parametrize(("hyper", "exc"), [({"beta1": 1.0}, "ValueError"), ({"eps": 1}, "TypeError")])
def test_validation_raises_at_construction(adapters, hyper, exc):
    case = Case(clauses=("VAL-BETA-RANGE",), dtype="float32", params=(ParamSpec("w", (2,), [1.0, 2.0]),),
                kind="construct", hyper=hyper)
    out = adapters["default"].run(case)
    assert isinstance(out, Raised) and out.type == exc and out.stage == "construct", out


def test_valid_construct_case_runs_empty(adapters):
    case = Case(clauses=("VAL-LR-RANGE",), dtype="float32", params=(ParamSpec("w", (2,), [1.0, 2.0]),),
                kind="construct", hyper={"learning_rate": 0.0})
    assert adapters["default"].run(case) == Ran([], {})


def test_step_error_is_reported_not_raised(adapters):
    """A 2-element lr list stepped 3 times: MindSpore's Gather fails at update 2 (0-based)."""
    case = _dense_case(seed=3, hyper={"learning_rate": [0.1, 0.05]})
    out = adapters["default"].run(case)
    assert isinstance(out, Raised) and out.stage == "step" and out.step == 2, out


def _assert_bitwise(got, want, names) -> None:
    assert isinstance(got, Ran) and isinstance(want, Ran), (got, want)
    assert dict(got.dtypes) == dict(want.dtypes)
    assert len(got.steps) == len(want.steps)
    for i, (a, b) in enumerate(zip(got.steps, want.steps, strict=True)):
        for n in names:
            for x, y, q in zip(a[n], b[n], "wmv", strict=True):
                assert np.array_equal(x, y), f"step {i} {n}.{q}"


def _classes(variant: str) -> type[MindSporeAdam]:
    return MindSporeAdam if variant == "default" else MindSporeAdamTargetCPU


def _replays_bitwise(variant: str, cases: list[Case]) -> int:
    """Run ``cases`` in order through one reusing adapter and each through a fresh-per-case one
    (``reuse=False``: a pristine nn.Adam per case, graph constants as MindSpore bakes them, static
    shapes); every outcome must be bitwise equal. Returns the compiles of the reusing adapter after
    the first case (0: all later cases reused its graph)."""
    reusing, fresh = _classes(variant)(), _classes(variant)(reuse=False)
    first = None
    for case in cases:
        _assert_bitwise(reusing.run(case), fresh.run(case), case.names)
        if first is None:
            first = reusing.compilations()
    return reusing.compilations() - first


# Hyperparameter sets of one structure: nn.Adam holds beta1, beta2, eps, weight decay (times loss scale)
# and 1/loss_scale as float32 scalar Tensors; the reused optimizer holds them as Parameters and takes
# each case's values. weight_decay > 0 and loss_scale != 1 pick branches, so they stay > 0 / != 1 here.
_VALUE_SETS = (
    {"learning_rate": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.05, "loss_scale": 2.0},
    {"learning_rate": 0.03, "beta1": 0.5, "beta2": 0.9, "eps": 1e-3, "weight_decay": 0.3, "loss_scale": 1024.0},
    {"learning_rate": 0.2, "beta1": 0.1, "beta2": 0.123456789, "eps": 0.7, "weight_decay": 1e-4, "loss_scale": 0.3},
)


@pytest.mark.parametrize("variant", ["default", "target"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_reused_optimizer_with_new_hyperparameters_is_bitwise_fresh(variant, dtype, nesterov):
    """Betas, eps, weight decay and loss scale differ per case, the structure does not: one compile, and
    every case bitwise what a freshly built nn.Adam computes."""
    cases = [_dense_case(seed=10 + i, dtype=dtype, hyper={**h, "use_nesterov": nesterov})
             for i, h in enumerate(_VALUE_SETS)]
    assert _replays_bitwise(variant, cases) == 0


@pytest.mark.parametrize("variant", ["default", "target"])
def test_reused_grouped_optimizer_is_bitwise_fresh(variant):
    """Per-group weight decay (a tuple of held Tensors) and group lrs differ per case."""
    cases = []
    for i, (wd, gwd, lr) in enumerate(((0.05, 0.2, 0.01), (0.4, 0.001, 0.07), (0.01, 0.9, 0.3))):
        groups = ({"params": ["w"], "lr": lr, "weight_decay": gwd}, {"params": ["gamma", "b"]},
                  {"order_params": ["b", "w", "gamma"]})
        cases.append(_dense_case(seed=20 + i, groups=groups, clauses=("GRP-ORDER", "DEC-GROUP"),
                                 hyper={**_VALUE_SETS[i], "weight_decay": wd}))
    assert _replays_bitwise(variant, cases) == 0


@pytest.mark.parametrize("variant", ["default", "target"])
def test_branches_stay_structural(variant):
    """weight_decay 0 vs > 0, loss_scale 1 vs != 1 and nesterov pick different code: each compiles anew."""
    reusing = _classes(variant)()
    base = {"learning_rate": 0.1, "weight_decay": 0.05, "loss_scale": 2.0}
    for i, hyper in enumerate((base, {**base, "weight_decay": 0.0}, {**base, "loss_scale": 1.0},
                               {**base, "use_nesterov": True})):
        before = reusing.compilations()
        case = _dense_case(seed=30 + i, hyper=hyper)
        _assert_matches_reference(reusing.run(case), case)
        assert reusing.compilations() == before + 1, hyper


def test_schedule_constants_stay_structural(adapters):
    """A schedule's constants are Python numbers in its Cell (graph constants): a new value compiles anew."""
    reusing = MindSporeAdam()
    for lr in (0.1, 0.02):
        before = reusing.compilations()
        sched = ScheduleValue("ExponentialDecayLR", {"learning_rate": lr, "decay_rate": 0.5, "decay_steps": 1})
        case = _dense_case(seed=2, hyper={"learning_rate": sched}, clauses=("LR-SCHEDULE",))
        _assert_matches_reference(reusing.run(case), case)
        assert reusing.compilations() == before + 1


def _sparse_case(indices_per_step: list[list[int]], hyper: dict | None = None, dtype: str = "float32",
                 seed: int = 6) -> Case:
    """An embedding with sparse gradients and, except in float64 (MindSpore's dense Adam kernel takes no
    float64), a dense bias."""
    rng = np.random.default_rng(seed)
    r = _f16 if dtype == "float16" else _f32
    dense = dtype != "float64"
    steps = []
    for idx in indices_per_step:
        step = {"emb": {"sparse": {"indices": idx, "values": r(rng.uniform(-2, 2, (len(idx), 2)))}}}
        if dense:
            step["b"] = {"dense": r(rng.uniform(-2, 2, (3,)))}
        steps.append(step)
    params = [ParamSpec("emb", (4, 2), r(rng.uniform(0.5, 1.5, (4, 2))))]
    if dense:
        params.append(ParamSpec("b", (3,), r(rng.uniform(0.5, 1.5, (3,)))))
    return Case(clauses=("SPR-DENSE-EQUIV",), dtype=dtype, params=tuple(params),
                hyper={k: encode_value(v) for k, v in (hyper or {"learning_rate": 0.1}).items()}, grads=tuple(steps))


# FusedSparseAdam (target 'CPU') takes no float64: that variant raises there, for both adapters alike.
@pytest.mark.parametrize(("variant", "dtype"), [("default", "float32"), ("default", "float64"), ("target", "float32")])
def test_sparse_reuse_is_bitwise_fresh(variant, dtype):
    """Sparse cases of one structure with new hyperparameters and a different index count per step and
    per case: the reused optimizer's feeder declares a dynamic row count (one compile), and every case is
    bitwise what a fresh nn.Adam fed static shapes computes."""
    idx = ([[2, 0], [1], [3, 2, 2, 0]], [[0, 0, 0], [3, 1], [1]], [[1, 2, 3, 0, 1], [2], [0, 3]])
    cases = [_sparse_case(ix, hyper={k: v for k, v in h.items() if k != "weight_decay"}, dtype=dtype, seed=40 + i)
             for i, (ix, h) in enumerate(zip(idx, _VALUE_SETS, strict=True))]
    assert _replays_bitwise(variant, cases) == 0


@pytest.mark.parametrize("variant", ["default", "target"])
def test_sparse_decay_reuse_is_bitwise_fresh(variant):
    """Weight decay on sparse rows (added per occurrence) and loss scaling, values new per case."""
    idx = ([[2, 0, 2], [1]], [[3], [0, 1, 1]], [[1, 2], [3, 3, 3, 0]])
    cases = [_sparse_case(ix, hyper=h, seed=50 + i) for i, (ix, h) in enumerate(zip(idx, _VALUE_SETS, strict=True))]
    assert _replays_bitwise("default" if variant == "default" else "target", cases) == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_default_sparse_nesterov_keeps_values_in_the_key(dtype):
    """The default target's sparse nesterov branch depends on MindSpore's kernel order (next_m aliases m
    around further assigns), so it is never relaxed: values stay graph constants and shapes static --
    a new beta1 compiles anew (one graph per index count), and the result is bitwise the fresh
    optimizer's."""
    hyper = {"learning_rate": 0.001, "beta1": 0.5, "beta2": 0.9, "use_nesterov": True}
    first = _sparse_case([[0, 1, 1, 3], [2, 2]], hyper=hyper, dtype=dtype, seed=60)
    second = _sparse_case([[0, 1, 1, 3], [2, 2]], hyper={**hyper, "beta1": 0.8}, dtype=dtype, seed=61)
    third = _sparse_case([[3, 0, 1, 1], [2, 0]], hyper={**hyper, "beta1": 0.8}, dtype=dtype, seed=62)
    reusing, fresh = MindSporeAdam(), MindSporeAdam(reuse=False)
    counts = []
    for case in (first, second, third):
        before = reusing.compilations()
        _assert_bitwise(reusing.run(case), fresh.run(case), case.names)
        counts.append(reusing.compilations() - before)
    assert counts == [2, 2, 0]  # two index counts each; the third shares the second's structure and counts


@pytest.mark.parametrize("variant", ["default", "target"])
def test_sparse_gradient_reaches_the_optimizer(adapters, variant):
    """Distinct indices (no duplicates, no decay, no nesterov): both paths equal the densified update,
    which they can only do if the RowTensor carries exactly the case's rows; unlisted rows still decay."""
    case = _sparse_case([[2, 0], [1], [3, 2]])
    out = adapters[variant].run(case)
    assert isinstance(out, Ran), out
    assert len(out.steps) == 3
    for step in out.steps:
        assert step["emb"].w.shape == (4, 2) and step["emb"].m.shape == (4, 2) and step["emb"].v.shape == (4, 2)
        assert step["b"].w.shape == (3,)
    _assert_matches_reference(out, case)


@pytest.mark.parametrize("variant", ["default", "target"])
def test_sparse_duplicates_run(adapters, variant):
    case = _sparse_case([[0, 0, 2], [1], [0, 3, 0]])
    out = adapters[variant].run(case)
    assert isinstance(out, Ran), out
    assert [sorted(s) for s in out.steps] == [["b", "emb"]] * 3
    assert all(np.isfinite(s["emb"].w).all() for s in out.steps)
