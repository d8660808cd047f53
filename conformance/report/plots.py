"""The report's pictures, drawn by matplotlib as inline SVG (no script, nothing fetched at view time).

- ``ratio_strip``: every judged case's error as a multiple of its bound, one row per clause, one
  colour (and lane) per implementation, the bound drawn at 1 -- faithful implementations sit left
  of it, deviations right of it, often by many orders of magnitude.
- ``ratio_strip_by_dtype``: the same, one panel per dtype.
- ``trajectory``: for one failing case, the worst element over the steps: implementation vs spec,
  and |error| vs bound.

Figures are built with the object API (``Figure``, no pyplot state), text is kept as SVG ``<text>``
(smaller than glyph paths; matplotlib escapes it) with math parsing off (a ``$`` in an adapter name
is just a dollar), and every figure gets its own id salt so several inline SVGs never share an id.
Above ``RASTER_OVER`` points a strip plot's markers are rasterized into the SVG so a 10,000-record
run stays a page of a few MB.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from .text import one_line

FLOOR, CEIL = 1e-6, 1e18  # ratios drawn outside this range are clipped to its edges (0 = exact)
RASTER_OVER = 3000
_RC = {"svg.fonttype": "none", "text.parse_math": False, "font.size": 8.5, "axes.titlesize": 9,
       "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "sans-serif"]}


class Point(NamedTuple):
    clause: str
    adapter: str
    dtype: str
    ratio: float
    verdict: str


def palette(adapters: Sequence[str]) -> dict[str, str]:
    """One colour per implementation, the same in every plot and in the matrix header."""
    cmap = matplotlib.colormaps["tab10" if len(adapters) <= 10 else "tab20"]
    n = cmap.N
    return {a: matplotlib.colors.to_hex(cmap(i % n)) for i, a in enumerate(adapters)}


def as_float(x: Any) -> float | None:
    """A record number: floats, ints, and the strings 'inf'/'nan' that results.jsonl stores."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _svg(fig: Figure, key: str, tight: bool = True) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": key, "svg.id": key}):
        fig.savefig(buf, format="svg", bbox_inches="tight" if tight else None, metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _clip(r: np.ndarray) -> np.ndarray:
    return np.clip(np.where(np.isnan(r), CEIL, r), FLOOR, CEIL)


def _strip_axes(ax: Any, pts: Sequence[Point], clauses: Sequence[str], lanes: Sequence[str],
                colours: Mapping[str, str], rng: np.random.Generator, label_rows: bool) -> None:
    row = {c: i for i, c in enumerate(clauses)}
    lane = {a: i for i, a in enumerate(lanes)}
    width = 0.8 / max(len(lanes), 1)
    raster = len(pts) > RASTER_OVER
    for a in lanes:
        mine = [p for p in pts if p.adapter == a]
        if not mine:
            continue
        x = _clip(np.array([p.ratio for p in mine], dtype=float))
        y = np.array([row[p.clause] for p in mine], dtype=float) + (lane[a] - (len(lanes) - 1) / 2) * width
        y += rng.uniform(-0.35, 0.35, size=len(mine)) * width
        ax.scatter(x, y, s=9, color=colours[a], alpha=0.75, linewidths=0, label=one_line(a, 40), rasterized=raster)
    ax.axvline(1.0, color="#b2182b", lw=1.2, ls="--", zorder=0)
    ax.text(1.0, -0.9, " bound", color="#b2182b", va="bottom", ha="left", fontsize=7.5)
    ax.set_xscale("log")
    ax.set_xlim(FLOOR / 3, CEIL * 3)
    ax.set_ylim(len(clauses) - 0.5, -1)
    ax.set_yticks(range(len(clauses)))
    if label_rows:
        ax.set_yticklabels(clauses)
    else:
        ax.tick_params(labelleft=False)
    ax.set_xticks([1e-6, 1e-3, 1, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18])
    ax.set_xticklabels(["≤1e-6", "1e-3", "1", "1e3", "1e6", "1e9", "1e12", "1e15", "≥1e18"])
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    for i in range(len(clauses)):
        if i % 2:
            ax.axhspan(i - 0.5, i + 0.5, color="#f4f4f4", zorder=-1, lw=0)


def ratio_strip(points: Sequence[Point], clauses: Sequence[str], adapters: Sequence[str],
                colours: Mapping[str, str], key: str = "strip") -> str:
    """One row per clause, one lane per implementation: |error| / bound of every judged case."""
    fig = Figure(figsize=(9.5, 0.9 + 0.3 * len(clauses)), dpi=110)
    with matplotlib.rc_context(_RC):
        ax = fig.add_subplot()
        _strip_axes(ax, points, clauses, adapters, colours, np.random.default_rng(0), True)
        ax.set_xlabel("error / bound of each case's worst element (log scale; exact = left edge)")
        if points:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5, frameon=False, markerscale=1.6,
                      title="implementation")
        return _svg(fig, key)


def ratio_strip_by_dtype(points: Sequence[Point], clauses: Sequence[str], adapters: Sequence[str],
                         dtypes: Sequence[str], colours: Mapping[str, str], key: str = "dtype") -> str:
    """The strip plot split by dtype: one panel each, clauses shared."""
    n = max(len(dtypes), 1)
    fig = Figure(figsize=(2.6 * n + 1.3, 0.9 + 0.24 * len(clauses)), dpi=110)
    with matplotlib.rc_context(_RC):
        axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
        rng = np.random.default_rng(0)
        for i, (ax, d) in enumerate(zip(axes, dtypes)):
            _strip_axes(ax, [p for p in points if p.dtype == d], clauses, adapters, colours, rng, i == 0)
            ax.set_title(one_line(d, 30))
            ax.set_xticks([1e-6, 1, 1e6, 1e12, 1e18])
            ax.set_xticklabels(["≤1e-6", "1", "1e6", "1e12", "≥1e18"])
        fig.supxlabel("error / bound (log scale)", fontsize=8)
        return _svg(fig, key)


def _series(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if as_float(v) is None else as_float(v) for v in values], dtype=float)


def trajectory(trace: Mapping[str, Any], colour: str, first_failing_step: int | None, key: str) -> str:
    """Two panels over the steps: implementation vs spec value; |error| vs bound (log)."""
    steps = np.array(trace.get("step") or [], dtype=float)
    got, want = _series(trace.get("got") or []), _series(trace.get("want") or [])
    err, bound = _series(trace.get("abs_err") or []), _series(trace.get("bound") or [])
    fig = Figure(figsize=(7.2, 2.1), dpi=110)
    with matplotlib.rc_context(_RC):
        a1, a2 = fig.subplots(1, 2)
        q = one_line(trace.get("quantity", "w"), 4)
        a1.plot(steps, want, color="black", lw=1.4, marker=".", ms=4, label="spec (reference)")
        a1.plot(steps, np.where(np.isfinite(got), got, np.nan), color=colour, lw=1.2, marker="x", ms=4,
                label="implementation")
        a1.set_title(f"{q} of the worst element")
        a1.set_xlabel("step")
        a1.legend(fontsize=7, frameon=False)
        tiny = 1e-300
        a2.plot(steps, np.maximum(np.where(np.isfinite(err), err, np.nan), tiny), color=colour, lw=1.2, marker="x",
                ms=4, label="|implementation - spec|")
        a2.plot(steps, np.maximum(bound, tiny), color="black", lw=1.2, ls="--", label="bound")
        a2.set_yscale("log")
        a2.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0e}"))
        a2.yaxis.set_minor_formatter(NullFormatter())
        lo = np.nanmin(np.concatenate([err[err > 0], bound[bound > 0]])) if np.any(err > 0) or np.any(bound > 0) \
            else 1e-300
        if math.isfinite(lo):
            a2.set_ylim(bottom=lo / 10)
        a2.set_title("|error| vs bound")
        a2.set_xlabel("step")
        a2.legend(fontsize=7, frameon=False)
        if first_failing_step:
            for ax in (a1, a2):
                ax.axvline(first_failing_step, color="#b2182b", lw=0.8, ls=":")
        for ax in (a1, a2):
            if len(steps) and len(steps) <= 12:
                ax.set_xticks(steps)
        # A fixed layout: tight_layout and a tight bounding box would cost three more draws per plot.
        fig.subplots_adjust(left=0.1, right=0.985, bottom=0.2, top=0.88, wspace=0.32)
        return _svg(fig, key, tight=False)
