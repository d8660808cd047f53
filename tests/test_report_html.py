"""report.html of a real run with a failing adapter and hostile strings, as headless Chromium sees it.

The DOM after Chromium parsed the page must hold the matrix (one row per clause, one column per
adapter, a status on every cell, each run cell linking to an element that exists), the plots (inline
SVG: the strip plot, the per-dtype view, a trajectory for the failure), failures with links to case
files that exist on disk, and nothing the adapters tried to inject: no script or img element, no
event-handler attribute, the title unchanged. A screenshot is saved for a person to look at
(REPORT_SCREENSHOT_DIR, default the test's temporary directory). Skips where Chromium is missing --
except in CI (CI=true), where a missing browser fails the test.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import browser
import pytest
import report_run

HOSTILE_TEXT = "<script>alert(1)</script>"


class _Dom(HTMLParser):
    """Elements of the dumped DOM: (tag, attrs) in document order, plus text per id'd element."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = browser.find()
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium is required in CI (.ci/run installs Debian's chromium package)")
        pytest.skip("Chromium not installed (apt-get install -y chromium); the browser test needs it")
    return exe


@pytest.fixture(scope="module")
def page(cli: Any, chromium: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    run = report_run.hostile_run(cli)
    html = run["out"] / "report.html"
    dom = _Dom()
    dom.feed(browser.dump_dom(chromium, html))
    shots = Path(os.environ.get("REPORT_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    png = browser.screenshot(chromium, html, shots / "report-hostile.png")
    return {"run": run, "html": html, "dom": dom, "png": png}


def test_matrix_has_every_clause_and_adapter(page: dict[str, Any]) -> None:
    dom = page["dom"]
    rows = dom.find("tr")
    clause_rows = [a["data-clause"] for a in rows if "data-clause" in a]
    assert "UPD-EPS" in clause_rows
    heads = [a for a in dom.find("th") if a.get("class") == "adapter"]
    assert len(heads) == 4  # HostileEps, HostileRaise, known-eps, reference-f32
    assert any(HOSTILE_TEXT in a["title"] for a in heads)  # the name is shown as text
    statuses = [a["data-status"] for t, a in dom.elements if t == "td" and "data-status" in a]
    assert len(statuses) == 4 * len(clause_rows)
    assert {"fail", "error", "xfail", "pass"} <= set(statuses), statuses


def test_links_resolve(page: dict[str, Any]) -> None:
    dom = page["dom"]
    ids = {a["id"] for _t, a in dom.elements if "id" in a}
    hrefs = [a["href"] for a in dom.find("a") if "href" in a]
    internal = [h[1:] for h in hrefs if h.startswith("#")]
    assert internal and not [h for h in internal if h not in ids]
    files = [h for h in hrefs if not h.startswith("#")]
    assert files, "no case-file links"
    base = page["html"].parent
    assert not [h for h in files if not (base / h).is_file()], files
    cell_links = [a["href"] for t, a in dom.elements if t == "a" and a.get("href", "").startswith("#cell-")]
    assert cell_links


def test_plots_present(page: dict[str, Any]) -> None:
    dom = page["dom"]
    figures = {a.get("id") for a in dom.find("figure")}
    assert {"plot-strip", "plot-dtype"} <= figures
    svgs = dom.find("svg")
    trajectories = [a for a in dom.find("div") if a.get("class") == "traj"]
    assert trajectories, "no trajectory section for the failing adapter"
    assert len(svgs) >= 2 + 1
    paths = [a for t, a in dom.elements if t in ("path", "use", "polyline")]
    assert len(paths) > 20  # the plots have marks, not only axes


def test_nothing_injected(page: dict[str, Any]) -> None:
    dom = page["dom"]
    tags = {t for t, _a in dom.elements}
    assert not {"script", "img", "iframe", "object", "embed"} & tags
    handlers = [(t, k) for t, a in dom.elements for k in a if k.startswith("on")]
    assert not handlers, handlers
    assert dom.title.strip() == "Adam conformance"
    own_h2 = {"run", "matrix", "plots", "trajectories", "failures", "known", "notes", "cases"}
    assert {a.get("id") for a in dom.find("h2")} <= own_h2


def test_screenshot_saved(page: dict[str, Any]) -> None:
    png = page["png"]
    assert png.stat().st_size > 20_000
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
