"""Step-case generation: every feature pair meets, no case is wasted, the corners are there, structures recur.

The default run (seed 0, every dtype, ``--max-examples 6``) is what a merge waits on, so its claims are
checked on exactly that case set; a second seed checks that the plan, not luck, gives the coverage.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, settings

from conformance import features as F
from conformance.cases import Case, from_json
from conformance.dtypes import NAMES, rounded
from conformance.generate import generate
from conformance.strategies import (
    CLAUSE_CASES,
    GC_LAYOUTS,
    LAYOUTS,
    SIZES,
    SMALL_EPS,
    SPARSE_SHAPES,
    Fill,
    Stream,
)

DEFAULT = 6
MAX_GRAPH_STRUCTURES = 120  # float32 + float16 (MindSpore's dtypes); 220 before recipes shared structure
MAX_SHAPE_STRUCTURES = 100  # all dtypes; 107 before


@pytest.fixture(scope="module")
def default_run() -> list[Case]:
    return generate(F.STEP_CLAUSES, NAMES, 0, DEFAULT)


def test_every_pair_of_features_meets_in_a_default_run(default_run: list[Case]) -> None:
    missing = F.all_pairs() - F.pairs_covered(default_run)
    assert not missing, sorted(missing)[:10]


def test_pairwise_coverage_comes_from_the_plan_not_the_seed() -> None:
    cases = generate(F.STEP_CLAUSES, NAMES, 11, DEFAULT)
    assert not F.all_pairs() - F.pairs_covered(cases)


def test_plan_rows_respect_each_clause() -> None:
    rows = F.plan()
    assert rows, "an empty plan covers nothing"
    for (clause, dtype, slot), feats in rows.items():
        assert F.allowed(clause, feats), (clause, feats)
        assert 0 < slot < F.PLAN_SLOTS and dtype in NAMES
        assert (clause, slot) not in F.CORNERS


def test_no_wasted_cases(default_run: list[Case]) -> None:
    trivial = [c.id for c in default_run if F.is_trivial(c)]
    assert not trivial, trivial


def test_is_trivial_recognises_what_cannot_deviate() -> None:
    base = dict(format="adam-conformance/case@1", clauses=["UPD-MOMENTS"], dtype="float32")
    zero = from_json({**base, "params": [{"name": "w0", "shape": [2], "values": [0.0, 0.0]}],
                      "grads": [{"w0": {"dense": [0.0, 0.0]}}]})
    frozen = from_json({**base, "params": [{"name": "w0", "shape": [2], "values": [1.0, 2.0]}],
                        "hyper": {"learning_rate": 0.0}, "grads": [{"w0": {"dense": [0.5, 1.0]}}]})
    live = from_json({**base, "params": [{"name": "w0", "shape": [2], "values": [0.0, 0.0]}],
                      "grads": [{"w0": {"dense": [0.0, 1.0]}}]})
    assert F.is_trivial(zero) and F.is_trivial(frozen) and not F.is_trivial(live)


def test_every_step_clause_leads_cases_in_every_dtype(default_run: list[Case]) -> None:
    per = Counter((c.clauses[0], c.dtype) for c in default_run)
    for clause in F.STEP_CLAUSES:
        for dtype in NAMES:
            assert per[(clause, dtype)] >= DEFAULT - 1, (clause, dtype, per[(clause, dtype)])


def test_values_are_representable_and_cases_reload(default_run: list[Case]) -> None:
    for c in default_run[::7]:
        for v in c.param_values().values():
            np.testing.assert_array_equal(rounded(v, c.dtype), v)
        assert from_json(c.to_json()).id == c.id


def _by_title(cases: list[Case], corner: str) -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = {}
    for c in cases:
        if c.title.startswith(corner + ":"):
            out.setdefault(c.dtype, []).append(c)
    return out


def test_long_runs_in_every_dtype(default_run: list[Case]) -> None:
    long = _by_title(default_run, "long-run")
    assert set(long) == set(NAMES)
    for cases in long.values():
        for c in cases:
            assert c.num_steps >= 1000 and c.hyper["beta2"] >= 0.999
            assert sum(int(np.prod(p.shape)) for p in c.params) <= 2  # cheap because small
    assert max(c.num_steps for cs in long.values() for c in cs) <= 10_000


def test_dead_elements_with_eps_below_the_dtype(default_run: list[Case]) -> None:
    dead = _by_title(default_run, "dead-elements")
    assert set(dead) == set(NAMES)
    for dtype, cases in dead.items():
        for c in cases:
            eps = c.hyper["eps"]
            assert eps < min(SMALL_EPS[dtype]) / 1e3
            if dtype == "float16":
                assert rounded(eps, dtype) == 0.0  # eps vanishes in the storage dtype
            grads = [np.stack([c.gradients(t)[n] for t in range(c.num_steps)]) for n in c.names]
            assert any(np.any(np.all(g == 0, axis=0)) for g in grads if g[0].size)  # always-zero elements
            assert any(np.any(g) for g in grads)


def test_sparse_with_loss_scale_and_decay(default_run: list[Case]) -> None:
    cases = [c for c in default_run if any(c.is_sparse(n) for n in c.names)
             and c.hyper.get("loss_scale", 1.0) != 1.0 and c.hyper.get("weight_decay")]
    assert {c.dtype for c in cases} == set(NAMES)
    assert all({"SPR-DECAY", "DEC-LOSS-SCALE"} <= set(c.clauses) for c in cases)


def test_fixed_group_lr_beside_a_dynamic_lr(default_run: list[Case]) -> None:
    mixed = [c for c in default_run if F.features_of(c)["groups"] == "lr-mixed"]
    assert {c.dtype for c in mixed} == set(NAMES)
    assert {F.features_of(c)["lr"] for c in mixed} == set(F.FACTORS["lr"])
    assert all("GRP-LR" in c.clauses for c in mixed)


def test_shapes_come_from_the_palette(default_run: list[Case]) -> None:
    palette = set(SIZES) | {0}
    for layout in (*LAYOUTS, *GC_LAYOUTS, (SPARSE_SHAPES)):
        for shape in layout:
            assert set(shape) <= palette, shape
    seen = {d for c in default_run for p in c.params for d in p.shape}
    assert seen <= palette, seen - palette
    dims = {p.shape for c in default_run for p in c.params}
    assert () in dims and (0,) in dims and len({d for d in seen if d > 16}) >= 4, dims


def test_structures_recur(default_run: list[Case]) -> None:
    graph = {F.graph_key(c) for c in default_run if c.dtype in ("float32", "float16")}
    shapes = {F.shape_key(c) for c in default_run}
    assert len(graph) <= MAX_GRAPH_STRUCTURES, len(graph)
    assert len(shapes) <= MAX_SHAPE_STRUCTURES, len(shapes)


def test_selecting_clauses_does_not_change_their_cases(default_run: list[Case]) -> None:
    alone = generate(["UPD-NESTEROV", "SPR-DECAY"], ("float16",), 0, DEFAULT)
    assert {c.id for c in alone} <= {c.id for c in default_run}


def test_same_seed_same_cases() -> None:
    a = [c.id for c in generate(["GRP-LR", "UPD-EPS"], ("bfloat16",), 3, 4)]
    b = [c.id for c in generate(["GRP-LR", "UPD-EPS"], ("bfloat16",), 3, 4)]
    c = [c.id for c in generate(["GRP-LR", "UPD-EPS"], ("bfloat16",), 4, 4)]
    assert a == b and a != c


def test_hypothesis_still_shrinks_the_recipe() -> None:
    """Shrinking acts on the recipe: the smallest UPD-BIAS case with 20+ steps has exactly 20."""
    opts = settings(max_examples=200, database=None, phases=[Phase.generate, Phase.shrink], deadline=None,
                    suppress_health_check=list(HealthCheck))
    found = find(CLAUSE_CASES["UPD-BIAS"]("float32"), lambda c: c.num_steps >= 20, settings=opts)
    assert found.num_steps == 20


def test_fill_is_a_pure_function_of_the_recipe() -> None:
    f = Fill(7, -2.0, 1.0, "negative", 0.2, "powers")
    a, b = f.sample((3, 5), "float16", "x"), f.sample((3, 5), "float16", "x")
    np.testing.assert_array_equal(a, b)
    assert np.all(a <= 0) and np.any(a == 0)
    nz = np.abs(a[a != 0])
    np.testing.assert_array_equal(np.log2(nz), np.round(np.log2(nz)))  # powers of two
    s = Stream(f, "steady", 0.5).arrays([(4,)], 3, "float32")
    np.testing.assert_array_equal(s[0][0], s[2][0])


def test_recharge_moves_a_spilled_failure_to_the_clause_that_fails_alone() -> None:
    def rec(clauses: list[str], verdict: str = "FAIL", dtype: str = "float32", **kw: object) -> dict:
        return {"adapter": "a", "dtype": dtype, "clauses": clauses, "verdict": verdict, "deviates": clauses, **kw}

    records = [rec(["UPD-NESTEROV"]), rec(["UPD-MOMENTS", "UPD-NESTEROV", "DEC-GROUP"]),
               rec(["GRP-LR", "LR-SEQUENCE"]),  # nothing fails alone: the combination keeps both
               rec(["DEC-L2", "UPD-NESTEROV"], explained_by=["decoupled"], deviates=["DEC-L2"]),
               rec(["UPD-MOMENTS", "UPD-NESTEROV"], dtype="float16"),  # other dtype: no solo failure there
               rec(["UPD-MOMENTS"], verdict="PASS")]
    out = F.recharge(records)
    assert out[1]["deviates"] == ["UPD-NESTEROV"] and out[1]["recharged_from"][0] == "UPD-MOMENTS"
    assert out[2]["deviates"] == ["GRP-LR", "LR-SEQUENCE"] and "recharged_from" not in out[2]
    assert out[3]["deviates"] == ["DEC-L2"] and out[4]["deviates"] == ["UPD-MOMENTS", "UPD-NESTEROV"]
    assert records[1]["deviates"] == ["UPD-MOMENTS", "UPD-NESTEROV", "DEC-GROUP"]  # inputs untouched


def test_cases_as_drawn_list_only_their_clause_and_planned_ones_every_feature(default_run: list[Case]) -> None:
    for c in default_run:
        if not c.title.startswith(("pairwise:", "long-run", "dead-elements", "sparse-loss-scale",
                                   "fixed-beside-dynamic")):
            assert c.clauses in ((c.clauses[0],), ("DEC-FILTER", "DEC-L2")), (c.clauses, c.title)
        f = F.features_of(c)
        if f["nesterov"] == "on":
            assert {"UPD-NESTEROV", "SPR-NESTEROV"} & set(c.clauses)
        if f["sparse"] == "on":
            assert all(cl.startswith(("SPR-", "GRP-", "LR-", "DEC-LOSS")) for cl in c.clauses), c.clauses


def test_upd_eps_cases_have_the_eps_their_title_names_and_gradients_beside_it() -> None:
    """A stream shares its structure (eps included) across its slots; a draft's gradients, drawn around its
    own eps, move with the shared eps, and the title names the eps the case has (an audit found titles
    naming one eps on cases with another, and gradients decades away from the eps under test)."""
    import math
    import re

    from conformance.dtypes import NAMES
    from conformance.generate import generate
    from conformance.strategies import MAGNITUDES

    for case in generate(["UPD-EPS"], NAMES, 0, 6):
        eps = case.hyper["eps"]
        if case.title.startswith("dead-elements"):
            assert f"eps={eps:.3g}" in case.title, case.title
            continue
        named = re.search(r"\|g\| near eps=([0-9.e+-]+)", case.title)
        assert named and float(named.group(1)) == float(f"{eps:.3g}"), (case.title, eps)
        if case.hyper.get("loss_scale", 1.0) != 1.0:
            continue  # the gradients are scaled by the loss scale on purpose
        lo, hi = MAGNITUDES[case.dtype]
        want_lo, want_hi = max(lo, math.log10(eps) - 2), min(hi, math.log10(eps) + 2)
        g = np.concatenate([np.abs(np.asarray(v, dtype=np.float64)).ravel() for t in range(case.num_steps)
                            for v in case.gradients(t).values()])
        g = g[g > 0]
        assert g.size, case.id
        assert want_lo - 0.1 <= np.log10(g).min() and np.log10(g).max() <= want_hi + 0.1, (case.id, eps)


def test_the_budget_script_measures_what_the_plan_buys(capsys: pytest.CaptureFixture[str]) -> None:
    """``scripts/case_budget.py --no-plan`` (docs/performance.md's compile floor without the pairwise
    plan) generates without the plan's rows, and only for the measurement: the plan is back afterwards."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "case_budget.py"
    spec = importlib.util.spec_from_file_location("case_budget", path)
    assert spec is not None and spec.loader is not None
    budget = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(budget)

    def covered(*argv: str) -> int:
        assert budget.main(list(argv)) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("pairs covered:"))
        return int(line.split()[2])

    total = len(F.all_pairs())
    assert covered() == total
    assert covered("--no-plan") < total
    assert len(F.pairs_covered(generate(F.STEP_CLAUSES, NAMES, 0, DEFAULT))) == total
