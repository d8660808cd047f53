"""The report's pictures, drawn by matplotlib as inline SVG (no script, nothing fetched at view time).

- ``ratio_strip``: every judged case's error as a multiple of its bound, one row per clause, one
  colour (and lane) per implementation, the bound drawn at 1 -- faithful implementations sit left
  of it, deviations right of it, often by many orders of magnitude.
- ``ratio_strip_by_dtype``: the same, one panel per dtype.
- ``trajectory``: for one failing case, the worst element over the steps: implementation vs spec,
  and |error| vs bound.

Figures are built with the object API (``Figure``, no pyplot state), text is kept as SVG ``<text>``
(smaller than glyph paths; matplotlib escapes it) with math parsing off (a ``$`` in an adapter name
is just a dollar), and every figure gets its own id salt so several inline SVGs never share an id
that one of them refers to (clip paths, markers).
Above ``RASTER_OVER`` points a strip plot's markers are rasterized into the SVG so a 10,000-record
run stays a page of a few MB.

The gate draws these after its last answer, on its one core, so each figure is drawn once: its
layout is computed, not found by drawing (``bbox_inches="tight"`` drew every figure twice, once to
measure what sticks out of the axes). A figure is built at 72 dpi, the resolution the SVG is drawn
at (``_DPI`` only sets the raster parts'), so matplotlib's own text and legend layout, asked before
any draw, gives the margins in points: row labels, legend, titles, tick labels, plus the 0.1 in of
white space "tight" left; the plot areas keep their sizes, so the pictures are the ones "tight"
made. The strip plots also skip the per-row objects that dominated their drawing: a row's mark
and label are one marker of a shared line and one text, not a ``Tick`` (five artists each); the
row shading is one collection; tick locations are set once (``set_xticks`` makes ``Tick``
objects on the spot); no minor ticks (nothing labels them; across 24 decades ``LogLocator`` drew
none); axis labels and titles sit at fixed places (placing one measures every tick label near
it). ``tests/test_report_plots.py`` checks that everything drawn lies inside each figure.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import matplotlib
import numpy as np
from matplotlib.backends.backend_svg import RendererSVG
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import TICKLEFT, Line2D
from matplotlib.text import Text
from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter, NullFormatter, NullLocator
from matplotlib.transforms import Bbox, offset_copy

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


_DPI = 110  # of the raster parts (rasterized markers); the SVG itself is in points


def _svg(fig: Figure, key: str) -> str:
    """The figure as one inline SVG, as laid out (drawn once). Call inside ``rc_context(_RC)``."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": key, "svg.id": key}):
        fig.savefig(buf, format="svg", dpi=_DPI, metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


class _Measure:
    """Extents in points of texts as matplotlib will lay them out in ``fig`` (72 dpi) when the SVG renderer
    draws it -- the same layout code and font metrics -- without drawing anything."""

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        self.renderer = RendererSVG(1, 1, io.StringIO())

    def text(self, texts: Sequence[str], size: Any, va: str = "bottom") -> Bbox:
        """The box of ``texts`` one per line (its width: the widest) at font ``size``, its origin at 0, 0."""
        t = Text(0, 0, "\n".join(map(str, texts)) or " ", fontsize=size, va=va)
        t.set_figure(self.fig)
        return t.get_window_extent(self.renderer)

    def line_height(self, texts: Sequence[str], size: Any) -> float:
        """The height of a one-line text box that holds any of ``texts``."""
        return self.text([" ".join(map(str, texts))], size).height


_PAD = 7.2  # points of white space around the content (what bbox_inches="tight" left: 0.1 in)
_LOG_LO, _LOG_HI = math.log10(FLOOR / 3), math.log10(CEIL * 3)
_TICKS = ([1e-6, 1e-3, 1, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18],
          ["≤1e-6", "1e-3", "1", "1e3", "1e6", "1e9", "1e12", "1e15", "≥1e18"])
_TICKS_DTYPE = ([1e-6, 1, 1e6, 1e12, 1e18], ["≤1e-6", "1", "1e6", "1e12", "≥1e18"])
_BOUND_FS = _LEGEND_FS = 7.5  # font sizes of the "bound" mark and of the legend


class _Margins(NamedTuple):
    """What a strip panel draws outside its plot area, in points per side."""

    left: float
    right: float
    bottom: float
    top: float


def _strip_margins(ms: _Measure, rows: int, labels: Sequence[str] | None, ticks: tuple[list[float], list[str]],
                   width: float, height: float) -> _Margins:
    """The margins of a strip panel ``width`` x ``height`` points with ``rows`` rows: its row labels (None:
    unlabelled), its x tick labels (below, and where the end ones overhang), the "bound" mark (above the
    top). Call inside ``rc_context(_RC)``."""
    rc = matplotlib.rcParams

    def at(t: float) -> float:
        return (math.log10(t) - _LOG_LO) / (_LOG_HI - _LOG_LO) * width

    left = max(ms.text(ticks[1][:1], rc["xtick.labelsize"]).width / 2 - at(ticks[0][0]), 0.0)
    if labels is not None:
        left = max(left, ms.text(labels, rc["ytick.labelsize"]).width + rc["ytick.major.size"]
                   + rc["ytick.major.pad"])
    right = max(ms.text(ticks[1][-1:], rc["xtick.labelsize"]).width / 2 - (width - at(ticks[0][-1])), 0.0)
    bottom = rc["xtick.major.size"] + rc["xtick.major.pad"] + ms.line_height(ticks[1], rc["xtick.labelsize"])
    top = max(ms.line_height([" bound"], _BOUND_FS) - 0.1 * height / (rows + 0.5), 0.0)  # its foot: 0.1 row down
    return _Margins(left, right, bottom, top)


def _clip(r: np.ndarray) -> np.ndarray:
    return np.clip(np.where(np.isnan(r), CEIL, r), FLOOR, CEIL)


def _strip_axes(ax: Any, pts: Sequence[Point], clauses: Sequence[str], lanes: Sequence[str],
                colours: Mapping[str, str], rng: np.random.Generator, label_rows: bool,
                ticks: tuple[list[float], list[str]]) -> None:
    row = {c: i for i, c in enumerate(clauses)}
    lane = {a: i for i, a in enumerate(lanes)}
    width = 0.8 / max(len(lanes), 1)
    raster = len(pts) > RASTER_OVER
    ax.set_xscale("log")
    for a in lanes:
        mine = [p for p in pts if p.adapter == a]
        if not mine:
            continue
        x = _clip(np.array([p.ratio for p in mine], dtype=float))
        y = np.array([row[p.clause] for p in mine], dtype=float) + (lane[a] - (len(lanes) - 1) / 2) * width
        y += rng.uniform(-0.35, 0.35, size=len(mine)) * width
        ax.scatter(x, y, s=9, color=colours[a], alpha=0.75, linewidths=0, label=one_line(a, 40), rasterized=raster)
    ax.axvline(1.0, color="#b2182b", lw=1.2, ls="--", zorder=0)
    ax.text(1.0, -0.9, " bound", color="#b2182b", va="bottom", ha="left", fontsize=_BOUND_FS)
    n = len(clauses)
    ax.xaxis.set_major_locator(FixedLocator(ticks[0]))
    ax.xaxis.set_major_formatter(FixedFormatter(ticks[1]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_locator(NullLocator())
    # The rows' marks and labels where a y axis draws them -- a tick marker per row, its label tick size
    # + pad left of it, in the tick labels' font and colour -- as one line of markers and a text per row.
    rc = matplotlib.rcParams
    ax.yaxis.set_major_locator(NullLocator())
    ax.add_line(Line2D(np.zeros(n), np.arange(n), transform=ax.get_yaxis_transform(), ls="none", marker=TICKLEFT,
                       ms=rc["ytick.major.size"], mew=rc["ytick.major.width"], color=rc["ytick.color"],
                       clip_on=False))
    if label_rows:
        at = offset_copy(ax.get_yaxis_transform(), fig=ax.get_figure(), units="points",
                         x=-(rc["ytick.major.size"] + rc["ytick.major.pad"]))
        colour = rc["ytick.color"] if rc["ytick.labelcolor"] == "inherit" else rc["ytick.labelcolor"]
        for i, c in enumerate(clauses):
            ax.text(0, i, c, transform=at, ha="right", va=rc["ytick.alignment"], fontsize=rc["ytick.labelsize"],
                    color=colour)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    for axis in (ax.xaxis, ax.yaxis):  # fixed places: placing a label measures every tick label near it
        axis.set_label_coords(0.5, 0.5)  # (both empty here; ratio_strip places its x label)
    bands = [[(0, i - 0.5), (1, i - 0.5), (1, i + 0.5), (0, i + 0.5)] for i in range(1, n, 2)]
    ax.add_collection(PolyCollection(bands, facecolors="#f4f4f4", edgecolors="none", linewidths=0, zorder=-1,
                                     transform=ax.get_yaxis_transform()), autolim=False)
    ax.set_xlim(FLOOR / 3, CEIL * 3)
    ax.set_ylim(n - 0.5, -1)


def _ratio_strip_figure(points: Sequence[Point], clauses: Sequence[str], adapters: Sequence[str],
                        colours: Mapping[str, str]) -> Figure:
    """``ratio_strip``'s figure, laid out. Call (and draw it) inside ``rc_context(_RC)``."""
    rc = matplotlib.rcParams
    aw, ah = 9.5 * 0.775 * 72, (0.9 + 0.3 * len(clauses)) * 0.77 * 72  # the plot area, in points
    fig = Figure(dpi=72)
    ms = _Measure(fig)
    ax = fig.add_axes((0, 0, 1, 1))  # placed below, once the margins are known
    _strip_axes(ax, points, clauses, adapters, colours, np.random.default_rng(0), True, _TICKS)
    xlabel = "error / bound of each case's worst element (log scale; exact = left edge)"
    ax.set_xlabel(xlabel, va="top")
    m = _strip_margins(ms, len(clauses), clauses, _TICKS, aw, ah)
    ax.xaxis.set_label_coords(0.5, -(m.bottom + rc["axes.labelpad"]) / ah)  # labelpad below the tick labels
    bottom, right = m.bottom + rc["axes.labelpad"] + ms.line_height([xlabel], rc["axes.labelsize"]), m.right
    if points:  # right of the plot, its top at the plot's top (less the legend's border pad)
        legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=_LEGEND_FS, frameon=False,
                           markerscale=1.6, title="implementation")
        box, pad = legend.get_window_extent(ms.renderer), legend.borderaxespad * _LEGEND_FS
        right = max(right, 0.01 * aw + pad + box.width)
        bottom = max(bottom, box.height + pad - ah)  # a legend taller than the plot
    w, h = m.left + aw + right + 2 * _PAD, bottom + ah + m.top + 2 * _PAD
    fig.set_size_inches(w / 72, h / 72)
    ax.set_position(((m.left + _PAD) / w, (bottom + _PAD) / h, aw / w, ah / h))
    return fig


def ratio_strip(points: Sequence[Point], clauses: Sequence[str], adapters: Sequence[str],
                colours: Mapping[str, str], key: str = "strip") -> str:
    """One row per clause, one lane per implementation: |error| / bound of every judged case."""
    with matplotlib.rc_context(_RC):
        return _svg(_ratio_strip_figure(points, clauses, adapters, colours), key)


def _ratio_strip_by_dtype_figure(points: Sequence[Point], clauses: Sequence[str], adapters: Sequence[str],
                                 dtypes: Sequence[str], colours: Mapping[str, str]) -> Figure:
    """``ratio_strip_by_dtype``'s figure, laid out. Call (and draw it) inside ``rc_context(_RC)``."""
    rc = matplotlib.rcParams
    n = max(len(dtypes), 1)
    aw = (2.6 * n + 1.3) * 0.775 / (n + 0.2 * (n - 1)) * 72  # each panel's plot area, in points
    ah, gap = (0.9 + 0.24 * len(clauses)) * 0.77 * 72, 0.2 * aw
    titles = [one_line(d, 30) for d in dtypes]
    fig = Figure(dpi=72)
    ms = _Measure(fig)
    first = _strip_margins(ms, len(clauses), clauses, _TICKS_DTYPE, aw, ah)
    last = _strip_margins(ms, len(clauses), None, _TICKS_DTYPE, aw, ah)
    over = 0.0
    top = first.top
    if titles:  # on their baseline, axes.titlepad above the plot
        title = ms.text(titles, rc["axes.titlesize"], va="baseline")
        over = max(title.width / 2 - aw / 2, 0.0)  # a title wider than its panel
        top = max(top, rc["axes.titlepad"] + ms.text([" ".join(titles)], rc["axes.titlesize"], va="baseline").y1)
    left, right = max(first.left, over), max(last.right, over)
    xlabel = "error / bound (log scale)"
    bottom = first.bottom + rc["axes.labelpad"] + ms.line_height([xlabel], 8)
    span = n * aw + (n - 1) * gap
    w, h = left + span + right + 2 * _PAD, bottom + ah + top + 2 * _PAD
    fig.set_size_inches(w / 72, h / 72)
    rng = np.random.default_rng(0)
    for i in range(n):
        ax = fig.add_axes(((left + _PAD + i * (aw + gap)) / w, (bottom + _PAD) / h, aw / w, ah / h))
        d = dtypes[i] if dtypes else None
        _strip_axes(ax, [p for p in points if p.dtype == d], clauses, adapters, colours, rng, i == 0, _TICKS_DTYPE)
        if d is not None:
            ax.set_title(titles[i], y=1.0)  # where it goes anyway: nothing above the plot (no auto placing)
    fig.supxlabel(xlabel, fontsize=8, x=(left + _PAD + span / 2) / w, y=_PAD / h, va="bottom")
    return fig


def ratio_strip_by_dtype(points: Sequence[Point], clauses: Sequence[str], adapters: Sequence[str],
                         dtypes: Sequence[str], colours: Mapping[str, str], key: str = "dtype") -> str:
    """The strip plot split by dtype: one panel each, clauses shared."""
    with matplotlib.rc_context(_RC):
        return _svg(_ratio_strip_by_dtype_figure(points, clauses, adapters, dtypes, colours), key)


def _series(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if as_float(v) is None else as_float(v) for v in values], dtype=float)


def _trajectory_figure(trace: Mapping[str, Any], colour: str, first_failing_step: int | None) -> Figure:
    """``trajectory``'s figure, laid out. Call (and draw it) inside ``rc_context(_RC)``."""
    steps = np.array(trace.get("step") or [], dtype=float)
    got, want = _series(trace.get("got") or []), _series(trace.get("want") or [])
    err, bound = _series(trace.get("abs_err") or []), _series(trace.get("bound") or [])
    fig = Figure(figsize=(7.2, 2.1), dpi=72)
    a1, a2 = fig.subplots(1, 2)
    q = one_line(trace.get("quantity", "w"), 4)
    a1.plot(steps, want, color="black", lw=1.4, marker=".", ms=4, label="spec (reference)")
    a1.plot(steps, np.where(np.isfinite(got), got, np.nan), color=colour, lw=1.2, marker="x", ms=4,
            label="implementation")
    a1.set_title(f"{q} of the worst element")  # placed by matplotlib: above a linear axis' offset text
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
    a2.set_title("|error| vs bound", y=1.0)  # fixed: a log axis has no offset text to make room for
    a2.legend(fontsize=7, frameon=False)
    if first_failing_step:
        for ax in (a1, a2):
            ax.axvline(first_failing_step, color="#b2182b", lw=0.8, ls=":")
    for ax in (a1, a2):
        if len(steps) and len(steps) <= 12:
            ax.set_xticks(steps)
    # A fixed layout: tight_layout and a tight bounding box would cost three more draws per plot. The x
    # labels go where matplotlib would put them, labelpad below the (one-line, numeric) tick labels, and
    # the empty y labels anywhere: placing a label measures every tick label of its axis.
    fig.subplots_adjust(left=0.1, right=0.985, bottom=0.2, top=0.88, wspace=0.32)
    rc = matplotlib.rcParams
    below = rc["xtick.major.size"] + rc["xtick.major.pad"] + rc["axes.labelpad"] \
        + _Measure(fig).line_height(["0123456789"], rc["xtick.labelsize"])
    for ax in (a1, a2):
        ax.set_xlabel("step")
        ax.xaxis.set_label_coords(0.5, -below / (2.1 * 72 * (0.88 - 0.2)))
        ax.yaxis.set_label_coords(0.5, 0.5)
    return fig


def trajectory(trace: Mapping[str, Any], colour: str, first_failing_step: int | None, key: str) -> str:
    """Two panels over the steps: implementation vs spec value; |error| vs bound (log)."""
    with matplotlib.rc_context(_RC):
        return _svg(_trajectory_figure(trace, colour, first_failing_step), key)
