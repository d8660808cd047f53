"""report.html's figures drawn in forks of the caller (``conformance/report/draw.py``): the same bytes as
drawn in the caller, and a child that raises, dies or hangs costs nothing but the time it took -- the
figures it did not deliver are drawn in the caller and the page is the same."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.report import draw, html, plots


def _threaded() -> list[str]:
    return [m for m in draw.THREADED if m in sys.modules]


@pytest.fixture(autouse=True)
def forking(request: pytest.FixtureRequest) -> None:
    """Forks of a process holding JAX's or torch's threads may deadlock (other tests load them in this
    process): then these tests run in a fresh interpreter instead (``test_in_a_fresh_interpreter``)."""
    if request.node.name == "test_in_a_fresh_interpreter":
        return
    if _threaded():
        pytest.skip(f"this process imported {', '.join(_threaded())}: run in a fresh interpreter instead")
    if not draw._forks():
        pytest.skip("figures are drawn in the caller on this machine (not Linux, or one core)")


def test_in_a_fresh_interpreter() -> None:
    if not _threaded():
        pytest.skip("no threaded library here: the tests of this file ran in this process")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", __file__],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"\b\d+ passed", proc.stdout) and "failed" not in proc.stdout, proc.stdout[-2000:]


def _records() -> list[dict[str, Any]]:
    recs: list[dict[str, Any]] = []
    for i in range(40):
        fail = i % 7 == 0
        rec = {"case_id": f"c{i}", "adapter": "a" if i % 2 else "b", "clauses": ["UPD-EPS" if i % 3 else "UPD-BIAS"],
               "dtype": ["float32", "float16"][i % 2], "kind": "steps", "verdict": "FAIL" if fail else "PASS",
               "ratio": 10.0 ** (i % 9 - 3) * (100 if fail else 1), "message": "m", "deviates": [], "seq": i}
        if fail:
            rec["worst"] = {"quantity": "w", "param": "p", "step": 2, "index": "[0]"}
            rec["first_failing_step"] = 2
            rec["trace"] = {"step": [1, 2, 3], "got": [1.0, 2.0, 3.5], "want": [1.0, 2.0, 3.0],
                            "abs_err": [0.0, 0.0, 0.5], "bound": [0.1, 0.1, 0.1]}
        recs.append(rec)
    return recs


META: dict[str, Any] = {"adapters": [{"name": "a"}, {"name": "b"}], "dtypes": ["float32", "float16"]}


def test_forked_figures_are_the_callers_bytes() -> None:
    jobs = html.figures(META, _records())
    assert {"strip", "by_dtype"} <= set(jobs) and any(k.startswith("traj") for k in jobs)
    here = {k: f(*args) for k, (f, args) in jobs.items()}
    d = draw.Drawing(jobs)
    assert d._futures, "nothing was sent to a child"
    assert d.result() == here
    assert html.page(META, _records(), drawn=draw.Drawing(jobs).result()) == html.page(META, _records())


def _raises(*_: Any) -> str:
    raise RuntimeError("child failed")


def _dies(*_: Any) -> str:
    os._exit(3)


def _hangs(*_: Any) -> str:
    time.sleep(60)
    return "never"


def _in_caller(*_: Any) -> str:
    return f"drawn by {os.getpid()}"


@pytest.mark.parametrize("fault", [_raises, _dies, _hangs])
def test_a_failing_child_leaves_the_figures_to_the_caller(fault: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(draw, "PATIENCE", 1.0)
    calls = {"n": 0}

    def flaky(*args: Any) -> str:  # the fault in a child; the caller's own call draws
        if os.getpid() != parent:
            return fault(*args)
        calls["n"] += 1
        return _in_caller()

    parent = os.getpid()
    t0 = time.monotonic()
    got = draw.Drawing({"x": (flaky, ()), "y": (plots.as_float, ("1.5",))}).result()
    assert got["x"] == f"drawn by {parent}" and calls["n"] == 1
    assert list(got) == ["x", "y"]
    assert time.monotonic() - t0 < 20  # a hung child is killed, not waited for


def test_no_fork_beside_a_threaded_library(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    monkeypatch.setitem(sys.modules, "jax", types.ModuleType("jax"))
    assert not draw._forks()
    assert not draw.Drawing({"x": (_in_caller, ())})._futures


def test_no_children_without_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(draw, "_forks", lambda: False)
    d = draw.Drawing({"x": (_in_caller, ())})
    assert not d._futures and d.result() == {"x": f"drawn by {os.getpid()}"}


def test_a_record_cannot_take_a_figures_place(tmp_path: Any) -> None:
    """write_all renders the page with a comment in each figure's place: text from a record that spells
    that comment is escaped like any other, so it stays text and the figure lands where it belongs."""
    from conformance.report import render

    recs = _records()
    for r in recs:
        r["message"] = "<!--figure strip--> <!--figure traj0-->"
        r["title"] = "<!--figure by_dtype-->"
    render.write_all(tmp_path, META, recs)
    page = (tmp_path / "report.html").read_text()
    assert "<!--figure" not in page and "&lt;!--figure strip--&gt;" in page
    assert page == html.page(META, recs, run_dir=str(tmp_path))
