"""junit.xml read by a real JUnit consumer (junitparser): errors, failures and xfails apart, with times.

The run (tests/report_run.py) has exactly one FAIL cell (HostileEps on UPD-EPS), one ERROR cell
(HostileRaise raises at its first step) and one XFAIL cell (known-eps, pinned by a baseline) among
the UPD-EPS[float32] testcases, plus passing cells (reference-f32, and the other clauses a case
exercises).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import report_run
from junitparser import Error, Failure, JUnitXml, Skipped

from conformance.clauses import BY_ID
from conformance.report.junit import junit


@pytest.fixture(scope="module")
def run(cli: Any) -> dict[str, Any]:
    return report_run.hostile_run(cli)


def _cases(xml: JUnitXml) -> list[tuple[str, str, Any]]:
    return [(suite.name, case.name, case) for suite in xml for case in suite]


def test_counts_one_failure_one_error_one_skipped(run: dict[str, Any]) -> None:
    xml = JUnitXml.fromfile(str(run["out"] / "junit.xml"))
    kinds: dict[str, list[str]] = {"failure": [], "error": [], "skipped": []}
    for suite, name, case in _cases(xml):
        for res in case.result:
            key = "error" if isinstance(res, Error) else "failure" if isinstance(res, Failure) else "skipped"
            assert isinstance(res, (Error, Failure, Skipped))
            kinds[key].append(f"{suite}::{name}")
    eps = {k: [n for n in v if n.endswith("::UPD-EPS[float32]")] for k, v in kinds.items()}
    assert [len(eps[k]) for k in ("failure", "error", "skipped")] == [1, 1, 1], kinds
    assert eps["failure"][0].startswith("evil") and eps["error"][0].startswith("raise")
    assert eps["skipped"][0].startswith("known-eps")
    assert not kinds["failure"][1:] and not kinds["skipped"][1:], kinds  # the other clauses pass (charged)
    total = xml.tests, xml.failures, xml.errors, xml.skipped
    assert total[1:] == (1, len(kinds["error"]), 1), total
    assert xml.time > 0 and all(s.time > 0 for s in xml)
    assert all(s.timestamp and s.hostname for s in xml)
    assert all(c.time > 0 for _s, _n, c in _cases(xml) if c.result or _n.startswith("UPD-EPS"))


def test_xfail_is_skipped_with_type_and_reason(run: dict[str, Any]) -> None:
    xml = JUnitXml.fromfile(str(run["out"] / "junit.xml"))
    skipped = [r for _s, _n, c in _cases(xml) for r in c.result if isinstance(r, Skipped)]
    assert len(skipped) == 1 and skipped[0].type == "xfail"
    assert "deviation" in (skipped[0].message or "") and "eps" in (skipped[0].message or "")
    errors = [r for _s, _n, c in _cases(xml) for r in c.result if isinstance(r, Error)]
    assert errors and all(e.type == "ERROR:raised" and "RuntimeError" in (e.message or "") for e in errors)


def test_names_carry_the_dtype_and_not_the_title(run: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from conformance.records import read_records

    meta = json.loads((run["out"] / "run.json").read_text())
    records = list(read_records(run["out"] / "results.jsonl"))
    before = junit(meta, records)
    names = sorted(c.name for s in JUnitXml.fromstring(before) for c in s)
    assert names and all(n.endswith("[float32]") and n.split("[")[0] in BY_ID for n in names)
    import conformance.report.junit as junit_mod

    edited = tuple(c._replace(title=f"edited: {c.title}") for c in junit_mod.CLAUSES)
    monkeypatch.setattr(junit_mod, "CLAUSES", edited)
    assert junit(meta, records) == before


def test_control_characters_leave_the_xml_well_formed(tmp_path: Path) -> None:
    meta = {"adapters": [{"name": "a\x1b[31m\x00b", "info": {"versions": {"x\x0c": "1\x07"}}}], "dtypes": ["float32"],
            "wall_seconds": 1.0, "started": "2024-01-01T00:00:00+00:00"}
    rec = {"adapter": "a\x1b[31m\x00b", "case_id": "C1", "clauses": ["UPD-EPS"], "dtype": "float32",
           "verdict": "ERROR", "error_kind": "raised", "message": "x\x00y\x0cz\x1b]0;t\x07\ud800\ufffe",
           "seconds": 0.5}
    text = junit(meta, [rec])
    xml = JUnitXml.fromstring(text)
    (case,) = [c for s in xml for c in s]
    assert isinstance(case.result[0], Error)
    assert "\\x00" in case.result[0].message and "\\x1b" in case.result[0].message
    assert case.classname == "a\\x1b[31m\\x00b"
