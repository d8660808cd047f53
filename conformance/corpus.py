"""The committed regression corpus: case files that every gate run replays before generated cases.

Failures found by ``run --explore`` are saved as case files; copying one into ``conformance/corpus/``
pins it for good -- the hypothesis database is a cache, the corpus is the record.
"""

from __future__ import annotations

from pathlib import Path

from .cases import Case, load

CORPUS_DIR = Path(__file__).parent / "corpus"


def corpus_cases(directory: Path = CORPUS_DIR) -> list[Case]:
    """Every case file of the corpus, in file-name order (a malformed file is a loud error)."""
    return [load(p) for p in sorted(directory.glob("*.json"))]
