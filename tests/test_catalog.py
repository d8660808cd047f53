"""The clause catalog is SPEC-NOTES section 2, exactly, and every clause quotes the seed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.clauses import BY_ID, CLAUSES, FAMILIES, Clause, select

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT / "docs" / "spec"
ID = re.compile(r"\b(?:UPD|DEC|GRP|LR|SPR|VAL)-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")


def _section_2(text: str) -> str:
    start = text.index("## 2.")
    end = text.index("## 3.", start)
    return text[start:end]


def _norm(text: str) -> str:
    for curly in ("\u2018", "\u2019", "\u201c", "\u201d", '"'):
        text = text.replace(curly, "'")
    text = text.replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"\s+", " ", text).strip()


def test_every_spec_notes_id_is_in_the_catalog_and_back() -> None:
    ids = set(ID.findall(_section_2((SPEC_DIR / "SPEC-NOTES.md").read_text())))
    assert ids, "no clause IDs parsed from SPEC-NOTES section 2"
    assert ids == set(BY_ID), f"missing: {sorted(ids - set(BY_ID))}, extra: {sorted(set(BY_ID) - ids)}"
    assert len(CLAUSES) == len(BY_ID)  # no duplicate IDs


def test_the_vendored_spec_matches_the_shared_one() -> None:
    """docs/spec is a copy of the project's spec files; drift means the catalog must be revisited."""
    shared = ROOT.parent / "shared"
    if not (shared / "SPEC-NOTES.md").exists():
        pytest.skip("no ../shared checkout beside this repository")
    for name in ("SPEC-NOTES.md", "seed-nn-adam.txt"):
        assert (SPEC_DIR / name).read_text() == (shared / name).read_text(), name


@pytest.mark.parametrize("clause", CLAUSES, ids=lambda c: c.id)
def test_each_clause_quotes_the_seed(clause: Clause) -> None:
    seed = _norm((SPEC_DIR / "seed-nn-adam.txt").read_text())
    assert clause.family in FAMILIES and clause.id.startswith(clause.family + "-")
    quoted = _norm(clause.seed)
    # Formula clauses quote the LaTeX loosely; every other clause quotes the seed verbatim.
    if clause.id.startswith(("UPD-MOMENTS", "UPD-BIAS", "UPD-EPS")):
        assert any(tok in seed for tok in ("beta_2", "epsilon")), "the seed's update formula is missing"
    else:
        assert quoted.replace("...", "") and all(part.strip() in seed for part in quoted.split("...")), quoted


def test_select_by_glob() -> None:
    assert [c.id for c in select("UPD-*")] == [c.id for c in CLAUSES if c.family == "UPD"]
    assert [c.id for c in select("DEC-L2,VAL-GROUP")] == ["DEC-L2", "VAL-GROUP"]
    with pytest.raises(ValueError, match="match no clause"):
        select("NOPE-*")
