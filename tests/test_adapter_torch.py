"""The torch adapters drive torch.optim.Adam / SparseAdam as a user would, and report what torch did.

Trajectories are compared with the float64 reference. torch adds eps *after* bias correction, i.e. it
runs the epsilon-hat form with eps_t = eps*sqrt(1-beta2^t); with |g| ~ 1 >> eps = 1e-8 that moves a
step by at most lr * eps / sqrt(1-beta2) ~ 3.2e-7 * lr relative, which the tolerances below absorb:
float64 w to 5e-7 absolute (3 steps, lr <= 0.1: at most ~1e-7 of eps effect); m and v hold no eps,
but weight decay feeds that w difference back into them (wd <= 0.5: ~5e-8), so 1e-7 absolute;
float32 is a sanity check at 1e-5 relative (the real error model lives elsewhere). Where the
effective gradient can come near 0 (g/ls + wd*w cancelling, a centralized gradient), eps = 1e-12
keeps torch's eps placement out of the comparison.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import reference as ref  # noqa: E402
from adapters.base import Raised, Ran, Support, Unsupported  # noqa: E402
from adapters.generic_torch import load  # noqa: E402
from adapters.torch_adam import NAMES_TORCH, TorchAdam, TorchSparseAdam, make  # noqa: E402
from conformance.cases import Case, ParamSpec, ScheduleValue, SparseGrad, TensorValue, encode_value  # noqa: E402

RNG = np.random.default_rng(7)
W = RNG.uniform(-1, 1, (3, 4)).round(3)
GRADS = [RNG.uniform(0.5, 2.0, (3, 4)).round(3) * RNG.choice([-1, 1], (3, 4)) for _ in range(3)]  # |g| >> eps


def dense_case(dtype: str = "float64", hyper: dict | None = None, names: tuple[str, ...] = ("w",),
               groups: tuple | None = None, shape: tuple[int, ...] = (3, 4), steps: int = 3) -> Case:
    vals = RNG.uniform(-1, 1, (len(names), *shape)).round(3) if shape != (3, 4) else [W] * len(names)
    grads = [RNG.uniform(0.5, 2.0, shape).round(3) for _ in range(steps)] if shape != (3, 4) else GRADS[:steps]
    return Case(clauses=("UPD-MOMENTS",), dtype=dtype,
                params=tuple(ParamSpec(n, shape, np.asarray(v).tolist()) for n, v in zip(names, vals)),
                hyper={k: encode_value(v) for k, v in (hyper or {"learning_rate": 0.1}).items()}, groups=groups,
                grads=tuple({n: {"dense": (g * (k + 1)).tolist()} for k, n in enumerate(names)} for g in grads))


def _ref_value(v):
    if isinstance(v, TensorValue):
        return v.values
    if isinstance(v, ScheduleValue):
        return ref.Schedule(v.name, v.args)
    return v


def reference(case: Case) -> ref.Trajectory:
    params = {n: ref.Param(n, v) for n, v in case.param_values().items()}
    groups = case.param_groups()
    arg = list(params.values()) if groups is None else [
        {"params": [params[n] for n in g.params],
         **{k: _ref_value(getattr(g, k)) for k in ("lr", "weight_decay", "grad_centralization")
            if getattr(g, k) is not None}} for g in groups]
    hyper = {k: _ref_value(v) for k, v in case.hyperparameters().items()}
    grads = [{n: ref.Sparse(*g) if isinstance(g, SparseGrad) else g for n, g in case.gradients(i).items()}
             for i in range(case.num_steps)]
    return ref.Adam(arg, **hyper, received_as=case.dtype).run(grads)


def assert_matches(out, traj: ref.Trajectory, w_tol: dict, mv_tol: dict) -> None:
    assert isinstance(out, Ran), out
    assert len(out.steps) == len(traj.steps)
    for got, want in zip(out.steps, traj.steps):
        for name, st in want.items():
            np.testing.assert_allclose(got[name].w, st.w, **w_tol, err_msg=f"w of {name}")
            np.testing.assert_allclose(got[name].m, st.m, **mv_tol, err_msg=f"m of {name}")
            np.testing.assert_allclose(got[name].v, st.v, **mv_tol, err_msg=f"v of {name}")


F64 = ({"rtol": 0, "atol": 5e-7}, {"rtol": 1e-12, "atol": 1e-7})
F32 = ({"rtol": 1e-5, "atol": 1e-6}, {"rtol": 1e-5, "atol": 1e-7})
CPU = [n for n in NAMES_TORCH if n.startswith("torch-cpu")]


@pytest.mark.parametrize("name", CPU)
@pytest.mark.parametrize(("dtype", "tol"), [("float64", F64), ("float32", F32)])
def test_dense_matches_reference(name, dtype, tol):
    case = dense_case(dtype, {"learning_rate": 0.1, "weight_decay": 0.05})
    out = make(name).run(case)
    assert_matches(out, reference(case), *tol)
    assert out.dtypes == {"w": dtype}


def test_groups_lr_and_weight_decay():
    groups = ({"params": ["a"], "lr": 0.01, "weight_decay": 0.2}, {"params": ["b_gamma"]})
    case = dense_case(hyper={"learning_rate": 0.1, "weight_decay": 0.05}, names=("a", "b_gamma"), groups=groups)
    assert_matches(make("torch-cpu-single").run(case), reference(case), *F64)


def test_beta_gamma_filter_emulated():
    case = dense_case(hyper={"learning_rate": 0.1, "weight_decay": 0.3}, names=("w", "bn.gamma", "beta_x"))
    out = make("torch-cpu-foreach").run(case)
    assert_matches(out, reference(case), *F64)
    plain = make("torch-cpu-foreach").run(dense_case(hyper={"learning_rate": 0.1}, names=("w", "bn.gamma", "beta_x")))
    np.testing.assert_array_equal(out.steps[-1]["bn.gamma"].w, plain.steps[-1]["bn.gamma"].w)  # not decayed
    assert not np.array_equal(out.steps[-1]["w"].w, plain.steps[-1]["w"].w)  # decayed
    assert make("torch-cpu-single").info().support["DEC-FILTER"] is Support.EMULATED


def test_loss_scale_divides_gradient_not_decay():
    case = dense_case(hyper={"learning_rate": 0.1, "weight_decay": 0.5, "loss_scale": 8.0, "eps": 1e-12})
    assert_matches(make("torch-cpu-single").run(case), reference(case), *F64)


@pytest.mark.parametrize("lr", [[0.1, 0.01, 0.05], TensorValue(np.array([0.1, 0.01, 0.05])),
                                ScheduleValue("ExponentialDecayLR", {"learning_rate": 0.1, "decay_rate": 0.5,
                                                                     "decay_steps": 2})])
def test_dynamic_lr_set_before_each_update(lr):
    case = dense_case(hyper={"learning_rate": lr})
    assert_matches(make("torch-cpu-fused").run(case), reference(case), *F64)


def test_sequence_too_short_is_unsupported():
    out = make("torch-cpu-single").run(dense_case(hyper={"learning_rate": [0.1, 0.01]}))
    assert isinstance(out, Unsupported) and "update 3" in out.reason


def test_grad_centralization_on_raw_gradient():
    groups = ({"params": ["k"], "grad_centralization": True},)
    case = dense_case(hyper={"learning_rate": 0.1, "eps": 1e-12}, names=("k",), groups=groups, shape=(2, 16))
    traj = reference(case)
    assert_matches(make("torch-cpu-single").run(case), traj, *F64)
    assert abs(traj.steps[0]["k"].g_eff.mean(axis=1)).max() < 1e-12  # it really was centralized


def test_fused_and_single_agree_within_float32_noise():
    case = dense_case("float32", {"learning_rate": 0.01, "weight_decay": 0.1}, shape=(8, 16), steps=10)
    single, fused = make("torch-cpu-single").run(case), make("torch-cpu-fused").run(case)
    for a, b in zip(single.steps, fused.steps):
        # a few float32 roundings per step, accumulated over 10 steps: 1e-6 relative to |w| ~ 1
        np.testing.assert_allclose(a["w"].w, b["w"].w, rtol=0, atol=1e-6)
        np.testing.assert_allclose(a["w"].v, b["w"].v, rtol=1e-5)


def sparse_case(steps: list[tuple[list[int], list[list[float]]]], hyper: dict | None = None) -> Case:
    return Case(clauses=("SPR-DENSE-EQUIV",), dtype="float64", hyper=hyper or {"learning_rate": 0.1},
                params=(ParamSpec("emb", (4, 2), [[0.5, -0.5], [1.0, 2.0], [-1.0, 0.25], [3.0, -3.0]]),),
                grads=tuple({"emb": {"sparse": {"indices": i, "values": v}}} for i, v in steps))


def test_sparseadam_is_lazy_and_sums_duplicates():
    case = sparse_case([([0, 0, 2], [[1.0, -2.0], [0.5, 0.5], [2.0, 1.0]]), ([1], [[1.5, -1.0]])])
    out = TorchSparseAdam().run(case)
    traj = reference(case)
    assert isinstance(out, Ran)
    w0 = case.param_values()["emb"]
    # step 1: untouched rows have zero state in both; touched rows (row 0 duplicates summed) match the reference
    np.testing.assert_allclose(out.steps[0]["emb"].w, traj.steps[0]["emb"].w, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out.steps[0]["emb"].w[[1, 3]], w0[[1, 3]])
    # step 2 touches only row 1: SparseAdam leaves rows 0 and 2 (nonzero m) where they were -- lazy,
    # while the non-lazy reference moves them
    np.testing.assert_array_equal(out.steps[1]["emb"].w[[0, 2]], out.steps[0]["emb"].w[[0, 2]])
    np.testing.assert_array_equal(out.steps[1]["emb"].m[[0, 2]], out.steps[0]["emb"].m[[0, 2]])
    assert np.abs(traj.steps[1]["emb"].w[[0, 2]] - traj.steps[0]["emb"].w[[0, 2]]).min() > 1e-3


def test_sparseadam_refuses_dense_and_weight_decay():
    assert isinstance(TorchSparseAdam().run(dense_case()), Unsupported)
    out = TorchSparseAdam().run(sparse_case([([0], [[1.0, 1.0]])], {"weight_decay": 0.1}))
    assert isinstance(out, Unsupported) and "weight_decay" in out.reason
    info = TorchSparseAdam().info()
    assert info.support["DEC-L2"] is Support.UNSUPPORTED and info.support["UPD-NESTEROV"] is Support.UNSUPPORTED


def test_adam_on_sparse_gradient_is_unsupported():
    out = make("torch-cpu-single").run(sparse_case([([0, 1], [[1.0, 1.0], [2.0, 2.0]])]))
    assert isinstance(out, Unsupported) and "sparse" in out.reason.lower()
    assert make("torch-cpu-single").info().support["SPR-DUPLICATES"] is Support.UNSUPPORTED


def test_nesterov_unsupported_for_adam():
    out = make("torch-cpu-single").run(dense_case(hyper={"use_nesterov": True}))
    assert isinstance(out, Unsupported) and "nesterov" in out.reason


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
@pytest.mark.parametrize("name", [n for n in NAMES_TORCH if "cuda" in n])
def test_cuda_unavailable_here(name):
    assert make(name).available() == (False, "not available: no CUDA device")
    assert make(name).info().dtypes == ()  # declaring still works, and claims nothing


def construct_case(**hyper) -> Case:
    return Case(clauses=("VAL-BETA-RANGE",), dtype="float32", kind="construct",
                params=(ParamSpec("w", (2,), [1.0, 2.0]),), hyper={k: encode_value(v) for k, v in hyper.items()})


@pytest.mark.parametrize(("hyper", "expected"), [
    ({"beta1": 1.0}, "ValueError"), ({"weight_decay": -0.1}, "ValueError"), ({"beta2": "0.9"}, "TypeError"),
    ({"eps": -1.0}, "ValueError"),
])
def test_validation_raises_at_construction(hyper, expected):
    out = make("torch-cpu-single").run(construct_case(**hyper))
    assert isinstance(out, Raised) and (out.type, out.stage) == (expected, "construct"), out


@pytest.mark.parametrize("hyper", [{"loss_scale": 0.0}, {"use_locking": 1}, {"use_nesterov": "yes"}])
def test_validation_of_missing_arguments_is_unsupported(hyper):
    assert isinstance(make("torch-cpu-single").run(construct_case(**hyper)), Unsupported)


def test_raw_params_argument_goes_to_torch():
    case = Case(clauses=("VAL-PARAM-TYPE",), dtype="float32", kind="construct",
                params=(ParamSpec("w", (2,), [1.0, 2.0]),), params_arg=[{"$param": "w"}, 5])
    out = make("torch-cpu-single").run(case)
    assert isinstance(out, Raised) and out.type == "TypeError"
    ok = Case(clauses=("VAL-GROUP",), dtype="float32", kind="construct", params=(ParamSpec("w", (2,), [1.0, 2.0]),),
              params_arg=[{"params": [{"$param": "w"}], "lr": 0.1}])
    assert make("torch-cpu-single").run(ok) == Ran([], {})


def test_generic_adapter_on_torch_adam_equals_single():
    case = dense_case("float32", {"learning_rate": 0.1, "weight_decay": 0.05}, names=("w", "gamma"))
    generic = load("torch.optim:Adam")
    assert generic.name == "torch:torch.optim:Adam"
    a, b = generic.run(case), TorchAdam("cpu", "single").run(case)
    for x, y in zip(a.steps, b.steps):
        for n in case.names:
            np.testing.assert_array_equal(x[n].w, y[n].w)
            np.testing.assert_array_equal(x[n].v, y[n].v)
    assert generic.info().support["UPD-NESTEROV"] is Support.UNSUPPORTED


NESTEROV_MODULE = """
    import torch

    class NesterovAdam(torch.optim.Adam):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, nesterov=False):
            if not isinstance(nesterov, bool):
                raise TypeError("nesterov must be a bool")
            super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=False)
            self.nesterov = nesterov
"""


def test_generic_detects_nesterov_kwarg(tmp_path, monkeypatch):
    (tmp_path / "nesterov_opt_mod.py").write_text(textwrap.dedent(NESTEROV_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "nesterov_opt_mod", raising=False)
    adapter = load("nesterov_opt_mod:NesterovAdam")
    assert adapter.nesterov_kwarg == "nesterov"
    assert adapter.info().support.get("UPD-NESTEROV", Support.NATIVE) is Support.NATIVE
    assert isinstance(adapter.run(dense_case(hyper={"use_nesterov": True})), Ran)
    bad = adapter.run(construct_case(use_nesterov="yes"))
    assert isinstance(bad, Raised) and bad.type == "TypeError"


@pytest.mark.parametrize("spec", ["torch.optim", "no_such_pkg_xyz.mod:Adam", "torch.optim:NoSuchAdam",
                                  "numpy:ndarray"])
def test_generic_load_errors_are_one_line_value_errors(spec):
    with pytest.raises(ValueError) as e:
        load(spec)
    assert "\n" not in str(e.value)


def test_dtypes_are_probed_and_kept():
    adapter = make("torch-cpu-single")
    assert "float32" in adapter.info().dtypes
    if "float16" in adapter.info().dtypes:
        out = adapter.run(dense_case("float16", {"learning_rate": 0.01}))
        assert out.dtypes == {"w": "float16"}
