"""A failing case's file (``gate._save_failure``): written while the run goes on (no fsync), it is
``case.dumps()`` to the byte, replayable, written atomically with the usual mode, once per case, and
the record points at it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from conformance.cases import Case, ParamSpec, load
from conformance.corpus import corpus_cases
from conformance.gate import _save_failure
from conformance.generate import generate
from conformance.validation_cases import ACCEPTANCES, acceptance_case, refusals


def some_cases() -> list[Case]:
    clauses = ["UPD-MOMENTS", "VAL-GROUP", "LR-SCHEDULE", "DEC-GROUP", "GRP-ORDER", "SPR-DUPLICATES"]
    return [*generate(clauses, ["float32", "float16"], 1, 2),
            *corpus_cases(), *refusals("VAL-GROUP", "float32"), *refusals("VAL-PARAM-TYPE", "bfloat16"),
            *(acceptance_case(a, "float64") for a in ACCEPTANCES)]


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_file_is_case_dumps_to_the_byte(tmp_path: Path) -> None:
    out = tmp_path / "run"
    for case in some_cases():
        rec: dict[str, Any] = {}
        _save_failure(out, rec, case, "torch-cpu-single")
        path = out / "failures" / f"{case.id}.json"
        assert path.read_bytes() == (case.dumps() + "\n").encode()
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask()
        assert rec["case_file"] == f"failures/{case.id}.json"
        assert rec["replay"] == f"adam-conformance replay {os.path.relpath(path)} --adapter torch-cpu-single"
        assert load(path).id == case.id  # replayable
    assert not [p for p in (out / "failures").iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_case_is_written_once(tmp_path: Path) -> None:
    case = some_cases()[0]
    _save_failure(tmp_path, {}, case, "a")
    path = tmp_path / "failures" / f"{case.id}.json"
    path.write_text("kept")
    rec: dict[str, Any] = {}
    _save_failure(tmp_path, rec, case, "b")
    assert path.read_text() == "kept" and rec["replay"].endswith("--adapter b")


def odd(values: Any, hyper: Any = None) -> Case:
    return Case(("UPD-MOMENTS",), "float32", (ParamSpec("w0", (2,), values),), hyper=hyper or {"learning_rate": 0.1},
                grads=({"w0": {"dense": [0.5, 1]}},), title="odd")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_float_fails_as_case_dumps_fails(tmp_path: Path, bad: float) -> None:
    case = odd([bad, 1.0])
    with pytest.raises(ValueError, match="JSON compliant"):
        case.dumps()
    with pytest.raises(ValueError, match="JSON compliant"):  # its ID already: the case is not JSON data
        _save_failure(tmp_path, {}, case, "a")
    assert not (tmp_path / "failures").exists()
