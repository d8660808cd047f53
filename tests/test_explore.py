"""Explore mode: a fresh seed, targeted search, and new failures saved for the regression corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.corpus import CORPUS_DIR, corpus_cases
from conformance.strategies import LAYOUTS


def test_explore_saves_new_failures_for_the_corpus(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "explore"
    proc = cli("run", "--explore", "--adapter", "tests/faulty.py:FaultyEpsAfterBias", "--clauses", "UPD-EPS",
               "--dtypes", "float64", "--max-examples", 8, "--quiet", "--no-shrink", "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "fresh seed" in proc.stderr
    meta = json.loads((out / "run.json").read_text())
    assert meta["options"]["explore"] is True
    saved = sorted((out / "new-corpus").glob("*.json"))
    assert saved, proc.stderr[-2000:]
    known = {c.id for c in corpus_cases()}
    assert all(p.stem not in known for p in saved)
    replay = cli("replay", saved[0], "--adapter", "tests/faulty.py:FaultyEpsAfterBias")
    assert replay.returncode == 1


def test_gate_mode_replays_the_corpus_first(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "gate"
    proc = cli("run", "--adapter", "reference", "--dtypes", "float32,float64", "--max-examples", 1, "--quiet",
               "--no-shrink", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ids = [json.loads(line)["case_id"] for line in (out / "results.jsonl").read_text().splitlines()]
    pinned = [c.id for c in corpus_cases(CORPUS_DIR) if c.dtype in ("float32", "float64")]
    assert pinned and ids[: len(pinned)] == pinned


def test_hypothesis_shrink_saves_a_minimal_failing_case(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "shrink"
    adapter = "tests/faulty.py:FaultyBiasOffByOne"
    proc = cli("run", "--adapter", adapter, "--clauses", "UPD-BIAS", "--dtypes", "float64", "--max-examples", 3,
               "--hypothesis-shrink", "--quiet", "--out", out)
    assert proc.returncode == 1, proc.stderr[-2000:]
    minimal = sorted((out / "minimal").glob("*.json"))
    assert len(minimal) == 1, proc.stderr[-2000:]
    small = json.loads(minimal[0].read_text())
    failing = [json.loads(p.read_text()) for p in (out / "failures").glob("*.json")]
    # Hypothesis shrinks the recipe: the first layout of the catalogue, as few steps as any failing case.
    assert [tuple(p["shape"]) for p in small["params"]] == [LAYOUTS[0][0]]
    assert len(small["grads"]) <= min(len(f["grads"]) for f in failing)
    assert cli("replay", minimal[0], "--adapter", adapter).returncode == 1

