"""The generic adapters are trustworthy: a faithful torch optimizer and a faithful optax factory pass.

``conformance.zoo.faithful_torch.FaithfulAdam`` and ``conformance.zoo.faithful_optax.faithful_adam`` are
user-written, correct implementations of the spec (not the built-ins, not the reference). Run through
``torch:MOD:CLASS`` and ``optax:MOD:FN`` they must PASS every generated case of every clause the adapter
declares native or emulated, in every dtype it declares -- so a FAIL from these adapters is the user's
bug, never the adapter's emulation (issue 9: the centralization order, the group-lr override, the lr form
handed to an optax factory). Hand-written cases pin the corners the generator may not draw: a fixed lr in
one group beside a dynamic optimizer lr (MindSpore's ``test_adam_group2`` layout), centralization with
weight decay and loss scale, and a factory that reads its schedule one count ahead (which must FAIL).
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("optax")

from adapters.base import Ran, Support
from conformance.cases import Case, ParamSpec, encode_value
from conformance.clauses import CLAUSES
from conformance.compare import FAIL, PASS, UNSUPPORTED, judge
from conformance.expected import expected
from conformance.generate import generate
from conformance.registry import resolve

TORCH = "torch:conformance.zoo.faithful_torch:FaithfulAdam"
OPTAX = "optax:conformance.zoo.faithful_optax:faithful_adam"
SEED = 0


def run_all(spec: str, max_examples: int) -> tuple[list[str], Counter[tuple[str, str]]]:
    """Every generated case the adapter does not declare unsupported; (problems, PASS count per clause/dtype)."""
    adapter = resolve(spec)
    info = adapter.info()
    problems: list[str] = []
    passed: Counter[tuple[str, str]] = Counter()
    for case in generate([c.id for c in CLAUSES], info.dtypes, SEED, max_examples):
        if any(info.support_for(c) is Support.UNSUPPORTED for c in case.clauses):
            continue
        v = judge(case, expected(case), adapter.run(case))
        if v.verdict == PASS:
            passed.update((c, case.dtype) for c in case.clauses)
        elif v.verdict != UNSUPPORTED:
            problems.append(f"{case.id} {case.dtype} {','.join(case.clauses)}: {v.verdict} {v.message[:300]}")
    return problems, passed


def assert_every_declared_clause_passes(spec: str, max_examples: int) -> None:
    problems, passed = run_all(spec, max_examples)
    assert not problems, f"{len(problems)} faithful case(s) flagged through {spec}:\n" + "\n".join(problems[:20])
    info = resolve(spec).info()
    assert set(info.dtypes) == {"float64", "float32", "float16", "bfloat16"}, info.dtypes
    missing: dict[str, list[str]] = defaultdict(list)
    for c in CLAUSES:
        if info.support_for(c.id) is Support.UNSUPPORTED:
            continue
        for d in info.dtypes:
            if not passed[(c.id, d)]:
                missing[c.id].append(d)
    # Every declared clause was exercised (and passed) in every declared dtype; the claim is not vacuous.
    # Clauses whose every case is refused per case (e.g. VAL-POSITIVE's loss_scale values) are allowed to be
    # missing only when they are explained in the notes.
    unexplained = {c: ds for c, ds in missing.items() if c not in info.notes}
    assert not unexplained, unexplained


def test_faithful_torch_optimizer_passes_every_declared_clause() -> None:
    assert_every_declared_clause_passes(TORCH, 3)


@pytest.mark.slow
def test_faithful_optax_factory_passes_every_declared_clause() -> None:
    assert_every_declared_clause_passes(OPTAX, 1)


# ---- hand-written corners ---------------------------------------------------------------------------

RNG = np.random.default_rng(11)


def case(dtype: str, hyper: dict, groups: tuple | None, shapes: dict[str, tuple[int, ...]], steps: int = 4,
         clauses: tuple[str, ...] = ("GRP-LR",)) -> Case:
    vals = {n: RNG.uniform(-1, 1, s).round(3) for n, s in shapes.items()}
    grads = [{n: {"dense": (RNG.uniform(0.5, 2, s) * RNG.choice([-1, 1], s)).round(3).tolist()}
              for n, s in shapes.items()} for _ in range(steps)]
    params = tuple(ParamSpec(n, s, vals[n].tolist()) for n, s in shapes.items())
    return Case(clauses=clauses, dtype=dtype, params=params,
                hyper={k: encode_value(v) for k, v in hyper.items()}, groups=groups, grads=tuple(grads))


SCHEDULE = {"$schedule": "ExponentialDecayLR", "args": {"learning_rate": 0.1, "decay_rate": 0.5, "decay_steps": 1}}


@pytest.mark.parametrize("spec", [TORCH, OPTAX])
@pytest.mark.parametrize("lr", [[0.1, 0.05, 0.02, 0.01], SCHEDULE], ids=["sequence", "schedule"])
def test_fixed_group_lr_beside_dynamic_optimizer_lr(spec: str, lr: object) -> None:
    """MindSpore's test_adam_group2 layout: one group keeps its fixed lr, the other follows the dynamic one."""
    c = case("float64", {"learning_rate": lr}, ({"params": ["a"], "lr": 0.01}, {"params": ["b"]}),
             {"a": (3,), "b": (2, 2)})
    v = judge(c, expected(c), resolve(spec).run(c))
    assert v.verdict == PASS, v.message


@pytest.mark.parametrize("spec", [TORCH, OPTAX])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_centralization_of_decayed_scaled_gradient(spec: str, dtype: str) -> None:
    """GRP-GC centralizes g/ls + wd*w (SPEC-NOTES 5); centralizing the raw gradient would FAIL here."""
    c = case(dtype, {"learning_rate": 0.05, "weight_decay": 0.5, "loss_scale": 8.0},
             ({"params": ["k"], "grad_centralization": True}, {"params": ["u"]}), {"k": (2, 16), "u": (3,)},
             clauses=("GRP-GC",))
    out = resolve(spec).run(c)
    assert isinstance(out, Ran), out
    v = judge(c, expected(c), out)
    assert v.verdict == PASS, v.message


def test_factory_reading_its_schedule_one_count_ahead_fails(tmp_path, monkeypatch) -> None:
    """The optax factory gets the schedule itself, so a factory misreading it is caught (issue 9 item 2)."""
    (tmp_path / "ahead_zoo.py").write_text(
        "from conformance.zoo import faithful_optax as f\n"
        "def ahead(learning_rate, b1=0.9, b2=0.999, eps=1e-8, nesterov=False):\n"
        "    lr = (lambda c: learning_rate(c + 1)) if callable(learning_rate) else learning_rate\n"
        "    return f.faithful_adam(lr, b1, b2, eps, nesterov)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    c = case("float64", {"learning_rate": SCHEDULE}, None, {"w": (4,)}, clauses=("LR-SCHEDULE",))
    assert judge(c, expected(c), resolve(OPTAX).run(c)).verdict == PASS
    assert judge(c, expected(c), resolve("optax:ahead_zoo:ahead").run(c)).verdict == FAIL
