"""What a step case exercises, and a static plan that makes every pair of features meet.

Each clause's cases used to draw their features in isolation, so some pairs never met (no nesterov
case had weight decay or groups). Here the features form factors -- decay, groups, loss scale,
nesterov, learning-rate form, sparse gradients, dtype -- and ``plan()`` assigns a feature row to some
slots of some (clause, dtype) streams so that every feasible *pair* of factor values occurs in a
default run (``--max-examples 6``): a greedy (AETG-style) pairwise covering array, computed from the
catalogue alone, never from the clauses or dtypes a run selects, so selecting clauses never changes
another clause's cases. Hypothesis still draws every value of every case; the plan only switches
features on and off. Slot 0 of every stream stays as the clause draws it alone.

The measures used in tests and in ``docs/case-budget.md`` live here too: ``features_of`` (read
back from a built case), ``pairs_covered``, ``is_trivial`` and the structure keys that stand in for
compilations (``shape_key``: shape tuples; ``graph_key``: what a graph compiler such as MindSpore
bakes into a compiled optimizer).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .cases import Case, SparseGrad
from .dtypes import NAMES

FACTORS: dict[str, tuple[str, ...]] = {
    "decay": ("off", "on", "filter"),
    "groups": ("none", "plain", "lr", "lr-mixed", "wd", "gc", "order"),
    "loss_scale": ("off", "on"),
    "nesterov": ("off", "on"),
    "lr": ("float", "int", "tensor0d", "list", "tensor1d", "schedule", "dynamic"),
    "sparse": ("off", "on"),
    "dtype": NAMES,
}
FIXED_LR = ("float", "int", "tensor0d")
DYNAMIC_LR = ("list", "tensor1d", "schedule", "dynamic")


class Features(NamedTuple):
    """One value per factor (dtype is the stream's)."""

    decay: str = "off"
    groups: str = "none"
    loss_scale: str = "off"
    nesterov: str = "off"
    lr: str = "float"
    sparse: str = "off"


# What each step clause needs of its cases (factor -> allowed values); other factors are free.
_DENSE = {"sparse": ("off",)}
_SPARSE = {"sparse": ("on",), "groups": ("none", "plain", "lr", "lr-mixed", "wd", "order")}
REQUIRES: dict[str, dict[str, tuple[str, ...]]] = {
    "UPD-MOMENTS": _DENSE, "UPD-BIAS": _DENSE, "UPD-EPS": _DENSE, "UPD-DTYPE": _DENSE,
    "UPD-NESTEROV": {**_DENSE, "nesterov": ("on",)},
    "DEC-L2": {**_DENSE, "decay": ("on", "filter"), "groups": ("none",)},
    "DEC-FILTER": {**_DENSE, "decay": ("filter",), "groups": ("none",)},
    "DEC-GROUP": {**_DENSE, "groups": ("wd",)},
    "DEC-LOSS-SCALE": {**_DENSE, "loss_scale": ("on",)},
    "GRP-LR": {**_DENSE, "groups": ("lr", "lr-mixed")},
    "GRP-ORDER": {**_DENSE, "groups": ("order",)},
    "GRP-GC": {**_DENSE, "groups": ("gc",)},
    "LR-FIXED": {**_DENSE, "lr": FIXED_LR},
    "LR-SEQUENCE": {**_DENSE, "lr": ("list", "tensor1d")},
    "LR-SCHEDULE": {**_DENSE, "lr": ("schedule", "dynamic")},
    "SPR-DENSE-EQUIV": _SPARSE, "SPR-DUPLICATES": _SPARSE,
    "SPR-DECAY": {**_SPARSE, "decay": ("on", "filter")},
    "SPR-NESTEROV": {**_SPARSE, "nesterov": ("on",)},
}
STEP_CLAUSES: tuple[str, ...] = tuple(REQUIRES)

PLAN_SLOTS = 6  # the default --max-examples: the plan is complete at that many cases per stream
# Fixed corners (slot, clause) -> corner name; issue 9's step-level corners, one per dtype per run.
CORNERS: dict[tuple[str, int], str] = {
    ("UPD-BIAS", 5): "long-run",  # t up to 1e4, beta2 up to 0.99999, on a tiny parameter
    ("UPD-EPS", 5): "dead-elements",  # eps below the dtype's resolution, elements whose g is always 0
    ("SPR-DECAY", 5): "sparse-loss-scale",  # sparse + loss_scale + weight decay (MindSpore's own test)
    ("GRP-LR", 5): "fixed-beside-dynamic",  # a fixed group lr next to a dynamic optimizer lr
}
CORNER_FEATURES: dict[str, Features] = {
    "long-run": Features(),
    "dead-elements": Features(),
    "sparse-loss-scale": Features(decay="on", loss_scale="on", sparse="on"),
    "fixed-beside-dynamic": Features(groups="lr-mixed", lr="list"),
}


def feasible(features: Features) -> bool:
    """Combinations a case can have: a sparse gradient is never centralized (GRP-GC is dense only);
    the name filter applies only to ungrouped parameters, so grouped + filter reads as grouped decay."""
    return not (features.sparse == "on" and features.groups == "gc")


def allowed(clause: str, features: Features) -> bool:
    req = REQUIRES[clause]
    return feasible(features) and all(getattr(features, k) in v for k, v in req.items())


def _value_pairs(row: Mapping[str, str]) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    items = sorted(row.items())
    return {(a, b) for a, b in itertools.combinations(items, 2)}


def all_pairs() -> set[tuple[tuple[str, str], tuple[str, str]]]:
    """Every feasible pair of (factor, value) across two factors."""
    out = set()
    for (f1, vs1), (f2, vs2) in itertools.combinations(sorted(FACTORS.items()), 2):
        for v1 in vs1:
            for v2 in vs2:
                row = dict(Features()._asdict())
                row.update({f1: v1, f2: v2})
                row.pop("dtype", None)
                if feasible(Features(**row)):
                    out.add(((f1, v1), (f2, v2)))
    return out


def _row(features: Features, dtype: str) -> dict[str, str]:
    return {**features._asdict(), "dtype": dtype}


def _greedy_row(clause: str, dtype: str, uncovered: set[Any]) -> tuple[Features, int]:
    """The allowed feature row with the most uncovered pairs, factor by factor (AETG): a value scores
    the pairs it covers with the factors chosen so far, then those it could still cover with the
    rest; ties go to the first value listed (features off), so planned cases add no more than needed."""
    chosen: dict[str, str] = {"dtype": dtype}
    req = REQUIRES[clause]
    for f in (f for f in FACTORS if f != "dtype"):
        best, best_score = None, (-1, -1)
        for v in req.get(f, FACTORS[f]):
            trial = {**chosen, f: v}
            if not _partial_ok(trial):
                continue
            now = sum(1 for p in _value_pairs(trial) if p in uncovered)
            later = sum(1 for p in uncovered if (f, v) in p and not all(x[0] in trial for x in p))
            if (now, later) > best_score:
                best, best_score = v, (now, later)
        assert best is not None
        chosen[f] = best
    feats = Features(**{k: v for k, v in chosen.items() if k != "dtype"})
    gain = sum(1 for p in _value_pairs(chosen) if p in uncovered)
    return feats, gain


def _partial_ok(row: Mapping[str, str]) -> bool:
    return not (row.get("sparse") == "on" and row.get("groups") == "gc")


def build_plan(clauses: Sequence[str] = STEP_CLAUSES, dtypes: Sequence[str] = NAMES,
               slots: int = PLAN_SLOTS) -> dict[tuple[str, str, int], Features]:
    """(clause, dtype, slot) -> Features, covering every feasible pair; deterministic."""
    uncovered = all_pairs()
    plan: dict[tuple[str, str, int], Features] = {}
    for slot in range(1, slots):
        for clause in clauses:
            if (clause, slot) in CORNERS:
                continue
            for dtype in dtypes:
                if not uncovered:
                    return plan
                feats, gain = _greedy_row(clause, dtype, uncovered)
                if gain == 0:
                    continue
                plan[(clause, dtype, slot)] = feats
                uncovered -= _value_pairs(_row(feats, dtype))
    assert not uncovered, f"the plan leaves pairs uncovered: {sorted(uncovered)[:5]}"
    return plan


@functools.cache
def plan() -> dict[tuple[str, str, int], Features]:
    """The default plan (built on first use: a quarter second)."""
    return build_plan()


# ---- reading a built case back -----------------------------------------------------------------

def _lr_kind(value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        return "int"
    if isinstance(value, dict):
        if "$tensor" in value:
            return "tensor0d" if np.ndim(value["$tensor"]) == 0 else "tensor1d"
        if "$schedule" in value:
            return "schedule"
        if "$dynamic_lr" in value:
            return "dynamic"
        return "float"
    if isinstance(value, list):
        return "list"
    return "float"


def features_of(case: Case) -> dict[str, str]:
    """The factor values a case actually has, read from its content (not from the plan)."""
    h = case.hyper
    wd = h.get("weight_decay", 0.0)
    filt = any("beta" in n or "gamma" in n for n in case.names)
    decay = "off" if not wd else ("filter" if filt else "on")
    groups = "none"
    if case.groups is not None:
        gs = [g for g in case.groups if "order_params" not in g]
        top = _lr_kind(h.get("learning_rate", 1e-3)) in DYNAMIC_LR
        group_dyn = {_lr_kind(g["lr"]) in DYNAMIC_LR for g in gs if "lr" in g}
        if any("order_params" in g for g in case.groups):
            groups = "order"
        elif any(g.get("grad_centralization") for g in gs):
            groups = "gc"
        elif group_dyn and (len(group_dyn) > 1 or top not in group_dyn):
            groups = "lr-mixed"
        elif group_dyn:
            groups = "lr"
        elif any("weight_decay" in g for g in gs):
            groups = "wd"
        else:
            groups = "plain"
    ls = h.get("loss_scale", 1.0)
    return {"decay": decay, "groups": groups, "loss_scale": "off" if ls in (1, 1.0) else "on",
            "nesterov": "on" if h.get("use_nesterov") is True else "off",
            "lr": _lr_kind(h.get("learning_rate", 1e-3)),
            "sparse": "on" if any(case.is_sparse(n) for n in case.names) else "off", "dtype": case.dtype}


def pairs_covered(cases: Iterable[Case]) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    out: set[Any] = set()
    for c in cases:
        if c.kind == "steps":
            out |= _value_pairs(features_of(c))
    return out


def is_trivial(case: Case) -> bool:
    """Nothing can deviate: no element at all, every weight and gradient zero, or lr 0 for every update."""
    if case.kind != "steps":
        return False
    if not any(int(np.prod(p.shape)) for p in case.params):
        return True
    grads = [g.values if isinstance(g, SparseGrad) else g for t in range(case.num_steps)
             for g in case.gradients(t).values()]
    if not any(np.any(v) for v in case.param_values().values()) and not any(np.any(g) for g in grads):
        return True
    lrs = [case.hyper.get("learning_rate", 1e-3)]
    if case.groups is not None:
        lrs = [g.get("lr", lrs[0]) for g in case.groups if "order_params" not in g]
    return all(_all_zero(lr, case.num_steps) for lr in lrs)


def _all_zero(lr: Any, steps: int) -> bool:
    if isinstance(lr, dict) and "$tensor" in lr:
        lr = lr["$tensor"]
    if isinstance(lr, list):
        return not any(lr[:steps])
    return isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr == 0


# ---- structure keys: proxies for compilations ---------------------------------------------------

def shape_key(case: Case) -> tuple:
    """The parameter structure: dtype and (name, shape) of every parameter."""
    return (case.dtype, tuple((p.name, p.shape) for p in case.params))


def _lr_structure(value: Any) -> Any:
    kind = _lr_kind(value)
    if kind in ("float", "int", "tensor0d"):
        return "fixed"
    if kind == "list":
        return ("seq", len(value))
    if kind == "tensor1d":
        return ("seq", len(value["$tensor"]))
    if kind == "schedule":
        return ("sched", value["$schedule"], tuple(sorted(value["args"].items())))
    return ("seq", value["$dynamic_lr"], tuple(sorted((k, str(v)) for k, v in value["args"].items())))


def graph_key(case: Case) -> tuple:
    """What a graph compiler bakes in (MindSpore's key: shapes, graph constants, lr structure, sparse nnz)."""
    h = case.hyper
    consts = tuple((k, repr(h.get(k))) for k in ("beta1", "beta2", "eps", "weight_decay", "loss_scale",
                                                  "use_nesterov"))
    groups = None if case.groups is None else tuple(
        tuple(sorted((k, repr(v) if k != "lr" else _lr_structure(v)) for k, v in g.items())) for g in case.groups)
    nnz = tuple((n, len(case.grads[0][n]["sparse"]["indices"])) for n in case.names if case.is_sparse(n)) \
        if case.grads else ()
    return (*shape_key(case), consts, _lr_structure(h.get("learning_rate", 1e-3)), groups, nnz)


def layout_key(case: Case) -> tuple:
    """What a JIT step function is traced for (optax's key): shapes, group labels, which parameters
    decay or centralize, nesterov, whether gradients are scaled -- not the values."""
    h = case.hyper
    top_wd = h.get("weight_decay", 0.0)
    entries = []
    if case.groups is None:
        entries = [(p.name, p.shape, 0, bool(top_wd) and "beta" not in p.name and "gamma" not in p.name, False)
                   for p in case.params]
    else:
        shapes = {p.name: p.shape for p in case.params}
        gs = [g for g in case.groups if "order_params" not in g]
        for k, g in enumerate(gs):
            wd = g.get("weight_decay", top_wd)
            gc = bool(g.get("grad_centralization"))
            entries += [(n, shapes[n], k, bool(wd), gc and len(shapes[n]) >= 2 and shapes[n][1] % 16 == 0)
                        for n in g["params"]]
    return (case.dtype, tuple(sorted(entries)), h.get("use_nesterov", False), h.get("loss_scale", 1.0) != 1.0)


# ---- charging a planned case's failure ------------------------------------------------------------

def recharge(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Charge an unexplained failure of a multi-clause case to the clauses that also fail on their own.

    A planned case lists every clause its features exercise. When it FAILs (or ERRORs) and no
    alternative reading explains it, the verdict charges all of them, so one deviation (nesterov, say)
    would spill into every clause it met. Where the same adapter, in the same dtype, also fails cases
    that list one of those clauses alone, the failure is charged to those clauses only; otherwise it
    keeps charging all of them (the combination itself may be what fails). Records are not changed in
    place; a re-charged record says so in ``recharged_from``.
    """
    bad = ("FAIL", "ERROR")
    alone = {(r["adapter"], r["dtype"], c) for r in records if r.get("verdict") in bad
             for c in (r.get("deviates") or r["clauses"]) if len(r.get("deviates") or r["clauses"]) == 1}
    out = []
    for r in records:
        r = dict(r)
        charged = list(r.get("deviates") or r.get("clauses") or [])
        if r.get("verdict") in bad and len(charged) > 1 and not r.get("explained_by"):
            keep = [c for c in charged if (r["adapter"], r["dtype"], c) in alone]
            if keep and keep != charged:
                r["recharged_from"], r["deviates"] = charged, keep
        out.append(r)
    return out
