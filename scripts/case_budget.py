"""Print the case-budget figures of a run's step cases as Markdown (the tables in docs/case-budget.md).

    .venv/bin/python scripts/case_budget.py [--seed 0] [--max-examples 6] [--no-plan]

Per clause: cases that lead with it, cases that exercise it at all, planned and corner slots, steps
and elements; the trivial share; structure counts (proxies for compilations); and the pairwise
feature matrix (cases per pair of factor values). Generation time is printed to stderr.

``--no-plan`` measures what the structure counts would be without the pairwise plan (every slot with
its clause's own features, corners kept): figures for docs/performance.md's compile floor, never a
mode of the gate.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections import Counter
from unittest import mock

import numpy as np

from conformance import features as F
from conformance.dtypes import NAMES
from conformance.generate import generate

ABBR = {"decay": "dec", "groups": "grp", "loss_scale": "ls", "nesterov": "nest", "lr": "lr", "sparse": "spr",
        "dtype": ""}


def _label(factor: str, value: str) -> str:
    return value if factor == "dtype" else f"{ABBR[factor]}:{value}"


def structure_floors(cases: list) -> tuple[int, int, int]:
    """How many compiled structures the cases' feature combinations force whatever their shapes: (graph,
    JIT, JIT with shapes). MindSpore builds another graph per dtype, decay on/off, group split, loss scale
    on/off, nesterov, fixed or dynamic lr and dense or sparse gradients (counted in float32 and float16,
    the dtypes it compiles); the optax adapter compiles per layout (``adapters.optax_adam.plan``), whose
    shape-free part is the dtype, the group labels, centralization, nesterov and the lr tables. The
    pairwise plan puts these combinations in the cases on purpose, so compilations cannot go below the
    floors without covering fewer pairs of feature values."""
    from adapters.optax_adam import NoCounterpart, plan

    graph, jit, layouts = set(), set(), set()
    for c in cases:
        if c.kind == "construct" or not c.num_steps:
            continue
        f = F.features_of(c)
        lr = "dynamic" if f["lr"] in F.DYNAMIC_LR else "fixed"
        if c.dtype in ("float32", "float16"):
            graph.add((c.dtype, f["decay"] != "off", f["groups"], f["loss_scale"], f["nesterov"], lr, f["sparse"]))
        try:
            lay = plan(c, "cpu", c.num_steps).compiled_layout()
        except (NoCounterpart, ValueError, TypeError):  # a case optax declines or raises on compiles nothing
            continue
        layouts.add(lay)
        jit.add((lay.dtype, lay.n_labels, tuple(e.label for e in lay.entries) if lay.n_labels > 1 else (),
                 any(e.centralizes for e in lay.entries), lay.nesterov, lay.lr_tables))
    return len(graph), len(jit), len(layouts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-examples", type=int, default=6)
    ap.add_argument("--no-plan", action="store_true", help="measure without the pairwise plan's rows")
    args = ap.parse_args(argv)
    t0 = time.process_time()
    with mock.patch("conformance.strategies.plan", dict) if args.no_plan else contextlib.nullcontext():
        cases = generate(F.STEP_CLAUSES, NAMES, args.seed, args.max_examples)
    secs = time.process_time() - t0
    print(f"generated {len(cases)} step cases in {secs:.2f} s CPU ({1000 * secs / len(cases):.1f} ms a case)",
          file=sys.stderr)
    rows = {} if args.no_plan else F.plan()
    lead = Counter(c.clauses[0] for c in cases)
    touch = Counter(cl for c in cases for cl in c.clauses)
    planned = Counter(k[0] for k in rows if k[2] < args.max_examples)
    corners = Counter(cl for (cl, slot) in F.CORNERS if slot < args.max_examples)
    steps = Counter()
    elems = Counter()
    for c in cases:
        steps[c.clauses[0]] += c.num_steps
        elems[c.clauses[0]] += c.num_steps * sum(int(np.prod(p.shape)) for p in c.params)
    print("| clause | leads | exercised by | planned (pairwise) | corners | steps | gradient elements |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for cl in F.STEP_CLAUSES:
        print(f"| {cl} | {lead[cl]} | {touch[cl]} | {planned[cl]} | {corners[cl] * len(NAMES)} | {steps[cl]} "
              f"| {elems[cl]} |")
    trivial = sum(F.is_trivial(c) for c in cases)
    print(f"\ntrivial: {trivial} of {len(cases)} ({100 * trivial / len(cases):.1f}%)")
    ms = [c for c in cases if c.dtype in ("float32", "float16")]
    print(f"shape structures: {len({F.shape_key(c) for c in cases})}; layout (JIT) structures: "
          f"{len({F.layout_key(c) for c in cases})}; graph structures in float32+float16: "
          f"{len({F.graph_key(c) for c in ms})} of {len(ms)} cases")
    graph_floor, jit_floor, jit_all = structure_floors(cases)
    print(f"feature floors (structures the feature combinations alone force, whatever the shapes): graph "
          f"(MindSpore: decay, groups, loss scale, nesterov, fixed/dynamic lr, sparse) in float32+float16: "
          f"{graph_floor}; JIT (the optax adapter's compiled layout with shapes erased) in four dtypes: "
          f"{jit_floor} of its {jit_all} layouts")
    pairs = Counter(p for c in cases for p in F._value_pairs(F.features_of(c)))
    feasible = F.all_pairs()
    print(f"pairs covered: {len(feasible & set(pairs))} of {len(feasible)} feasible\n")
    values = [(f, v) for f in F.FACTORS for v in F.FACTORS[f]]
    print("| | " + " | ".join(_label(*x) for x in values) + " |")
    print("|---|" + "---:|" * len(values))
    for a in values:
        cells = []
        for b in values:
            key = tuple(sorted((a, b)))
            if a[0] == b[0]:
                cells.append("")
            elif key not in feasible:
                cells.append("x")
            else:
                cells.append(str(pairs.get(key, 0)) if pairs.get(key) else "**0**")
        print(f"| {_label(*a)} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
