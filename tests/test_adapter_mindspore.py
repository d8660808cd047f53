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


def _dense_case(seed: int = 0, steps: int = 3, hyper: dict | None = None, groups: tuple | None = None,
                clauses: tuple[str, ...] = ("UPD-MOMENTS",)) -> Case:
    rng = np.random.default_rng(seed)
    shapes = {"w": (2, 3), "gamma": (3,), "b": (4,)}
    return Case(
        clauses=clauses, dtype="float32",
        params=tuple(ParamSpec(n, s, _f32(rng.uniform(0.5, 1.5, s))) for n, s in shapes.items()),
        hyper={k: encode_value(v) for k, v in (hyper or {"learning_rate": 0.1}).items()},
        groups=groups,
        grads=tuple({n: {"dense": _f32(rng.uniform(-2, 2, s))} for n, s in shapes.items()} for _ in range(steps)),
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
    # failing probe must never shrink the declaration and pass a broken dtype as UNSUPPORTED)
    assert set(info.dtypes) == {"float64", "float32", "float16", "bfloat16"}


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


@pytest.mark.parametrize("variant", ["default", "target"])
def test_reused_optimizer_is_bitwise_fresh(variant):
    """Same structure, different values and lr: the compiled, reused optimizer equals a fresh one."""
    cls = MindSporeAdam if variant == "default" else MindSporeAdamTargetCPU
    reusing, fresh = cls(), cls(reuse=False)
    first = _dense_case(seed=4, hyper={"learning_rate": 0.1, "weight_decay": 0.05, "loss_scale": 2.0})
    second = _dense_case(seed=5, hyper={"learning_rate": 0.03, "weight_decay": 0.05, "loss_scale": 2.0})
    assert isinstance(reusing.run(first), Ran)
    compiled = reusing.compilations()
    got, want = reusing.run(second), fresh.run(second)
    assert reusing.compilations() == compiled  # no new graph: the second case reused the first's
    assert isinstance(got, Ran) and isinstance(want, Ran)
    for a, b in zip(got.steps, want.steps, strict=True):
        for n in second.names:
            for x, y in zip(a[n], b[n], strict=True):
                assert np.array_equal(x, y), n
    # a different graph constant (beta1) must not reuse the compiled graph
    third = _dense_case(seed=5, hyper={"learning_rate": 0.03, "beta1": 0.8, "weight_decay": 0.05, "loss_scale": 2.0})
    _assert_matches_reference(reusing.run(third), third)
    assert reusing.compilations() == compiled + 1


def _sparse_case(indices_per_step: list[list[int]]) -> Case:
    rng = np.random.default_rng(6)
    steps = []
    for idx in indices_per_step:
        steps.append({"emb": {"sparse": {"indices": idx, "values": _f32(rng.uniform(-2, 2, (len(idx), 2)))}},
                      "b": {"dense": _f32(rng.uniform(-2, 2, (3,)))}})
    return Case(clauses=("SPR-DENSE-EQUIV",), dtype="float32",
                params=(ParamSpec("emb", (4, 2), _f32(rng.uniform(0.5, 1.5, (4, 2)))),
                        ParamSpec("b", (3,), _f32(rng.uniform(0.5, 1.5, (3,))))),
                hyper={"learning_rate": 0.1}, grads=tuple(steps))


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
