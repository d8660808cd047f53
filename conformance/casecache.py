"""A generated case set cached on disk, keyed by everything generation depends on.

Generation is deterministic (same inputs, same cases), so a CI job that restores the cache directory
skips hypothesis entirely. The key covers: the suite version, the hypothesis and NumPy versions
(both shape the drawn streams), the Python version, the run seed, ``max_examples``, the clause and
dtype selection (in order), and the source of every module of the ``conformance`` package (the
strategies and whatever they build on: any edit gives a new key, so a stale set is never used).

The cache holds case JSON only -- never pickles -- and every case is re-validated by the loader
(``cases.from_json``: its ``id`` must match its content) when read back, so a corrupted or tampered
cache file costs a regeneration, never a wrong case. Dropping cases is another matter (each line left
is valid): the gate refuses a cache directory where a sandboxed worker may write
(``gate._check_writable``), and a case set lacking a selected clause in a selected dtype fails the
run (``runner.coverage_problems``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import hypothesis
import numpy as np

from . import __version__
from .cases import Case, CaseFormatError, from_json

CACHE_FORMAT = "adam-conformance/case-set@1"
PACKAGE_DIR = Path(__file__).resolve().parent
KEEP = 16  # case sets kept per directory (the newest); older ones are deleted when a new one is written


def default_dir() -> Path:
    """Where the gate keeps case sets unless told otherwise: ``$XDG_CACHE_HOME/adam-conformance/cases``
    (``~/.cache/...`` without it), as pip and pre-commit keep theirs."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "adam-conformance" / "cases"


def source_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over every ``.py`` file of the package, by relative path and content."""
    h = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        h.update(str(path.relative_to(package_dir)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def cache_key(clauses: Sequence[str], dtypes: Sequence[str], run_seed: int, max_examples: int) -> str:
    """The hex key of one case set: equal keys mean equal generated cases."""
    parts = {"format": CACHE_FORMAT, "suite": __version__, "hypothesis": hypothesis.__version__,
             "numpy": np.__version__, "python": platform.python_version(), "seed": int(run_seed),
             "max_examples": int(max_examples), "clauses": list(clauses), "dtypes": list(dtypes),
             "source": source_digest()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def cache_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"cases-{key}.jsonl"


def read(path: Path, key: str) -> list[Case] | None:
    """The cached cases, or None when the file is missing, for another key, or damaged in any way."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    try:
        head = json.loads(lines[0]) if lines else None
        if not isinstance(head, dict) or head.get("format") != CACHE_FORMAT or head.get("key") != key \
                or head.get("count") != len(lines) - 1:
            return None
        return [from_json(json.loads(line), f"{path.name}:{i + 2}") for i, line in enumerate(lines[1:])]
    except (ValueError, CaseFormatError):  # JSONDecodeError is a ValueError
        return None


def write(path: Path, key: str, cases: Sequence[Case]) -> None:
    """Atomically: a reader sees the old file or the whole new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps({"format": CACHE_FORMAT, "key": key, "count": len(cases)})
    body = "".join(json.dumps(c.to_json(), separators=(",", ":"), allow_nan=False) + "\n" for c in cases)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cases-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(head + "\n" + body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached(cache_dir: str | Path, clauses: Sequence[str], dtypes: Sequence[str], run_seed: int,
           max_examples: int, make: Callable[[], list[Case]]) -> list[Case]:
    """The case set from the cache when present and intact, else ``make()`` (then stored)."""
    key = cache_key(clauses, dtypes, run_seed, max_examples)
    path = cache_path(cache_dir, key)
    found = read(path, key)
    if found is not None:
        return found
    cases = make()
    try:
        write(path, key, cases)
        prune(path.parent, KEEP)
    except OSError:  # an unwritable cache directory only costs the next run its generation
        pass
    return cases


def prune(cache_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently written case sets of ``cache_dir``."""
    sets = sorted(cache_dir.glob("cases-*.jsonl"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in sets[keep:]:
        old.unlink(missing_ok=True)
