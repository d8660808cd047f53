"""FAILs explained in the explainer process give exactly the records the gate gives explaining them itself.

The explainer (``conformance.explainer``) only moves work to another core; whether it runs, is killed
part-way or never starts, every record -- verdict, message, the clauses a failure is charged to, the
reading that explains it -- must be the same, and so must the exit code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance import gate
from conformance.explainer import Explainer

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = [f"{ROOT / 'tests' / 'broken_adapters.py'}:EpsAfterBias", "reference"]
VOLATILE = {"seconds", "replay", "case_file", "trace"}


def _run(tmp: Path, name: str) -> tuple[int, list[dict[str, Any]]]:
    cfg = gate.RunConfig(adapters=ADAPTERS, out=tmp / name, clauses="UPD-EPS,UPD-MOMENTS,DEC-L2,GRP-LR",
                         dtypes="float32,bfloat16", max_examples=3, shrink=False, case_cache=False, corpus=False)
    result = gate.run(cfg)
    lines = (tmp / name / "results.jsonl").read_text().splitlines()
    return result.exit_code, [{k: v for k, v in json.loads(x).items() if k not in VOLATILE} for x in lines]


def test_records_are_the_same_with_and_without_the_explainer(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Explainer] = []
    real_start = Explainer.start

    def start() -> Explainer | None:
        ex = real_start()
        assert ex is not None
        started.append(ex)
        return ex

    monkeypatch.setattr(Explainer, "start", staticmethod(start))
    monkeypatch.setattr(gate, "EXPLAINER_MIN", 10**9)
    code_off, off = _run(tmp_path, "off")
    assert not started
    monkeypatch.setattr(gate, "EXPLAINER_MIN", 0)
    code_on, on = _run(tmp_path, "on")
    assert len(started) == 1 and not started[0].broken and started[0].answered > 0
    assert code_on == code_off == 1
    assert on == off
    explained = [r for r in on if r.get("explained_by")]
    assert explained and all(r["deviates"] == ["UPD-EPS"] for r in explained)  # the explainer did explain


def test_a_dead_explainer_leaves_the_records_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed once it has been asked twice, whatever it answered by then, the gate explains the rest itself."""
    monkeypatch.setattr(gate, "EXPLAINER_MIN", 10**9)
    _, want = _run(tmp_path, "off")
    real_submit = Explainer.submit
    asked: list[Explainer] = []

    def submit(self: Explainer, key: int, case_frame: bytes, wire: Any) -> bool:
        asked.append(self)
        if len(asked) == 3:
            self.popen.kill()
            self.popen.wait()
        return real_submit(self, key, case_frame, wire)

    monkeypatch.setattr(Explainer, "submit", submit)
    monkeypatch.setattr(gate, "EXPLAINER_MIN", 0)
    _, got = _run(tmp_path, "killed")
    explained = [r for r in got if r.get("explained_by")]
    assert len(asked) >= 3 and asked[0].broken and asked[0].answered <= 2 < len(explained)
    assert got == want


def test_a_silent_explainer_is_given_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One that never answers costs EXPLAINER_PATIENCE, never a hung run, and the records are the same."""
    from conformance import runner

    monkeypatch.setattr(gate, "EXPLAINER_MIN", 10**9)
    _, want = _run(tmp_path, "off")
    monkeypatch.setattr(Explainer, "poll", lambda self: [])
    monkeypatch.setattr(runner, "EXPLAINER_PATIENCE", 0.3)
    monkeypatch.setattr(gate, "EXPLAINER_MIN", 0)
    _, got = _run(tmp_path, "silent")
    assert got == want
