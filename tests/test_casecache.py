"""The on-disk case-set cache (issue 11 item 2): a hit gives the very cases generation would, and
anything generation depends on changes the key; a damaged file is regenerated, never trusted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import hypothesis
import pytest

from conformance import casecache
from conformance.cases import Case
from conformance.generate import generate

SELECTION = (["UPD-MOMENTS", "VAL-GROUP", "LR-SCHEDULE"], ["float32", "bfloat16"], 3, 2)


def test_a_cache_hit_gives_the_generated_cases_in_order(tmp_path: Path) -> None:
    plain = generate(*SELECTION)
    first = generate(*SELECTION, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("cases-*.jsonl"))) == 1
    again = generate(*SELECTION, cache_dir=tmp_path)
    for a, b, c in zip(plain, first, again, strict=True):
        assert a.id == b.id == c.id and a.title == c.title and a.payload() == c.payload()


def _counting(cases: list[Case]) -> tuple[list[int], object]:
    calls = [0]

    def make() -> list[Case]:
        calls[0] += 1
        return cases

    return calls, make


def test_second_call_does_not_generate(tmp_path: Path) -> None:
    cases = generate(*SELECTION)
    calls, make = _counting(cases)
    casecache.cached(tmp_path, *SELECTION, make)
    casecache.cached(tmp_path, *SELECTION, make)
    assert calls[0] == 1


@pytest.mark.parametrize("change", ["seed", "max_examples", "clauses", "clause order", "dtypes"])
def test_every_input_changes_the_key(change: str) -> None:
    clauses, dtypes, seed, n = SELECTION
    base = casecache.cache_key(clauses, dtypes, seed, n)
    other = {"seed": (clauses, dtypes, seed + 1, n), "max_examples": (clauses, dtypes, seed, n + 1),
             "clauses": (clauses[:2], dtypes, seed, n), "clause order": (clauses[::-1], dtypes, seed, n),
             "dtypes": (clauses, dtypes[:1], seed, n)}[change]
    assert casecache.cache_key(*other) != base


def test_hypothesis_version_and_source_change_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = casecache.cache_key(*SELECTION)
    monkeypatch.setattr(hypothesis, "__version__", hypothesis.__version__ + ".post1")
    assert casecache.cache_key(*SELECTION) != base
    monkeypatch.undo()
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "strategies.py").write_text("A = 1\n")
    digest = casecache.source_digest(pkg)
    (pkg / "strategies.py").write_text("A = 2\n")
    assert casecache.source_digest(pkg) != digest
    monkeypatch.setattr(casecache, "source_digest", lambda: "edited")
    assert casecache.cache_key(*SELECTION) != base


@pytest.mark.parametrize("damage", ["truncated", "edited value", "other key", "not JSON", "empty", "edited number",
                                    "NaN number", "edited id", "spaces"])
def test_a_damaged_cache_is_regenerated(tmp_path: Path, damage: str) -> None:
    cases = generate(*SELECTION)
    calls, make = _counting(cases)
    casecache.cached(tmp_path, *SELECTION, make)
    path = next(tmp_path.glob("cases-*.jsonl"))
    lines = path.read_text().splitlines()
    if damage == "truncated":
        path.write_text("\n".join(lines[:-1]) + "\n")
    elif damage == "edited value":
        last = json.loads(lines[-1])
        last["hyper"] = {**last["hyper"], "eps": 0.5}  # content edited, id kept: must not be trusted
        path.write_text("\n".join([*lines[:-1], json.dumps(last)]))
    elif damage == "edited number":  # one gradient value, by one ulp: the id kept must not match
        last = json.loads(lines[-1])
        grad = next(g for step in last["grads"] for g in step.values() if "dense" in g)
        if not isinstance(grad["dense"], list):  # a 0-d parameter's gradient
            grad["dense"] = math.nextafter(grad["dense"], math.inf)
        else:
            flat = grad["dense"]
            while isinstance(flat[0], list):
                flat = flat[0]
            flat[0] = math.nextafter(flat[0], math.inf)
        path.write_text("\n".join([*lines[:-1], json.dumps(last)]))
    elif damage == "NaN number":
        last = json.loads(lines[-1])
        last["grads"][0] = {n: {"dense": float("nan")} for n in last["grads"][0]}
        path.write_text("\n".join([*lines[:-1], json.dumps(last)]))  # a NaN literal in the line
    elif damage == "edited id":
        last = json.loads(lines[-1])
        last["id"] = last["id"][:-1] + ("0" if last["id"][-1] != "0" else "1")
        path.write_text("\n".join([*lines[:-1], json.dumps(last)]))
    elif damage == "spaces":  # the same content spelt otherwise: still these cases, nothing regenerated
        path.write_text("\n".join([lines[0], *(json.dumps(json.loads(x), indent=None) for x in lines[1:]), ""]))
    elif damage == "other key":
        path.write_text("\n".join([lines[0].replace('"key": "', '"key": "0'), *lines[1:]]))
    elif damage == "not JSON":
        path.write_text("{" + "\n".join(lines))
    else:
        path.write_text("")
    got = casecache.cached(tmp_path, *SELECTION, make)
    assert calls[0] == (1 if damage == "spaces" else 2) and [c.id for c in got] == [c.id for c in cases]
    assert [c.id for c in casecache.read(path, casecache.cache_key(*SELECTION)) or []] == [c.id for c in cases]


def test_cached_cases_carry_the_ids_of_their_content(tmp_path: Path) -> None:
    """The loader gives each case its ID from the encoding that checks it (no second pass): the hash of
    the content, as the case itself computes it."""
    cases = generate(*SELECTION)
    casecache.cached(tmp_path, *SELECTION, lambda: cases)
    got = casecache.read(next(tmp_path.glob("cases-*.jsonl")), casecache.cache_key(*SELECTION))
    assert got is not None and len(got) == len(cases)
    for case, made in zip(got, cases, strict=True):
        given = case.id
        del case.__dict__["id"]
        assert case.id == given == made.id and case.payload() == made.payload()


def test_an_unwritable_cache_dir_still_gives_the_cases(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cases = generate(*SELECTION)
    calls, make = _counting(cases)
    assert casecache.cached(blocker / "sub", *SELECTION, make) == cases and calls[0] == 1
