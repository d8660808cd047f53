"""Hypothesis strategies that generate conformance cases: a vocabulary of the Adam domain.

Read the names as sentences: ``update_cases`` draw ``param_sets`` from ``layouts`` and feed them
``gradient_streams``; ``group_layouts`` split names into groups; ``lr_forms`` choose how a learning
rate is given; ``sparse_gradients`` repeat, shuffle and skip rows; ``invalid_constructions`` break
one constructor argument at a time. ``CLAUSE_CASES`` maps every clause ID to the strategy that
exercises it, so every clause gets cases in every dtype.

Shapes come from a small catalogue of layouts so that cases share structure: JIT and graph
compilers (optax, MindSpore) compile once per structure, not once per case.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .cases import Case, DynamicLRValue, ParamRef, ParamSpec, ScheduleValue, TensorValue, encode_value
from .dtypes import rounded

# ---- the catalogue ---------------------------------------------------------------------------------

LAYOUTS: tuple[tuple[tuple[int, ...], ...], ...] = (
    ((3,),),
    ((2, 3), (4,)),
    ((), (5,)),
    ((0,), (3,)),
    ((2, 2, 3), (3,)),
    ((2, 1, 2, 3), (2,)),
    ((4,), (4,), (4,)),  # several parameters of equal shape
)
GC_LAYOUTS: tuple[tuple[tuple[int, ...], ...], ...] = (
    ((2, 16), (3,)),
    ((2, 32, 1), (2, 3)),
    ((3, 16), (16,)),
)
SPARSE_SHAPES: tuple[tuple[int, ...], ...] = ((5, 3), (6, 2), (4, 1))
PLAIN_NAMES = ("w0", "w1", "w2")
FILTER_NAMES = ("bn.beta", "ln.gamma", "Beta_w", "conv.Gamma", "betas_gamma", "dense.weight", "alphabet")

# Gradient magnitudes (log10) per dtype: wide for float32/64, inside float16's range
# (|g| <= 100 keeps g*g finite in float16).
MAGNITUDES = {"float64": (-12.0, 6.0), "float32": (-12.0, 6.0), "float16": (-3.0, 2.0), "bfloat16": (-6.0, 4.0)}
# Away from eps: used where a clause other than UPD-EPS is under test.
FIRM = {"float64": (-2.0, 3.0), "float32": (-2.0, 3.0), "float16": (-1.0, 2.0), "bfloat16": (-2.0, 3.0)}


# ---- numbers ---------------------------------------------------------------------------------------

def log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    """10**x for x uniform in [lo, hi]: magnitudes spread over decades."""
    return st.floats(lo, hi).map(lambda x: float(10.0**x))


def betas() -> st.SearchStrategy[tuple[float, float]]:
    """(beta1, beta2): defaults, near 0, near 1, and anywhere in between."""
    one = st.one_of(
        st.sampled_from([0.9, 0.5, 0.0001, 0.99]),
        log_uniform(-4, -0.3),
        st.floats(0.9, 0.99999),
        st.floats(0.01, 0.99),
    )
    return st.tuples(one, st.one_of(st.just(0.999), one))


def learning_rates() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([1e-3, 0.1, 1.0, 0.0]), log_uniform(-4, 0))


def small_epsilons(dtype: str) -> st.SearchStrategy[float]:
    """eps small enough not to matter at firm gradient magnitudes.

    Half types get eps >= 1e-3: below their resolution (1e-8 is 0 in float16) the update divides
    an underflowed sqrt(v) by almost nothing in every implementation; UPD-EPS explores that corner.
    """
    return st.sampled_from([1e-3, 1e-2] if dtype in ("float16", "bfloat16") else [1e-8, 1e-10, 1e-12])


def epsilons() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([1e-8, 1e-6, 1e-3, 1.0]), log_uniform(-12, 0))


# ---- tensors ---------------------------------------------------------------------------------------

def signed_magnitudes(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.just(0.0),
        st.tuples(st.sampled_from([-1.0, 1.0]), st.floats(lo, hi)).map(lambda se: se[0] * 10.0**se[1]),
    )


def tensors(shape: tuple[int, ...], lo: float, hi: float) -> st.SearchStrategy[np.ndarray]:
    """Arrays whose elements span [10**lo, 10**hi] in magnitude, with zeros and both signs."""
    return hnp.arrays(np.float64, shape, elements=signed_magnitudes(lo, hi))


@st.composite
def gradient_streams(draw: st.DrawFn, shapes: Sequence[tuple[int, ...]], steps: int, dtype: str,
                     span: tuple[float, float]) -> list[list[np.ndarray]]:
    """Per step, one gradient per shape: fresh, all-zero, repeated, sign-flipped or shrinking."""
    lo, hi = span
    out: list[list[np.ndarray]] = []
    for t in range(steps):
        kind = draw(st.sampled_from(["fresh", "fresh", "zero", "repeat", "flip", "shrink"])) if t else "fresh"
        if kind == "fresh":
            step = [draw(tensors(s, lo, hi)) for s in shapes]
        elif kind == "zero":
            step = [np.zeros(s) for s in shapes]
        elif kind == "repeat":
            step = [g.copy() for g in out[-1]]
        elif kind == "flip":
            step = [-g for g in out[-1]]
        else:
            step = [g * 0.1 for g in out[-1]]
        out.append([rounded(g, dtype) for g in step])
    return out


def param_values(shape: tuple[int, ...], dtype: str) -> st.SearchStrategy[np.ndarray]:
    lo, hi = FIRM[dtype]
    return tensors(shape, lo - 1, hi - 1).map(lambda a: rounded(a, dtype))


def layouts(catalogue: Sequence[tuple[tuple[int, ...], ...]] = LAYOUTS) -> st.SearchStrategy[Any]:
    return st.sampled_from(list(catalogue))


# ---- assembling a case -----------------------------------------------------------------------------

def _listify(a: np.ndarray) -> Any:
    return a.tolist()


def make_case(clauses: Sequence[str], dtype: str, params: Sequence[tuple[str, np.ndarray]],
              grads: Sequence[dict[str, Any]], hyper: dict[str, Any] | None = None,
              groups: Sequence[dict[str, Any]] | None = None, title: str = "") -> Case:
    """Plain data in, a Case out: tensors become lists, hyperparameters JSON-encoded."""
    specs = tuple(ParamSpec(n, tuple(v.shape), _listify(v)) for n, v in params)
    enc_grads = tuple({n: ({"sparse": {"indices": g[0].tolist(), "values": g[1].tolist()}} if isinstance(g, tuple)
                           else {"dense": _listify(g)}) for n, g in step.items()} for step in grads)
    enc_groups = None if groups is None else tuple({k: (list(v) if k in ("params", "order_params")
                                                        else encode_value(v)) for k, v in g.items()}
                                                   for g in groups)
    return Case(tuple(clauses), dtype, specs, "steps", {k: encode_value(v) for k, v in (hyper or {}).items()},
                enc_groups, None, enc_grads, title)


@st.composite
def param_sets(draw: st.DrawFn, dtype: str, names: Sequence[str] = PLAIN_NAMES,
               catalogue: Sequence[tuple[tuple[int, ...], ...]] = LAYOUTS) -> list[tuple[str, np.ndarray]]:
    layout = draw(layouts(catalogue))
    chosen = draw(st.permutations(list(names)))[: len(layout)] if len(names) >= len(layout) else list(names)
    if names is PLAIN_NAMES:
        chosen = list(PLAIN_NAMES[: len(layout)])
    return [(n, draw(param_values(s, dtype))) for n, s in zip(chosen, layout)]


def _steps(params: Sequence[tuple[str, np.ndarray]], stream: list[list[np.ndarray]]) -> list[dict[str, Any]]:
    return [{n: g for (n, _), g in zip(params, step)} for step in stream]


@st.composite
def dense_cases(draw: st.DrawFn, clauses: Sequence[str], dtype: str, *, steps: st.SearchStrategy[int] | None = None,
                span: tuple[float, float] | None = None, eps: st.SearchStrategy[float] | None = None,
                names: Sequence[str] = PLAIN_NAMES, extra: dict[str, Any] | None = None,
                catalogue: Sequence[tuple[tuple[int, ...], ...]] = LAYOUTS, title: str = "") -> Case:
    """The common shape of a dense trajectory case; families vary the arguments."""
    params = draw(param_sets(dtype, names, catalogue))
    n = draw(steps if steps is not None else st.integers(1, 6))
    stream = draw(gradient_streams([p.shape for _, p in params], n, dtype, span if span is not None else FIRM[dtype]))
    b1, b2 = draw(betas())
    eps_value = draw(eps if eps is not None else small_epsilons(dtype))
    hyper = {"learning_rate": draw(learning_rates()), "beta1": b1, "beta2": b2, "eps": eps_value}
    hyper.update(extra or {})
    return make_case(clauses, dtype, params, _steps(params, stream), hyper, title=title or f"{n} steps")


# ---- UPD ---------------------------------------------------------------------------------------------

def update_cases(dtype: str) -> st.SearchStrategy[Case]:
    return dense_cases(["UPD-MOMENTS"], dtype, title="moments over firm gradients")


def bias_cases(dtype: str) -> st.SearchStrategy[Case]:
    return dense_cases(["UPD-BIAS", "UPD-MOMENTS"], dtype, steps=st.integers(10, 60),
                       catalogue=LAYOUTS[:2], title="long run: beta powers")


@st.composite
def eps_cases(draw: st.DrawFn, dtype: str) -> Case:
    """|g| near eps (and exactly zero): where eps placement shows."""
    eps = draw(epsilons() if dtype in ("float32", "float64") else st.sampled_from([1e-3, 1e-2, 0.1, 1.0]))
    e = math.log10(eps)
    lo, hi = MAGNITUDES[dtype]
    span = (max(lo, e - 2), min(hi, e + 2))
    return draw(dense_cases(["UPD-EPS"], dtype, span=span, eps=st.just(eps), title=f"|g| near eps={eps:.3g}"))


def nesterov_cases(dtype: str) -> st.SearchStrategy[Case]:
    return dense_cases(["UPD-NESTEROV"], dtype, extra={"use_nesterov": True}, title="use_nesterov=True")


def dtype_cases(dtype: str) -> st.SearchStrategy[Case]:
    return dense_cases(["UPD-DTYPE"], dtype, span=MAGNITUDES[dtype], title="full magnitude range")


# ---- DEC -----------------------------------------------------------------------------------------------

def weight_decays() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([0.01, 0.1, 1.0]), log_uniform(-4, 0))


@st.composite
def decay_cases(draw: st.DrawFn, dtype: str) -> Case:
    return draw(dense_cases(["DEC-L2"], dtype, extra={"weight_decay": draw(weight_decays())}, title="coupled L2"))


@st.composite
def filter_cases(draw: st.DrawFn, dtype: str) -> Case:
    return draw(dense_cases(["DEC-FILTER", "DEC-L2"], dtype, names=FILTER_NAMES,
                            extra={"weight_decay": draw(weight_decays())}, title="beta/gamma name filter"))


@st.composite
def loss_scale_cases(draw: st.DrawFn, dtype: str) -> Case:
    # float16 tops out at 65504: scaled gradients (|g| <= 100) must stay finite.
    ls = draw(st.sampled_from([2.0, 0.5, 3.0, 64.0] if dtype == "float16" else [2.0, 1024.0, 0.5, 3.0, 65536.0]))
    wd = draw(st.sampled_from([0.0, 0.01, 0.1]))
    case = draw(dense_cases(["DEC-LOSS-SCALE"], dtype, extra={"loss_scale": ls, "weight_decay": wd},
                            title=f"loss_scale={ls}, weight_decay={wd}"))
    return _scale_grads(case, ls)


def _scale_grads(case: Case, factor: float) -> Case:
    """Gradients as a loss-scaled backward pass produces them: multiplied by loss_scale."""
    def scale(g: dict[str, Any]) -> dict[str, Any]:
        return {"dense": rounded(np.asarray(g["dense"]) * factor, case.dtype).tolist()}
    grads = tuple({n: scale(g) for n, g in step.items()} for step in case.grads)
    return Case(case.clauses, case.dtype, case.params, case.kind, case.hyper, case.groups, None, grads, case.title)


# ---- GRP -----------------------------------------------------------------------------------------------

@st.composite
def group_layouts(draw: st.DrawFn, names: Sequence[str], *, lr: bool = True, wd: bool = True, gc: bool = False,
                  order: bool = False) -> list[dict[str, Any]]:
    """Split names into 1..3 groups, each with or without its own lr / weight_decay / gc."""
    names = list(names)
    k = draw(st.integers(1, min(3, len(names))))
    cuts = sorted(draw(st.lists(st.integers(1, len(names) - 1), min_size=k - 1, max_size=k - 1, unique=True))) \
        if k > 1 else []
    bounds = [0, *cuts, len(names)]
    groups: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(bounds):
        g: dict[str, Any] = {"params": names[a:b]}
        if lr and draw(st.booleans()):
            g["lr"] = draw(learning_rates())
        if wd and draw(st.booleans()):
            g["weight_decay"] = draw(weight_decays())
        if gc and draw(st.booleans()):
            g["grad_centralization"] = draw(st.booleans())
        groups.append(g)
    if order:
        groups.append({"order_params": draw(st.permutations(names))})
    return groups


@st.composite
def grouped_cases(draw: st.DrawFn, clauses: Sequence[str], dtype: str, *, names: Sequence[str] = PLAIN_NAMES,
                  catalogue: Sequence[tuple[tuple[int, ...], ...]] = LAYOUTS, **opts: bool) -> Case:
    base = draw(dense_cases(clauses, dtype, names=names, catalogue=catalogue,
                            extra={"weight_decay": draw(st.sampled_from([0.0, 0.01]))}))
    groups = draw(group_layouts(base.names, **opts))
    enc = tuple({k: (list(v) if k in ("params", "order_params") else encode_value(v)) for k, v in g.items()}
                for g in groups)
    return Case(base.clauses, dtype, base.params, "steps", base.hyper, enc, None, base.grads,
                f"{len(groups)} group dicts")


def group_decay_cases(dtype: str) -> st.SearchStrategy[Case]:
    return grouped_cases(["DEC-GROUP"], dtype, names=FILTER_NAMES, lr=False)


def group_lr_cases(dtype: str) -> st.SearchStrategy[Case]:
    return grouped_cases(["GRP-LR"], dtype, wd=False)


def order_cases(dtype: str) -> st.SearchStrategy[Case]:
    return grouped_cases(["GRP-ORDER"], dtype, order=True)


def gc_cases(dtype: str) -> st.SearchStrategy[Case]:
    return grouped_cases(["GRP-GC"], dtype, catalogue=GC_LAYOUTS, gc=True, lr=False)


# ---- LR ------------------------------------------------------------------------------------------------

def schedules(steps: int) -> st.SearchStrategy[Any]:
    """Every LearningRateSchedule and nn.dynamic_lr builder, with arguments drawn."""
    lr = st.sampled_from([0.1, 0.01, 1.0])
    rate = st.sampled_from([0.5, 0.9, 0.1])
    d = st.integers(1, 5)
    stair = st.booleans()
    sched = st.one_of(
        st.builds(lambda *a: ScheduleValue("ExponentialDecayLR", dict(zip(
            ("learning_rate", "decay_rate", "decay_steps", "is_stair"), a))), lr, rate, d, stair),
        st.builds(lambda *a: ScheduleValue("NaturalExpDecayLR", dict(zip(
            ("learning_rate", "decay_rate", "decay_steps", "is_stair"), a))), lr, rate, d, stair),
        st.builds(lambda *a: ScheduleValue("InverseDecayLR", dict(zip(
            ("learning_rate", "decay_rate", "decay_steps", "is_stair"), a))), lr, rate, d, stair),
        st.builds(lambda lo, d_: ScheduleValue("CosineDecayLR", {"min_lr": lo, "max_lr": 0.1, "decay_steps": d_}),
                  st.sampled_from([0.0, 0.01]), d),
        st.builds(lambda *a: ScheduleValue("PolynomialDecayLR", dict(zip(
            ("learning_rate", "end_learning_rate", "decay_steps", "power", "update_decay_steps"), a))),
            lr, st.sampled_from([0.0, 0.001]), d, st.sampled_from([0.5, 1.0, 2.0]), stair),
        st.builds(lambda lr_, w: ScheduleValue("WarmUpLR", {"learning_rate": lr_, "warmup_steps": w}), lr, d),
    )
    ep = {"total_step": steps, "step_per_epoch": 2, "decay_epoch": 2}
    dyn = st.one_of(
        st.builds(lambda lr_, r, s: DynamicLRValue("exponential_decay_lr", {
            "learning_rate": lr_, "decay_rate": r, **ep, "is_stair": s}), lr, rate, stair),
        st.builds(lambda lr_, r, s: DynamicLRValue("natural_exp_decay_lr", {
            "learning_rate": lr_, "decay_rate": r, **ep, "is_stair": s}), lr, rate, stair),
        st.builds(lambda lr_, r, s: DynamicLRValue("inverse_decay_lr", {
            "learning_rate": lr_, "decay_rate": r, **ep, "is_stair": s}), lr, rate, stair),
        st.just(DynamicLRValue("cosine_decay_lr", {"min_lr": 0.01, "max_lr": 0.1, **ep})),
        st.builds(lambda p, u: DynamicLRValue("polynomial_decay_lr", {
            "learning_rate": 0.1, "end_learning_rate": 0.01, **ep, "power": p, "update_decay_epoch": u}),
            st.sampled_from([0.5, 2.0]), stair),
        st.just(DynamicLRValue("warmup_lr", {"learning_rate": 0.1, "total_step": steps, "step_per_epoch": 1,
                                             "warmup_epoch": 3})),
        st.just(DynamicLRValue("piecewise_constant_lr", {"milestone": [1, steps], "learning_rates": [0.1, 0.05]})),
    )
    return st.one_of(sched, dyn)


def lr_forms(kind: str, steps: int, length: int | None = None) -> st.SearchStrategy[Any]:
    """How a learning rate is given: fixed (float/int/0-d), sequence (list/1-d), schedule.

    Sequences are at least ``steps`` long (``length`` fixes it: a case's group sequences share it).
    """
    if kind == "fixed":
        return st.one_of(learning_rates(), st.sampled_from([0, 1]),
                         learning_rates().map(lambda x: TensorValue(np.asarray(x))))
    if kind == "sequence":
        seq = st.lists(learning_rates(), min_size=length or steps, max_size=length or steps + 2)
        return st.one_of(seq, seq.map(lambda v: TensorValue(np.asarray(v))))
    return schedules(steps)


@st.composite
def lr_cases(draw: st.DrawFn, dtype: str, clause: str, kind: str) -> Case:
    n = draw(st.integers(1, 8))
    base = draw(dense_cases([clause], dtype, steps=st.just(n), catalogue=LAYOUTS[:3]))
    hyper = dict(base.hyper)
    length = draw(st.integers(n, n + 2))
    form = draw(lr_forms(kind, n, length))
    hyper["learning_rate"] = encode_value(form)
    grouped = draw(st.booleans()) and kind != "fixed"
    groups = None
    if grouped and len(base.names) > 1:
        groups = ({"params": [base.names[0]], "lr": encode_value(draw(lr_forms(kind, n, length)))},
                  {"params": list(base.names[1:])})
    return Case(base.clauses + (("GRP-LR",) if groups else ()), dtype, base.params, "steps", hyper, groups, None,
                base.grads, f"{kind} learning rate, {n} steps")


# ---- SPR -----------------------------------------------------------------------------------------------

@st.composite
def sparse_gradients(draw: st.DrawFn, shape: tuple[int, ...], dtype: str, *, repeats: bool,
                     absent: bool) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values): unsorted, repeated when asked, with absent rows when asked."""
    rows = shape[0]
    pool = list(range(rows))
    if absent:
        pool.remove(draw(st.sampled_from(pool)))
    idx = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2 * rows))
    if repeats and len(set(idx)) == len(idx):
        idx.append(idx[0])
    idx = draw(st.permutations(idx))
    lo, hi = FIRM[dtype]
    vals = rounded(draw(tensors((len(idx), *shape[1:]), lo, hi)), dtype)
    return np.asarray(idx, dtype=np.int64), vals


@st.composite
def sparse_cases(draw: st.DrawFn, dtype: str, clause: str, *, repeats: bool, absent: bool,
                 extra: dict[str, Any] | None = None) -> Case:
    """A row-sparse embedding, alone (as sparse-only optimizers need) or beside a dense parameter."""
    shape = draw(st.sampled_from(SPARSE_SHAPES))
    params = [("embedding", draw(param_values(shape, dtype)))]
    with_dense = draw(st.booleans())
    if with_dense:
        params.append(("w0", draw(param_values((3,), dtype))))
    n = draw(st.integers(2, 5))
    lo, hi = FIRM[dtype]
    steps = []
    for _ in range(n):
        step: dict[str, Any] = {"embedding": draw(sparse_gradients(shape, dtype, repeats=repeats, absent=absent))}
        if with_dense:
            step["w0"] = rounded(draw(tensors((3,), lo, hi)), dtype)
        steps.append(step)
    b1, b2 = draw(betas())
    hyper = {"learning_rate": draw(learning_rates()), "beta1": b1, "beta2": b2, "eps": draw(small_epsilons(dtype))}
    hyper.update(extra or {})
    return make_case([clause], dtype, params, steps, hyper, title=f"sparse rows, {n} steps")


# ---- VAL -----------------------------------------------------------------------------------------------

W = ("w0", np.array([0.5, -1.0]))
INVALID: dict[str, list[dict[str, Any]]] = {
    "VAL-LR-TYPE": [{"learning_rate": None}, {"learning_rate": "0.1"}],
    "VAL-FLOAT-TYPE": [{k: v} for k in ("beta1", "beta2", "eps", "loss_scale") for v in (1, True, "0.9", None)],
    "VAL-WD-TYPE": [{"weight_decay": v} for v in ("0.1", None, [0.1])],
    "VAL-BOOL-TYPE": [{k: v} for k in ("use_locking", "use_nesterov") for v in (1, 0, "True", None)],
    "VAL-POSITIVE": [{k: v} for k in ("eps", "loss_scale") for v in (0.0, -1.0, -1e-8)],
    "VAL-BETA-RANGE": [{k: v} for k in ("beta1", "beta2") for v in (0.0, 1.0, -0.5, 1.5, float("nan"))],
    "VAL-WD-RANGE": [{"weight_decay": v} for v in (-0.1, -1, -1e-12)],
    "VAL-LR-RANGE": [{"learning_rate": v} for v in (-0.1, -1, float("nan"))],
}
P0, P1 = ParamRef("w0"), ParamRef("w1")
INVALID_PARAMS: dict[str, list[Any]] = {
    "VAL-PARAM-TYPE": [5, [5], [P0, "w1"], [P0, 3.0]],
    "VAL-GROUP": [
        [{"params": [P0], "momentum": 0.9}, {"params": [P1]}],
        [{"lr": 0.1}, {"params": [P0, P1]}],
        [{"params": []}, {"params": [P0, P1]}],
        [{"params": [P0, "w1"]}],
        [{"params": [P0, P1]}, {"params": [P0]}],
        [{"params": [P0, P1]}, {"order_params": [P0, P1], "lr": 0.1}],
        [{"params": [P0]}, {"params": [P1]}, {"order_params": [P0]}],
        [{"params": [P0, P1], "grad_centralization": 1}],
        [{"params": [P0], "weight_decay": -0.5}, {"params": [P1]}],
        [{"params": [P0], "lr": "fast"}, {"params": [P1]}],
    ],
}


VAL_PARAMS = (ParamSpec("w0", (2,), [0.5, -1.0]), ParamSpec("w1", (3,), [1.0, 2.0, -3.0]))


def invalid_case(clause: str, dtype: str, bad: Any) -> Case:
    """The case for one broken constructor argument (a kwargs dict) or params argument."""
    if clause in INVALID_PARAMS:
        return Case((clause,), dtype, VAL_PARAMS, "construct", {}, None, encode_value(bad), (), f"params={bad!r}")
    return Case((clause,), dtype, VAL_PARAMS, "construct", {k: encode_value(v) for k, v in bad.items()}, None,
                None, (), f"{bad!r}")


def invalid_values(clause: str) -> list[Any]:
    """Every broken value the suite knows for a validation clause (the gate enumerates them all)."""
    return list(INVALID_PARAMS.get(clause) or INVALID[clause])


def invalid_constructions(clause: str, dtype: str) -> st.SearchStrategy[Case]:
    """One broken constructor argument (or params argument) per case; nothing is stepped."""
    return st.sampled_from(invalid_values(clause)).map(lambda bad: invalid_case(clause, dtype, bad))


# ---- clause -> strategy ------------------------------------------------------------------------------

CLAUSE_CASES: dict[str, Callable[[str], st.SearchStrategy[Case]]] = {
    "UPD-MOMENTS": update_cases,
    "UPD-BIAS": bias_cases,
    "UPD-EPS": eps_cases,
    "UPD-NESTEROV": nesterov_cases,
    "UPD-DTYPE": dtype_cases,
    "DEC-L2": decay_cases,
    "DEC-FILTER": filter_cases,
    "DEC-GROUP": group_decay_cases,
    "DEC-LOSS-SCALE": loss_scale_cases,
    "GRP-LR": group_lr_cases,
    "GRP-ORDER": order_cases,
    "GRP-GC": gc_cases,
    "LR-FIXED": lambda d: lr_cases(d, "LR-FIXED", "fixed"),
    "LR-SEQUENCE": lambda d: lr_cases(d, "LR-SEQUENCE", "sequence"),
    "LR-SCHEDULE": lambda d: lr_cases(d, "LR-SCHEDULE", "schedule"),
    "SPR-DENSE-EQUIV": lambda d: sparse_cases(d, "SPR-DENSE-EQUIV", repeats=False, absent=True),
    "SPR-DUPLICATES": lambda d: sparse_cases(d, "SPR-DUPLICATES", repeats=True, absent=False),
    "SPR-DECAY": lambda d: sparse_cases(d, "SPR-DECAY", repeats=True, absent=True,
                                        extra={"weight_decay": 0.1}),
    "SPR-NESTEROV": lambda d: sparse_cases(d, "SPR-NESTEROV", repeats=True, absent=True,
                                           extra={"use_nesterov": True}),
    **{c: (lambda d, c=c: invalid_constructions(c, d)) for c in (*INVALID, *INVALID_PARAMS)},
}
