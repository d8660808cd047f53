"""Records: one JSON line per (case, adapter), appended and flushed as they are produced.

Nothing is lost: a record is on disk before the next case starts, summaries are written to a temp
file and renamed into place, and a partial ``results.jsonl`` (a killed run) stays readable.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

RESULTS = "results.jsonl"
META = "run.json"
TIMING_FIELDS = ("seconds",)  # the only fields allowed to differ between two runs with the same seed


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(_clean(record), sort_keys=True, allow_nan=False)


def _drop_torn_tail(path: Path) -> None:
    """A killed writer can leave half a line: cut the file back to its last complete record."""
    if not path.exists():
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            fh.truncate(keep)


class RecordWriter:
    """Append-only results.jsonl; each record is flushed and fsynced before ``write`` returns."""

    def __init__(self, out_dir: Path, append: bool = False) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / RESULTS
        if append:
            _drop_torn_tail(self.path)
        self._fh: IO[str] = open(self.path, "a" if append else "w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(dumps(record) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record of a results.jsonl; a torn last line (a killed writer) is skipped."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; reports are for CI artifact servers too
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(_clean(data), indent=1, sort_keys=True, allow_nan=False) + "\n")


def done_keys(records: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(r["case_id"], r["adapter"]) for r in records}
