"""One real run with hostile strings, shared by the report tests (JUnit, Markdown, terminal, HTML).

Two CLI runs, a few seconds in all: ``known-eps`` alone writes a baseline; then the gate runs
``HostileEps`` (FAIL on UPD-EPS), ``HostileRaise`` (ERROR: it raises with a hostile message at its
first step), ``known-eps`` (the baseline turns its FAILs into XFAIL) and the faithful
``reference-f32`` on UPD-EPS in float32. Adapter names, declarations and messages carry
``<script>``, ``|``, newlines, Markdown headings and ANSI/OSC escapes (tests/hostile_report_adapters.py).
The run happens once per test session (cached), in a temporary directory removed at exit.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

HOSTILE = "tests/hostile_report_adapters.py"
ARGS = ("--clauses", "UPD-EPS", "--dtypes", "float32", "--max-examples", 3, "--no-corpus", "--seed", 3)


@functools.cache
def _run(cli: Any) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="report-run-"))
    atexit.register(shutil.rmtree, tmp, True)
    bl = tmp / "baseline.toml"
    first = cli("run", "--adapter", f"{HOSTILE}:KnownEps", *ARGS, "--quiet", "--out", tmp / "bl-run",
                "--update-baseline", bl)
    assert bl.is_file(), first.stderr[-3000:]
    out = tmp / "run"
    proc = cli("run", "--adapter", f"{HOSTILE}:HostileEps", "--adapter", f"{HOSTILE}:HostileRaise",
               "--adapter", f"{HOSTILE}:KnownEps", "--adapter", "reference-f32", *ARGS, "--baseline", bl,
               "--quiet", "--out", out)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return {"tmp": tmp, "out": out, "proc": proc}


def hostile_run(cli: Any) -> dict[str, Any]:
    return _run(cli)
