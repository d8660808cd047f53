"""The optax adapters drive optax.adam (or a named factory) under jit as a user would; one compile per structure.

Trajectories are compared with the float64 reference. optax adds eps *after* bias correction (like
torch): it runs the epsilon-hat form with eps_t = eps*sqrt(1-beta2^t). The two denominators
sqrt(v) + eps and sqrt(v) + eps_t differ by less than eps, so a step moves by at most
eps / sqrt(v) relative; sqrt(v) >= sqrt(1-beta2)*min|g| = 0.0316*0.5, i.e. 6.3e-7 relative for
|g| >= 0.5 >> eps = 1e-8, or <= 6.3e-8 absolute per step at lr <= 0.1. Hence float64 w to 5e-7
absolute over 3 steps; m and v hold no eps, but weight decay feeds the w difference back into them
(wd <= 0.5), so 1e-7 absolute; float32 is a sanity check at 1e-5 relative (the error model lives
elsewhere). Cases where the effective gradient can come near 0 (centralized gradients) use
eps = 1e-12 to keep optax's eps placement out of the comparison.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("jax")
optax = pytest.importorskip("optax")

from adapters.base import Raised, Ran, Support, Unsupported  # noqa: E402
from adapters.generic_optax import load  # noqa: E402
from adapters.optax_adam import OptaxCPU, OptaxGPU, libs  # noqa: E402
from conformance.cases import Case, ParamSpec, ScheduleValue, encode_value  # noqa: E402
from conformance.expected import expected  # noqa: E402

RNG = np.random.default_rng(11)
F64 = ({"rtol": 0, "atol": 5e-7}, {"rtol": 1e-12, "atol": 1e-7})
F32 = ({"rtol": 1e-5, "atol": 1e-6}, {"rtol": 1e-5, "atol": 1e-7})


def grad(shape: tuple[int, ...]) -> np.ndarray:
    """|g| in [0.5, 2] (>> eps), random signs, 3 decimals."""
    return (RNG.uniform(0.5, 2.0, shape) * RNG.choice([-1, 1], shape)).round(3)


def case(dtype: str = "float64", hyper: dict | None = None, shapes: dict | None = None, groups: tuple | None = None,
         steps: int = 3, kind: str = "steps", sparse: dict | None = None) -> Case:
    shapes = shapes or {"w": (3, 4)}
    grads = []
    for _ in range(steps if kind == "steps" else 0):
        g = {n: {"dense": grad(s).tolist()} for n, s in shapes.items()}
        for n, idx in (sparse or {}).items():
            g[n] = {"sparse": {"indices": idx, "values": grad((len(idx), *shapes[n][1:])).tolist()}}
        grads.append(g)
    return Case(clauses=("UPD-MOMENTS",), dtype=dtype, kind=kind,
                params=tuple(ParamSpec(n, s, RNG.uniform(-1, 1, s).round(3).tolist()) for n, s in shapes.items()),
                hyper={k: encode_value(v) for k, v in (hyper or {"learning_rate": 0.1}).items()},
                groups=groups, grads=tuple(grads))


def assert_matches(out, c: Case, tol=F64) -> None:
    traj = expected(c).trajectory
    assert isinstance(out, Ran), out
    assert len(out.steps) == len(traj.steps)
    for got, want in zip(out.steps, traj.steps):
        assert set(got) == set(want)
        for name, st in want.items():
            np.testing.assert_allclose(got[name].w, st.w, **tol[0], err_msg=f"w of {name}")
            np.testing.assert_allclose(got[name].m, st.m, **tol[1], err_msg=f"m of {name}")
            np.testing.assert_allclose(got[name].v, st.v, **tol[1], err_msg=f"v of {name}")


@pytest.fixture(scope="module")
def cpu() -> OptaxCPU:
    return OptaxCPU()


@pytest.mark.parametrize("dtype,tol", [("float64", F64), ("float32", F32)])
def test_dense_matches_reference(cpu, dtype, tol):
    c = case(dtype, {"learning_rate": 0.1, "beta1": 0.8, "beta2": 0.99})
    out = cpu.run(c)
    assert_matches(out, c, tol)
    assert out.dtypes == {"w": dtype}


def test_decay_and_name_filter(cpu):
    shapes = {"w": (3, 4), "ln.beta": (4,), "ln.gamma": (4,)}
    c = case("float64", {"learning_rate": 0.05, "weight_decay": 0.5}, shapes)
    out = cpu.run(c)
    assert_matches(out, c)
    g0 = np.asarray(c.gradients(0)["ln.gamma"])  # undecayed: m after one step is (1-b1)*g exactly
    np.testing.assert_allclose(out.steps[0]["ln.gamma"].m, 0.1 * g0, rtol=1e-15)
    assert not np.allclose(out.steps[0]["w"].m, 0.1 * np.asarray(c.gradients(0)["w"]))


def test_groups_per_group_lr_decay_and_centralization(cpu):
    shapes = {"conv": (2, 16), "fc": (3, 4), "bias": (4,)}
    groups = ({"params": ["conv"], "lr": 0.01, "grad_centralization": True},
              {"params": ["fc", "bias"], "weight_decay": 0.3},
              {"order_params": ["bias", "fc", "conv"]})
    c = case("float64", {"learning_rate": 0.1, "eps": 1e-12}, shapes, groups)
    out = cpu.run(c)
    assert_matches(out, c)
    assert abs(out.steps[0]["conv"].m.mean(axis=1)).max() < 1e-15  # centralized


@pytest.mark.parametrize("schedule", [
    ScheduleValue("ExponentialDecayLR", {"learning_rate": 0.1, "decay_rate": 0.5, "decay_steps": 2, "is_stair": True}),
    ScheduleValue("CosineDecayLR", {"min_lr": 0.01, "max_lr": 0.1, "decay_steps": 2}),
    ScheduleValue("WarmUpLR", {"learning_rate": 0.1, "warmup_steps": 2}),
    ScheduleValue("InverseDecayLR", {"learning_rate": 0.1, "decay_rate": 0.5, "decay_steps": 1}),  # lr_port
])
def test_schedules(cpu, schedule):
    c = case("float64", {"learning_rate": schedule}, steps=4)
    out = cpu.run(c)
    assert_matches(out, c)
    if schedule.name == "WarmUpLR":  # global step 0 at the first update: lr 0, nothing moves
        np.testing.assert_array_equal(out.steps[0]["w"].w, c.param_values()["w"])


def test_sparse_densified_with_duplicates_summed(cpu):
    # rows the indices skip see only wd*w (|g| ~ 0.01): eps = 1e-12 keeps optax's eps placement out
    c = case("float64", {"learning_rate": 0.1, "weight_decay": 0.1, "eps": 1e-12}, {"emb": (4, 3)},
             sparse={"emb": [2, 0, 2]})
    out = cpu.run(c)
    assert_matches(out, c)
    g = c.gradients(0)["emb"]
    np.testing.assert_allclose(out.steps[0]["emb"].m[2] / 0.1,
                               g.values[0] + g.values[2] + 0.1 * c.param_values()["emb"][2], rtol=1e-14)
    assert cpu.info().support_for("SPR-DUPLICATES") is Support.EMULATED


def test_one_compile_per_structure():
    a = OptaxCPU()
    hypers = [{"learning_rate": 0.1 * k, "beta1": 0.5 + 0.1 * k, "beta2": 0.9 + 0.01 * k, "eps": 10.0 ** -k,
               "weight_decay": 0.01 * k} for k in range(1, 6)]
    outs = [a.run(case("float32", hypers[0]))]
    assert a.compilations() == 1 and a.traces() == 1  # the step, init inside it: no eager op per shape
    outs += [a.run(case("float32", h)) for h in hypers[1:]]
    assert all(isinstance(o, Ran) for o in outs)
    assert a.traces() == 1 and a.compilations() == 1  # new values: nothing traced or compiled again
    assert not np.array_equal(outs[0].steps[-1]["w"].w, outs[1].steps[-1]["w"].w)
    for dtype, shapes in [("float32", {"w": (5,)}), ("bfloat16", {"w": (7, 3), "ln.beta": (3,)})]:
        assert isinstance(a.run(case(dtype, hypers[0], shapes)), Ran)
    assert a.traces() == 3 and a.compilations() == 3  # one XLA compilation per new structure, nothing else


def test_validation_cases_compile_nothing():
    """Construct cases trace init and the first update (jax.eval_shape): no XLA compilation, accepted or not."""
    a = OptaxCPU()
    seq = {"$tensor": [0.1, 0.2]}
    sched = {"$schedule": "ExponentialDecayLR", "args": {"learning_rate": 0.1, "decay_rate": 0.5, "decay_steps": 2}}
    hypers = [{"eps": 0.0}, {"beta1": "0.9"}, {"eps": None}, {"learning_rate": seq}, {"learning_rate": sched},
              {"learning_rate": 0.1, "weight_decay": 0.1, "use_nesterov": True}]
    outs = [a.run(case(dtype, h, {"w": (6, 5), "ln.gamma": (5,)}, kind="construct"))
            for dtype in ("float64", "bfloat16") for h in hypers]
    assert [type(o).__name__ for o in outs] == ["Ran", "Raised", "Raised", "Ran", "Ran", "Ran"] * 2
    assert all(o.stage == "step" and o.type == "TypeError" for o in outs if isinstance(o, Raised))
    assert a.compilations() == 0 and a.traces() == 0


def test_dynamic_lr_forms_share_one_compile():
    """A schedule, a sequence and a dynamic_lr list are all a schedule over a traced table: one trace."""
    a = OptaxCPU()
    lrs = [{"$schedule": "ExponentialDecayLR", "args": {"learning_rate": 0.1, "decay_rate": 0.5, "decay_steps": 2}},
           [0.1, 0.2, 0.3], {"$schedule": "WarmUpLR", "args": {"learning_rate": 0.1, "warmup_steps": 2}}]
    for lr in lrs:
        c = case("float64", {"learning_rate": lr})
        assert_matches(a.run(c), c)
    assert a.traces() == 1


PERSISTENT = """
import json, sys
sys.path.insert(0, {root!r})
from adapters.optax_adam import OptaxCPU
from conformance.cases import Case, ParamSpec
a = OptaxCPU()
for k in range(3):
    c = Case(clauses=("UPD-MOMENTS",), dtype="float32", params=(ParamSpec("w", (k + 2,), [0.5] * (k + 2)),),
             hyper={{"learning_rate": 0.1}}, grads=({{"w": {{"dense": [0.1] * (k + 2)}}}},))
    a.run(c)
a.info()
print(json.dumps({{"compilations": a.compilations(), "traces": a.traces()}}))
"""


def test_persistent_cache_makes_a_second_run_compile_nothing(tmp_path):
    import json
    import os
    import subprocess
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "ADAM_CONFORMANCE_JAX_CACHE": str(tmp_path / "jax-cache")}
    runs = [json.loads(subprocess.run([sys.executable, "-c", PERSISTENT.format(root=root)], env=env, check=True,
                                      capture_output=True, text=True, timeout=120).stdout.splitlines()[-1])
            for _ in range(2)]
    assert runs[0] == {"compilations": 3, "traces": 3}  # one per structure
    assert runs[1] == {"compilations": 0, "traces": 3}


def test_bitwise_equal_to_plain_optax_adam_under_jit(cpu):
    """Traced hyperparameters promote like the literal floats a user writes (no inject_hyperparams cast)."""
    jax, jnp, _ = libs()
    for dtype in ("float32", "bfloat16"):
        c = case(dtype, {"learning_rate": 0.01, "use_nesterov": True})
        out = cpu.run(c)
        tx = optax.adam(0.01, nesterov=True)
        p = {"w": jnp.asarray(c.param_values()["w"], dtype=dtype)}
        s = tx.init(p)

        @jax.jit
        def step(p, g, s, tx=tx):
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s

        for i in range(c.num_steps):
            p, s = step(p, {"w": jnp.asarray(c.gradients(i)["w"], dtype=dtype)}, s)
            np.testing.assert_array_equal(out.steps[i]["w"].w, np.asarray(p["w"]).astype(np.float64))
        assert np.isfinite(out.steps[-1]["w"].w).all()


def test_validation_is_reported_as_optax_behaves(cpu):
    def construct(**h):
        return cpu.run(case("float32", h, kind="construct"))

    assert construct(eps=0.0) == Ran([], {})  # optax validates nothing: the engine turns this into a FAIL
    bad = construct(beta1="0.9")
    assert isinstance(bad, Raised) and bad.type == "TypeError" and bad.stage == "step"
    assert isinstance(construct(use_locking="x"), Unsupported)
    assert isinstance(construct(loss_scale=0.0), Unsupported)


def test_gpu_unavailable_here():
    jax, _, _ = libs()
    try:
        has_gpu = bool(jax.devices("gpu"))
    except RuntimeError:
        has_gpu = False
    if has_gpu:
        pytest.skip("this machine has a GPU")
    assert OptaxGPU().available() == (False, "not available: no GPU device")
    assert isinstance(OptaxGPU().run(case()), Unsupported)


def test_generic_factory_matches_optax_cpu(cpu, tmp_path, monkeypatch):
    c = case("float64", {"learning_rate": 0.1, "weight_decay": 0.2, "use_nesterov": True})
    g = load("optax:optax:adam")
    assert g.name == "optax:optax:adam" and g.injectable()
    a, b = cpu.run(c), g.run(c)
    for sa, sb in zip(a.steps, b.steps):
        np.testing.assert_array_equal(sa["w"].w, sb["w"].w)
        np.testing.assert_array_equal(sa["w"].v, sb["w"].v)
    # a factory that branches on its hyperparameters' values: jitted per case, still correct
    (tmp_path / "userfactory.py").write_text(textwrap.dedent("""
        import optax
        def checked_adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
            if not 0.0 < b1 < 1.0:
                raise ValueError("b1 must be in (0, 1)")
            return optax.adam(learning_rate, b1, b2, eps)
        def not_a_transform(learning_rate, b1, b2, eps):
            return 5
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    u = load("userfactory:checked_adam")
    assert not u.injectable() and not u.accepts_nesterov()
    c2 = case("float64", {"learning_rate": 0.1, "weight_decay": 0.2})
    np.testing.assert_allclose(u.run(c2).steps[-1]["w"].w, cpu.run(c2).steps[-1]["w"].w, rtol=1e-15)
    assert isinstance(u.run(c), Unsupported)  # nesterov requested, no nesterov keyword
    for spec, words in [("userfactory:not_a_transform", "GradientTransformation"), ("nosuchmod:f", "cannot import"),
                        ("userfactory:missing", "no function"), ("optax:sgd", "lacks keyword"),
                           ("nomodule", "'package.module:function'")]:
        with pytest.raises(ValueError, match=words):
            load(spec)
    sys.modules.pop("userfactory", None)
