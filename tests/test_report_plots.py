"""The report's figures (``conformance/report/plots.py``): laid out by arithmetic, drawn once, nothing clipped.

The figures no longer use ``bbox_inches="tight"`` (which drew each one twice); their margins are
computed from the texts that stick out of the plot areas. Here matplotlib itself measures what each
figure draws (``Figure.get_tightbbox`` with the SVG renderer, at the 72 dpi the SVG is drawn at) for
figures shaped to push every margin -- many implementations and one clause (a legend taller than the
plot), long clause, implementation and dtype names, a hostile name, one and many dtypes -- and it
must lie inside the figure with the 0.1 in of white space "tight" left, no less (clipped) and not
much more (wasted). Also: one draw per figure, markers rasterized only above ``RASTER_OVER``, text kept
as text with math parsing off, referenced ids salted per figure.
"""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib
import matplotlib.figure
import numpy as np
import pytest
from matplotlib.backends.backend_svg import RendererSVG

from conformance.clauses import CLAUSES
from conformance.report import plots

HOSTILE = "<b>x</b> $\\alpha$ & co"

SHAPES = {  # name: (clauses, adapters, dtypes)
    "usual": ([c.id for c in CLAUSES][:23], ["torch-cpu-single", "reference-f32"],
              ["float64", "float32", "float16", "bfloat16"]),
    "legend taller than the plot": (["UPD-EPS"], [f"adapter-{i}-with-a-rather-long-name" for i in range(13)],
                                    ["float32"]),
    "long names": (["C" * 60, "short"], [HOSTILE, "a" * 70], ["d" * 45, "float16"]),
    "one row, two dtypes": (["X"], ["a", "b"], ["float32", "float64"]),
    "multi-line clause": (["TWO\nLINES", "UPD-EPS"], ["a"], ["float32"]),
}


def _points(clauses: list[str], adapters: list[str], dtypes: list[str], n: int) -> list[plots.Point]:
    rng = np.random.default_rng(0)
    return [plots.Point(clauses[rng.integers(len(clauses))], adapters[rng.integers(len(adapters))],
                        dtypes[rng.integers(len(dtypes))], float(10 ** rng.uniform(-8, 20)), "PASS")
            for _ in range(n)]


def _white_space(fig: matplotlib.figure.Figure) -> tuple[float, float, float, float]:
    """Points of white space left, right, below and above what ``fig`` draws (negative: clipped)."""
    assert fig.dpi == 72  # the SVG is drawn at 72 dpi, so display units are points
    w, h = fig.get_size_inches() * 72
    box = fig.get_tightbbox(RendererSVG(w, h, io.StringIO()))  # in inches
    return box.x0 * 72, w - box.x1 * 72, box.y0 * 72, h - box.y1 * 72


@pytest.mark.parametrize("shape", SHAPES)
def test_strip_figures_fit_their_content(shape: str) -> None:
    clauses, adapters, dtypes = SHAPES[shape]
    pts = _points(clauses, adapters, dtypes, 300)
    colours = plots.palette(adapters)
    with matplotlib.rc_context(plots._RC):
        figs = {"ratio_strip": plots._ratio_strip_figure(pts, clauses, adapters, colours),
                "ratio_strip_by_dtype": plots._ratio_strip_by_dtype_figure(pts, clauses, adapters, dtypes, colours)}
        for name, fig in figs.items():
            space = _white_space(fig)
            assert all(plots._PAD - 0.5 <= s <= plots._PAD + 0.5 for s in space), (name, space)


def test_trajectory_fits_its_content() -> None:
    steps = list(range(1, 31))
    trace = {"step": steps, "quantity": "w", "got": [1 + 1e-3 * s for s in steps], "want": [1.0] * 30,
             "abs_err": [1e-3 * s for s in steps], "bound": [1e-7] * 30}
    with matplotlib.rc_context(plots._RC):
        space = _white_space(plots._trajectory_figure(trace, "#1f77b4", 1))
    assert min(space) >= 0, space


def test_each_figure_is_drawn_once(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[Any] = []
    draw = matplotlib.figure.Figure.draw
    monkeypatch.setattr(matplotlib.figure.Figure, "draw", lambda self, r: (draws.append(self), draw(self, r))[1])
    clauses, adapters, dtypes = SHAPES["usual"]
    pts = _points(clauses, adapters, dtypes, 200)
    colours = plots.palette(adapters)
    plots.ratio_strip(pts, clauses, adapters, colours)
    plots.ratio_strip_by_dtype(pts, clauses, adapters, dtypes, colours)
    plots.trajectory({"step": [1, 2], "got": [1.0, 2.0], "want": [1.0, 1.5], "abs_err": [0.0, 0.5],
                      "bound": [0.1, 0.1]}, "#1f77b4", 2, "t")
    assert len(draws) == 3 and len(set(map(id, draws))) == 3


def test_markers_rasterized_only_above_the_threshold() -> None:
    clauses, adapters, dtypes = SHAPES["usual"]
    colours = plots.palette(adapters)
    few = plots.ratio_strip(_points(clauses, adapters, dtypes, 200), clauses, adapters, colours)
    many = plots.ratio_strip(_points(clauses, adapters, dtypes, plots.RASTER_OVER + 1), clauses, adapters, colours)
    assert "<image" not in few
    assert "<image" in many and len(many) < 1_500_000


def test_text_stays_text_and_ids_are_salted() -> None:
    clauses, _, dtypes = SHAPES["usual"]
    adapters = [HOSTILE, "plain"]
    pts = _points(clauses, adapters, dtypes, 100)
    colours = plots.palette(adapters)
    one = plots.ratio_strip(pts, clauses, adapters, colours, key="one")
    two = plots.ratio_strip_by_dtype(pts, clauses, adapters, dtypes, colours, key="two")
    assert "&lt;b&gt;x&lt;/b&gt; $\\alpha$ &amp; co" in one  # escaped, the dollars kept: no math parsing
    assert "<b>" not in one and "<script" not in one + two
    for clause in clauses:
        assert f">{clause}<" in one and f">{clause}<" in two  # row labels are <text>, not glyph paths
    refs = [set(re.findall(r'(?:href="#|url\(#)([^")]+)', s)) for s in (one, two)]  # clip paths, markers
    ids = [set(re.findall(r'\bid="([^"]+)"', s)) for s in (one, two)]
    assert refs[0] and refs[1] and refs[0] <= ids[0] and refs[1] <= ids[1]
    assert not (refs[0] | refs[1]) & ids[0] & ids[1]  # no id that is referenced is in both figures
