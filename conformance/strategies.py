"""Hypothesis strategies that generate conformance cases: hypothesis draws a recipe, NumPy fills it.

Drawing arrays element by element (``hypothesis.extra.numpy``) cost about 30 ms a case. Here
hypothesis draws only a *recipe* -- layout index, magnitude span, sign pattern, zero share, special
values, step pattern, hyperparameters and a seed -- and ``Fill``/``Stream`` turn it into arrays with
NumPy. The same seed still gives the same cases (the recipe is a pure function of hypothesis's
choices), and hypothesis still drives every choice: it shrinks a recipe toward small layouts, few
steps, default hyperparameters and seed 0, and ``target`` climbs on the recipe in explore mode.

A recipe is a ``Draft``: everything a case of its clause could need. ``Draft.build(features)``
assembles the case with the clause's own features, or with the row that ``features.plan()`` gives
that slot of the stream, so that every pair of features meets in a default run (see
``conformance/features.py``). ``CLAUSE_CASES`` maps a clause to its cases as drawn (explore mode,
shrinking); ``CLAUSE_DRAFTS`` to its drafts, which ``planned_cases`` builds in gate mode.

Shapes come from a palette of sizes kernels get wrong (``SIZES``, see docs/case-budget.md), in a
small catalogue of layouts, and graph constants (betas, eps, weight decay, loss scale) from small
palettes, so that structures recur across cases and JIT / graph compilers (optax, MindSpore) hit
their caches: one compile per structure, not one per case.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st

from .cases import Case, DynamicLRValue, ParamSpec, ScheduleValue, TensorValue, encode_value
from .dtypes import fmt, rounded
from .features import CORNER_FEATURES, CORNERS, DYNAMIC_LR, REQUIRES, Features, plan

# ---- the palettes --------------------------------------------------------------------------------

# Sizes around the widths kernels vectorize and block by: 1-3 (scalar tails), 7/8/9 (8-lane AVX2
# float32, 16-byte half vectors), 15/16/17 (AVX-512 float32 lanes, GRP-GC's shape[1] % 16 rule),
# 31/32/33 (a warp; 64-byte bf16 vectors), 63/64/65, 127/128/129 (thread blocks, unroll factors),
# 255/256/257 (CUDA block size). 0-d and empty tensors are layouts of their own.
SIZES: tuple[int, ...] = (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257)
LAYOUTS: tuple[tuple[tuple[int, ...], ...], ...] = (
    ((3,),),
    ((2, 3), (8,)),
    ((), (9,)),
    ((0,), (7,)),
    ((2, 2, 3), (17,)),
    ((2, 1, 2, 3), (2,)),
    ((16,), (16,), (16,)),  # several parameters of equal shape
    ((1,), (15,), (31,)),
    ((32,), (33,)),
    ((63,), (64,), (65,)),
    ((127,), (128, 1), (129,)),
    ((255,), (256,), (257,)),
)
SHORT_LAYOUTS = LAYOUTS[:3]  # long trajectories (UPD-BIAS, LR-*): small, so many steps stay cheap
GC_LAYOUTS: tuple[tuple[tuple[int, ...], ...], ...] = (
    ((2, 16), (3,)),
    ((2, 32, 1), (2, 3)),
    ((3, 16), (16,)),
    ((1, 64), (3, 15)),  # (3, 15): ndim 2 but 15 % 16 != 0, not centralized
    ((2, 128, 1), (9, 17)),
)
SPARSE_SHAPES: tuple[tuple[int, ...], ...] = ((7, 3), (3, 2), (8, 1), (9, 8), (17, 16))
LONG_STEPS = (1000, 3000, 10000)
MAX_STEPS = {"UPD-BIAS": 60}  # others at most 8: a schedule's total_step lasts every case of its stream
LR_LENGTHS = (8, 16, 64)  # sequence lr lengths: the lr Parameter's shape is part of a graph's structure
PLAIN_NAMES = ("w0", "w1", "w2")
FILTER_NAMES = ("bn.beta", "ln.gamma", "Beta_w", "conv.Gamma", "betas_gamma", "dense.weight", "alphabet")

# Gradient magnitudes (log10) per dtype: wide for float32/64, inside float16's range
# (|g| <= 100 keeps g*g finite in float16).
MAGNITUDES = {"float64": (-12.0, 6.0), "float32": (-12.0, 6.0), "float16": (-3.0, 2.0), "bfloat16": (-6.0, 4.0)}
# Away from eps: used where a clause other than UPD-EPS is under test.
FIRM = {"float64": (-2.0, 3.0), "float32": (-2.0, 3.0), "float16": (-1.0, 2.0), "bfloat16": (-2.0, 3.0)}

# (beta1, beta2): the default first (hypothesis's simplest choice), near 0, near 1, mixed.
BETA_PAIRS = ((0.9, 0.999), (0.9, 0.99999), (0.5, 0.9), (0.99, 0.999), (0.0001, 0.0001), (0.999, 0.99),
              (0.9, 0.5), (0.0001, 0.999), (0.3, 0.99))
LONG_BETA2 = (0.999, 0.9999, 0.99999)
WEIGHT_DECAYS = (0.01, 0.1, 1.0, 0.0001, 0.9)
# eps small enough not to matter at firm gradient magnitudes. Half types get eps >= 1e-3: below their
# resolution (1e-8 is 0 in float16) the update divides an underflowed sqrt(v) by almost nothing in
# every implementation; UPD-EPS explores that corner, and "dead-elements" the one of exact zeros.
SMALL_EPS = {"float64": (1e-8, 1e-10, 1e-12), "float32": (1e-8, 1e-10, 1e-12),
             "float16": (1e-3, 1e-2), "bfloat16": (1e-3, 1e-2)}
NEAR_EPS = {"float64": (1e-8, 1e-6, 1e-3, 1.0, 1e-12, 1e-4, 1e-10, 0.1),
            "float32": (1e-8, 1e-6, 1e-3, 1.0, 1e-12, 1e-4, 1e-10, 0.1),
            "float16": (1e-3, 1e-2, 0.1, 1.0), "bfloat16": (1e-3, 1e-2, 0.1, 1.0)}
# Below the storage dtype's resolution (0 there, or far below its smallest normal) yet a normal float32,
# beside elements whose gradient is always zero: 0 / (0 + eps) must stay 0, never 0/0.
TINY_EPS = {"float64": (1e-300, 1e-30), "float32": (1e-30, 1e-20), "float16": (1e-8, 1e-12),
            "bfloat16": (1e-8, 1e-30)}
LOSS_SCALES = {"float16": (2.0, 0.5, 3.0, 64.0)}  # 65504 tops float16: scaled |g| <= 100 stays finite
DEFAULT_LOSS_SCALES = (2.0, 1024.0, 0.5, 3.0, 65536.0)
SIGNS = ("mixed", "positive", "negative", "alternating")
SPECIALS = ("none", "powers", "ties")


# ---- recipes -> arrays -----------------------------------------------------------------------------

def _rng(*key: Any) -> np.random.Generator:
    digest = hashlib.sha256(repr(key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class Fill(NamedTuple):
    """How to fill an array: magnitudes 10**[lo, hi], a sign pattern, a share of exact zeros, specials."""

    seed: int
    lo: float
    hi: float
    signs: str = "mixed"
    zeros: float = 0.0
    special: str = "none"

    def sample(self, shape: tuple[int, ...], dtype: str, *key: Any) -> np.ndarray:
        """Values representable in ``dtype`` (float64 holding them); ``key`` picks an independent stream."""
        rng = _rng(self.seed, *key)
        a = 10.0 ** rng.uniform(self.lo, self.hi, shape)
        if self.special == "powers":  # exact powers of two (never above 10**hi): no rounding in m's update
            a = 2.0 ** np.floor(np.log2(a))
        elif self.special == "ties":  # halfway between two representable values before rounding
            u = fmt(dtype).unit_roundoff
            a = rounded(a, dtype) * (1 + u)
        if self.signs == "mixed":
            a = a * rng.choice([-1.0, 1.0], shape)
        elif self.signs == "negative":
            a = -a
        elif self.signs == "alternating":
            a = a * np.where(np.arange(a.size).reshape(shape) % 2, -1.0, 1.0) if a.size else a
        if self.zeros:
            a = np.where(rng.random(shape) < self.zeros, 0.0, a)
        return rounded(a, dtype)


@st.composite
def _fills(draw: st.DrawFn, span: tuple[float, float]) -> Fill:
    """A fill over ``span`` (log10): the whole span, one decade around a centre, or one magnitude."""
    lo, hi = span
    spread = draw(_sampled(("full", "decade", "point")))
    if spread == "full":
        a, b = lo, hi
    else:
        c = draw(_floats(lo, hi))
        a, b = (max(lo, c - 0.5), min(hi, c + 0.5)) if spread == "decade" else (c, c)
    return Fill(draw(SEEDS), a, b, draw(_sampled(SIGNS)), draw(_sampled((0.0, 0.2, 0.5))), draw(_sampled(SPECIALS)))


@functools.cache
def fills(span: tuple[float, float]) -> st.SearchStrategy[Fill]:
    """Built once per span: hypothesis validates a strategy on first use, which costs more than a draw."""
    return _fills(span)


@functools.cache
def _sampled(values: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


@functools.cache
def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


@functools.cache
def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi)


SEEDS = st.integers(0, 2**32 - 1)
BOOLS = st.booleans()


class Stream(NamedTuple):
    """Gradients over a trajectory: ``pattern`` says how steps relate, ``dead`` the share of elements
    whose gradient is zero at every step."""

    fill: Fill
    pattern: str = "mixed"
    dead: float = 0.0

    def arrays(self, shapes: Sequence[tuple[int, ...]], steps: int, dtype: str) -> list[list[np.ndarray]]:
        kinds = self.kinds(steps)
        out: list[list[np.ndarray]] = [[] for _ in range(steps)]
        for i, s in enumerate(shapes):
            fresh = self.fill.sample((steps, *s), dtype, "grad", i)
            alive = _rng(self.fill.seed, "dead", i).random(s) >= self.dead
            if self.dead and alive.size >= 2:  # at least one element dead and one alive
                alive.flat[0], alive.flat[1] = False, True
            prev = fresh[0]
            for t in range(steps):
                k = kinds[t]
                g = fresh[t] if k == "fresh" else np.zeros(s) if k == "zero" else prev if k == "repeat" \
                    else -prev if k == "flip" else rounded(prev * 0.1, dtype)
                g = np.where(alive, g, 0.0)
                out[t].append(g)
                prev = g
        return out

    def kinds(self, steps: int) -> list[str]:
        """Per step: fresh, all-zero, repeated, sign-flipped or shrinking (the first is always fresh)."""
        if self.pattern == "fresh":
            return ["fresh"] * steps
        if self.pattern == "steady":
            return ["fresh"] + ["repeat"] * (steps - 1)
        if self.pattern == "flip":
            return ["fresh"] + ["flip"] * (steps - 1)
        rng = _rng(self.fill.seed, "kinds")
        pick = rng.choice(["fresh", "fresh", "zero", "repeat", "flip", "shrink"], steps)
        return ["fresh", *pick[1:].tolist()]


@functools.cache
def streams(span: tuple[float, float]) -> st.SearchStrategy[Stream]:
    return st.builds(Stream, fills(span), _sampled(("mixed", "fresh", "steady", "flip")), st.just(0.0))


# ---- numbers ---------------------------------------------------------------------------------------

def log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    """10**x for x uniform in [lo, hi]: magnitudes spread over decades."""
    return st.floats(lo, hi).map(lambda x: float(10.0**x))


@functools.cache
def learning_rates() -> st.SearchStrategy[float]:
    """A fixed lr: common values first, then anything over four decades (lr 0 only in sequences)."""
    return st.one_of(st.sampled_from([1e-3, 0.1, 1.0]), log_uniform(-4, 0))


@functools.cache
def schedules(total: int) -> st.SearchStrategy[Any]:
    """Every LearningRateSchedule and nn.dynamic_lr builder, with arguments from small palettes."""
    lr = st.sampled_from([0.1, 0.01, 1.0])
    rate = st.sampled_from([0.5, 0.9, 0.1])
    d = st.integers(1, 5)
    stair = st.booleans()

    def decay(name: str) -> st.SearchStrategy[ScheduleValue]:
        keys = ("learning_rate", "decay_rate", "decay_steps", "is_stair")
        return st.builds(lambda *a: ScheduleValue(name, dict(zip(keys, a))), lr, rate, d, stair)

    sched = st.one_of(
        decay("ExponentialDecayLR"), decay("NaturalExpDecayLR"), decay("InverseDecayLR"),
        st.builds(lambda lo, d_: ScheduleValue("CosineDecayLR", {"min_lr": lo, "max_lr": 0.1, "decay_steps": d_}),
                  st.sampled_from([0.0, 0.01]), d),
        st.builds(lambda *a: ScheduleValue("PolynomialDecayLR", dict(zip(
            ("learning_rate", "end_learning_rate", "decay_steps", "power", "update_decay_steps"), a))),
            lr, st.sampled_from([0.0, 0.001]), d, st.sampled_from([0.5, 1.0, 2.0]), stair),
        st.builds(lambda lr_, w: ScheduleValue("WarmUpLR", {"learning_rate": lr_, "warmup_steps": w}), lr, d),
    )
    ep = {"total_step": total, "step_per_epoch": 2, "decay_epoch": 2}

    def dyn(name: str) -> st.SearchStrategy[DynamicLRValue]:
        return st.builds(lambda lr_, r, s: DynamicLRValue(name, {"learning_rate": lr_, "decay_rate": r, **ep,
                                                                 "is_stair": s}), lr, rate, stair)

    dynamic = st.one_of(
        dyn("exponential_decay_lr"), dyn("natural_exp_decay_lr"), dyn("inverse_decay_lr"),
        st.just(DynamicLRValue("cosine_decay_lr", {"min_lr": 0.01, "max_lr": 0.1, **ep})),
        st.builds(lambda p, u: DynamicLRValue("polynomial_decay_lr", {
            "learning_rate": 0.1, "end_learning_rate": 0.01, **ep, "power": p, "update_decay_epoch": u}),
            st.sampled_from([0.5, 2.0]), stair),
        st.just(DynamicLRValue("warmup_lr", {"learning_rate": 0.1, "total_step": total, "step_per_epoch": 1,
                                             "warmup_epoch": 3})),
        st.just(DynamicLRValue("piecewise_constant_lr", {"milestone": [1, total], "learning_rates": [0.1, 0.05]})),
    )
    return st.tuples(sched, dynamic)


def lr_length(steps: int) -> int:
    """The shortest palette length that lasts ``steps`` updates."""
    return next((n for n in LR_LENGTHS if n >= steps), steps)


# ---- the recipe ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Draft:
    """Everything hypothesis drew for one case of ``clause``; ``build`` turns it into a Case."""

    clause: str
    dtype: str
    features: Features  # the clause's own features, as drawn
    layout: int
    steps: int
    params: Fill
    stream: Stream
    lr: float
    lr_int: int
    lr_seed: int
    sched: tuple[ScheduleValue, DynamicLRValue]
    betas: tuple[float, float]
    eps: float
    wd: float
    loss_scale: float
    split: int  # seed for group cuts, names, per-group options and sparse indices
    group_wds: tuple[float, ...]
    sparse_shape: int
    nnz: int  # 0: rows - 1, 1: rows, 2: 2 * rows (one count per case: the indices' shape is fixed)
    with_dense: bool
    long_steps: int
    long_beta2: float
    tiny_eps: float
    title: str = ""

    @property
    def id(self) -> str:
        """Distinct drafts have distinct ids (generate.draw_cases keeps the first of each)."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]

    def build(self, features: Features | None = None, corner: str | None = None) -> Case:
        """The case as the clause draws it, or with a plan row's / a corner's features."""
        return _assemble(self, features or self.features, corner, planned=features is not None)


def _pick(seq: Sequence[Any], i: int) -> Any:
    return seq[i % len(seq)]


def _names(d: Draft, n: int, filtered: bool) -> list[str]:
    if not filtered:
        return list(PLAIN_NAMES[:n])
    order = [FILTER_NAMES[i] for i in _rng(d.split, "names").permutation(len(FILTER_NAMES))]
    hit = [x for x in order if "beta" in x or "gamma" in x]
    miss = [x for x in order if x not in hit]
    return ([hit[0], *miss[:1], *hit[1:]] if n > 1 else hit[:1])[:n]  # filtered and unfiltered names


SPARSE_ALONE = ("SPR-DUPLICATES", "SPR-DENSE-EQUIV")  # clauses whose cases carry the sparse parameter alone


def _params(d: Draft, f: Features, corner: str | None) -> tuple[list[tuple[str, tuple[int, ...]]], str | None]:
    """(name, shape) of every parameter, and the sparse one's name."""
    filtered = f.decay == "filter" or (f.groups == "wd" and d.clause == "DEC-GROUP")
    if f.sparse == "on":
        shape = _pick(SPARSE_SHAPES, d.sparse_shape)
        out = [("embedding", shape)]
        # A dense parameter beside the sparse one where the draft drew it -- except in SPR-DUPLICATES and
        # SPR-DENSE-EQUIV, which are about the sparse gradient alone: there a sparse-only optimizer
        # (torch's SparseAdam refuses dense gradients) meets the clause in every dtype, and each clause is
        # judged for it in each (runner.judged_gaps). Groups always need a second parameter.
        if (d.with_dense and d.clause not in SPARSE_ALONE) or f.groups not in ("none", "plain"):
            out.append(("bn.beta" if filtered else "w0", (3,)))
        return out, "embedding"
    if corner == "long-run":
        return [("w0", (2,))], None
    cat = GC_LAYOUTS if f.groups == "gc" else SHORT_LAYOUTS if d.clause in ("UPD-BIAS",) or \
        d.clause.startswith("LR-") else LAYOUTS
    layout = _pick(cat, d.layout)
    return list(zip(_names(d, len(layout), filtered), layout)), None


def _sparse_grad(d: Draft, shape: tuple[int, ...], t: int, repeats: bool, absent: bool, vals: Fill,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values): unsorted, repeated when asked, with an absent row when asked."""
    rows = shape[0]
    rng = _rng(d.split, "sparse", t)
    pool = np.arange(rows)
    if absent:
        pool = np.delete(pool, _rng(d.split, "absent").integers(rows))
    n = (rows - 1, rows, 2 * rows)[d.nnz % 3]
    idx = rng.choice(pool, n)
    if repeats and len(set(idx.tolist())) == n:
        idx[-1] = idx[0]
    # Repeated rows are summed: keep the sum inside the span, so g*g stays finite in float16.
    cap = vals.hi - math.log10(int(np.bincount(idx).max()))
    vals = vals._replace(lo=min(vals.lo, cap), hi=min(vals.hi, cap))
    return idx.astype(np.int64), vals.sample((n, *shape[1:]), d.dtype, "sparse", t)


def _lr_form(d: Draft, kind: str, steps: int, salt: int = 0) -> Any:
    if kind == "float":
        return d.lr
    if kind == "int":
        return d.lr_int
    if kind == "tensor0d":
        return TensorValue(np.asarray(d.lr))
    if kind in ("list", "tensor1d"):
        rng = _rng(d.lr_seed, salt)
        seq = 10.0 ** rng.uniform(-4, 0, lr_length(steps))
        seq = np.where(rng.random(seq.size) < 0.1, 0.0, seq)
        seq[0] = seq[0] or d.lr  # the first update always moves
        return seq.tolist() if kind == "list" else TensorValue(seq)
    return d.sched[0] if kind == "schedule" else d.sched[1]


def _groups(d: Draft, f: Features, names: list[str], steps: int) -> list[dict[str, Any]] | None:
    """Split names into 1..3 groups with the options ``f.groups`` asks for (at least one group has them)."""
    if f.groups == "none":
        return None
    rng = _rng(d.split, "groups")
    n = len(names)
    k = int(rng.integers(1, min(3, n) + 1)) if f.groups != "lr-mixed" or n < 2 else int(rng.integers(2, min(3, n) + 1))
    cuts = sorted(rng.choice(np.arange(1, n), k - 1, replace=False).tolist()) if k > 1 else []
    bounds = [0, *cuts, n]
    groups: list[dict[str, Any]] = [{"params": names[a:b]} for a, b in itertools.pairwise(bounds)]
    chosen = rng.random(k) < 0.5
    chosen[int(rng.integers(k))] = True
    for i, g in enumerate(groups):
        if not chosen[i]:
            continue
        if f.groups == "lr":
            g["lr"] = _lr_form(d, f.lr, steps, salt=i + 1)
        elif f.groups == "wd":
            g["weight_decay"] = _pick(d.group_wds, i)
        elif f.groups == "gc":
            g["grad_centralization"] = True
    if f.groups == "gc":
        for g in groups:
            g.setdefault("grad_centralization", bool(rng.random() < 0.5))
    if f.groups == "lr-mixed":  # a fixed lr beside a dynamic one (MindSpore's test_adam_group2 layout)
        other = "float" if f.lr in DYNAMIC_LR else "list"
        groups[0]["lr"] = _lr_form(d, other, steps, salt=1)
        if len(groups) > 1 and chosen[1:].any():
            groups[1]["lr"] = _lr_form(d, f.lr, steps, salt=2)
    if f.groups == "order":
        groups.append({"order_params": [names[i] for i in rng.permutation(n)]})
    return groups


_CATALOG_ORDER = ("UPD-MOMENTS", "UPD-BIAS", "UPD-EPS", "UPD-NESTEROV", "UPD-DTYPE", "DEC-L2", "DEC-FILTER",
                  "DEC-GROUP", "DEC-LOSS-SCALE", "GRP-LR", "GRP-ORDER", "GRP-GC", "LR-FIXED", "LR-SEQUENCE",
                  "LR-SCHEDULE", "SPR-DENSE-EQUIV", "SPR-DUPLICATES", "SPR-DECAY", "SPR-NESTEROV")


def clauses_of(primary: str, f: Features, groups: list[dict[str, Any]] | None) -> tuple[str, ...]:
    """The clause the case was drawn for, then every other clause its features exercise.

    In a sparse case decay and nesterov are the sparse clauses' (SPR-DECAY, SPR-NESTEROV): another
    kernel runs them. A case as its clause draws it lists only that clause (and DEC-L2 beside
    DEC-FILTER), as before the plan, so what a clause's own cases are charged with does not change.
    """
    more: set[str] = set()
    if f.sparse == "on" and f.decay != "off":
        more.add("SPR-DECAY")
    elif f.decay != "off":
        more |= {"DEC-GROUP"} if groups else {"DEC-L2"} | ({"DEC-FILTER"} if f.decay == "filter" else set())
    if groups and any("lr" in g for g in groups):
        more.add("GRP-LR")
    if groups and any("weight_decay" in g for g in groups):
        more.add("SPR-DECAY" if f.sparse == "on" else "DEC-GROUP")
    if groups and any(g.get("grad_centralization") for g in groups):
        more.add("GRP-GC")
    if groups and any("order_params" in g for g in groups):
        more.add("GRP-ORDER")
    if f.loss_scale == "on":
        more.add("DEC-LOSS-SCALE")
    if f.nesterov == "on":
        more.add("SPR-NESTEROV" if f.sparse == "on" else "UPD-NESTEROV")
    if f.lr in ("int", "tensor0d"):
        more.add("LR-FIXED")
    elif f.lr in ("list", "tensor1d"):
        more.add("LR-SEQUENCE")
    elif f.lr in ("schedule", "dynamic"):
        more.add("LR-SCHEDULE")
    more.discard(primary)
    return (primary, *(c for c in _CATALOG_ORDER if c in more))


def natural_clauses(primary: str) -> tuple[str, ...]:
    return (primary, "DEC-L2") if primary == "DEC-FILTER" else (primary,)


def _assemble(d: Draft, f: Features, corner: str | None, planned: bool) -> Case:
    dtype = d.dtype
    steps = d.long_steps if corner == "long-run" else d.steps
    b1, b2 = (0.9, d.long_beta2) if corner == "long-run" else (0.9, 0.999) if corner == "dead-elements" \
        else d.betas
    eps = d.tiny_eps if corner == "dead-elements" else d.eps
    stream = d.stream
    if corner == "dead-elements":
        stream = Stream(replace_fill(stream.fill, FIRM[dtype]), "fresh", 0.5)
    elif corner == "long-run":
        stream = Stream(replace_fill(stream.fill, FIRM[dtype]), stream.pattern)
    layout, sparse_name = _params(d, f, corner)
    # weights a decade below firm gradients
    values = {n: rounded(d.params.sample(s, dtype, "param", n) / 10.0, dtype) for n, s in layout}
    dense = [(n, s) for n, s in layout if n != sparse_name]
    grads = stream.arrays([s for _, s in dense], steps, dtype)
    ls = 1.0
    if f.loss_scale == "on":
        ls = 1024.0 if corner == "sparse-loss-scale" and dtype != "float16" else d.loss_scale
    steps_out: list[dict[str, Any]] = []
    for t in range(steps):
        step: dict[str, Any] = {}
        for (n, _), g in zip(dense, grads[t]):
            step[n] = rounded(g * ls, dtype) if ls != 1.0 else g
        if sparse_name:
            shape = dict(layout)[sparse_name]
            idx, vals = _sparse_grad(d, shape, t, d.clause in ("SPR-DUPLICATES", "SPR-DECAY", "SPR-NESTEROV"),
                                     d.clause != "SPR-DUPLICATES", stream.fill)
            step[sparse_name] = (idx, rounded(vals * ls, dtype) if ls != 1.0 else vals)
        steps_out.append(step)
    names = [n for n, _ in layout]
    groups = _groups(d, f, names, steps)
    hyper: dict[str, Any] = {"learning_rate": _lr_form(d, f.lr, steps), "beta1": b1, "beta2": b2, "eps": eps}
    if f.decay != "off":
        hyper["weight_decay"] = 0.9 if corner == "sparse-loss-scale" else d.wd
    if f.loss_scale == "on":
        hyper["loss_scale"] = ls
    if f.nesterov == "on":
        hyper["use_nesterov"] = True
    title = d.title or f"{steps} steps"
    if corner == "dead-elements":  # its own eps and magnitudes, not the draft's
        title = f"{corner}: eps={eps:.3g} below the dtype's resolution, half the elements' gradients always 0"
    elif corner:
        title = f"{corner}: {title}"
    clauses = clauses_of(d.clause, f, groups) if planned else natural_clauses(d.clause)
    return make_case(clauses, dtype, [(n, values[n]) for n in names], steps_out, hyper,
                     groups, title)


def replace_fill(fill: Fill, span: tuple[float, float]) -> Fill:
    """The same fill over another magnitude span (clamped into it)."""
    lo, hi = span
    a, b = min(max(fill.lo, lo), hi), min(max(fill.hi, lo), hi)
    return fill._replace(lo=a, hi=b, zeros=0.0)


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


# ---- drafts per clause -----------------------------------------------------------------------------

def _choose(req: dict[str, tuple[str, ...]], factor: str, default: str) -> st.SearchStrategy[str]:
    """A clause's own value of a factor: the default where the clause allows it, else the first value it
    needs -- except the learning-rate form, which LR-* clauses draw among the forms they cover."""
    allowed = req.get(factor, (default,))
    if default in allowed:
        return _sampled((default,))
    return _sampled(allowed) if factor == "lr" else _sampled(allowed[:1])


@st.composite
def drafts(draw: st.DrawFn, clause: str, dtype: str) -> Draft:
    """A recipe for one case of ``clause`` in ``dtype``; the clause decides steps, spans and its features."""
    req = REQUIRES[clause]
    feats = Features(
        decay=draw(_choose(req, "decay", "off")),
        groups=draw(_choose(req, "groups", "none")),
        loss_scale=draw(_choose(req, "loss_scale", "off")),
        nesterov=draw(_choose(req, "nesterov", "off")),
        lr=draw(_choose(req, "lr", "float")),
        sparse=draw(_choose(req, "sparse", "off")),
    )
    if clause == "DEC-LOSS-SCALE":  # loss scale with and without decay, as MindSpore pre-multiplies it
        feats = feats._replace(decay=draw(_sampled(("off", "on"))))
    if clause == "GRP-ORDER" or clause == "DEC-GROUP":
        feats = feats._replace(decay=draw(_sampled(("off", "on"))))
    steps = draw(_integers(10, 60) if clause == "UPD-BIAS" else _integers(1, 8) if clause.startswith("LR-")
                 else _integers(2, 5) if clause.startswith("SPR-") else _integers(1, 6))
    span = FIRM[dtype]
    eps_palette = SMALL_EPS[dtype]
    title = ""
    if clause == "UPD-DTYPE":
        span, title = MAGNITUDES[dtype], "full magnitude range"
    eps = draw(_sampled(NEAR_EPS[dtype] if clause == "UPD-EPS" else eps_palette))
    if clause == "UPD-EPS":
        e = math.log10(eps)
        lo, hi = MAGNITUDES[dtype]
        span, title = (max(lo, e - 2), min(hi, e + 2)), f"|g| near eps={eps:.3g}"
    lo, hi = FIRM[dtype]
    return Draft(
        clause=clause, dtype=dtype, features=feats,
        layout=draw(_integers(0, 63)),
        steps=steps,
        params=draw(fills((lo, hi))),
        stream=draw(streams(span)),
        lr=draw(learning_rates()),
        lr_int=draw(_sampled((1, 2))),
        lr_seed=draw(SEEDS),
        sched=draw(schedules(lr_length(MAX_STEPS.get(clause, 8)))),
        betas=draw(_sampled(BETA_PAIRS)),
        eps=eps,
        wd=draw(_sampled(WEIGHT_DECAYS)),
        loss_scale=draw(_sampled(LOSS_SCALES.get(dtype, DEFAULT_LOSS_SCALES))),
        split=draw(SEEDS),
        group_wds=(draw(_sampled(WEIGHT_DECAYS)), draw(_sampled(WEIGHT_DECAYS)), draw(_sampled(WEIGHT_DECAYS))),
        sparse_shape=draw(_integers(0, 63)),
        nnz=draw(_integers(0, 2)),
        with_dense=draw(BOOLS),
        long_steps=draw(_sampled(LONG_STEPS)),
        long_beta2=draw(_sampled(LONG_BETA2)),
        tiny_eps=draw(_sampled(TINY_EPS[dtype])),
        title=title,
    )


# What a compiled graph bakes in besides shapes: a stream's cases share these, so caches hit.
STRUCTURE_FIELDS = ("layout", "betas", "eps", "wd", "group_wds", "loss_scale", "split", "sparse_shape", "nnz",
                    "with_dense", "sched", "lr_int", "long_beta2", "tiny_eps")
STRUCTURES_PER_STREAM = {"UPD-EPS": 2, "UPD-DTYPE": 2}  # eps / magnitude corners: two structures, others one


def share_structure(d: Draft, source: Draft) -> Draft:
    """``d``'s values (weights, gradients, lr, steps) on ``source``'s structure.

    eps is structure, but an UPD-EPS draft drew its gradients around its own eps: they move with it, by
    the same number of decades (inside the dtype's magnitudes), so |g| stays where the draft put it
    beside eps, and the title names the eps the case has."""
    shared = replace(d, **{f: getattr(source, f) for f in STRUCTURE_FIELDS})
    if d.clause == "UPD-EPS" and shared.eps != d.eps:
        shift = math.log10(shared.eps) - math.log10(d.eps)
        lo, hi = MAGNITUDES[d.dtype]
        f = d.stream.fill
        fill = f._replace(lo=min(max(f.lo + shift, lo), hi), hi=min(max(f.hi + shift, lo), hi))
        shared = replace(shared, stream=d.stream._replace(fill=fill), title=f"|g| near eps={shared.eps:.3g}")
    return shared


def planned_cases(clause: str, dtype: str, found: Sequence[Draft]) -> list[Case]:
    """Gate mode: draft k becomes a case with the plan's features for slot k (or its own), or a corner.

    Every slot takes the structure of slot 1 (or of slots 1 and 2, alternately, for the corner
    clauses): hypothesis varies values and features within a stream, not what a compiler bakes in.
    Slot 0 is hypothesis's simplest draft (one step, seed 0, default betas), the same in every run;
    on slot 1's structure it differs from run to run.
    """
    rows = plan()
    out: list[Case] = []
    seen: set[str] = set()
    r = STRUCTURES_PER_STREAM.get(clause, 1)
    for k, own in enumerate(found):
        d = share_structure(own, found[min(1 + max(k - 1, 0) % r, len(found) - 1)])
        case = _slot_case(clause, dtype, k, d, rows)
        if case.id in seen:  # drafts that differed only where this case does not look: salt the values' seed
            case = _slot_case(clause, dtype, k, replace(d, params=d.params._replace(seed=d.params.seed ^ (k + 1))),
                              rows)
        seen.add(case.id)
        out.append(case)
    return out


def _slot_case(clause: str, dtype: str, k: int, d: Draft, rows: dict[tuple[str, str, int], Features]) -> Case:
    corner = CORNERS.get((clause, k))
    row = rows.get((clause, dtype, k))
    if corner:
        return d.build(CORNER_FEATURES[corner], corner)
    if row is not None:
        return _titled(d.build(row), "pairwise: " + describe(row))
    return d.build()


def describe(f: Features) -> str:
    """The features that are on, e.g. ``nesterov, groups=wd, lr=schedule``."""
    parts = [k if v == "on" else f"{k}={v}" for k, v in f._asdict().items() if v not in ("off", "none", "float")]
    return ", ".join(parts) or "plain"


def _titled(case: Case, title: str) -> Case:
    return Case(case.clauses, case.dtype, case.params, case.kind, case.hyper, case.groups, case.params_arg,
                case.grads, f"{title}; {case.title}")


def _as_drawn(clause: str) -> Callable[[str], st.SearchStrategy[Case]]:
    return lambda dtype: drafts(clause, dtype).map(lambda d: d.build())


def _drafts_for(clause: str) -> Callable[[str], st.SearchStrategy[Draft]]:
    return lambda dtype: drafts(clause, dtype)


CLAUSE_DRAFTS: dict[str, Callable[[str], st.SearchStrategy[Draft]]] = {c: _drafts_for(c) for c in REQUIRES}


# ---- clause -> strategy ------------------------------------------------------------------------------

CLAUSE_CASES: dict[str, Callable[[str], st.SearchStrategy[Case]]] = {
    c: _as_drawn(c) for c in REQUIRES
}  # validation clauses: conformance/validation_cases.py
