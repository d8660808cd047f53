"""Shared helpers for the CLI/gate tests: run ``adam-conformance`` as a user does, read what it wrote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.records import TIMING_FIELDS

ROOT = Path(__file__).resolve().parent.parent
BROKEN = "tests/broken_adapters.py"  # relative to ROOT, the CLI's working directory


def _console_script() -> list[str]:
    exe = Path(sys.executable).parent / "adam-conformance"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("adam-conformance")
    return [found] if found else [sys.executable, "-c", "import sys; from conformance.cli import main; "
                                                       "sys.exit(main())"]


class Cli:
    """``adam-conformance`` in a subprocess (the console script), from the repository root."""

    command = _console_script()
    broken = BROKEN

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("GITHUB_STEP_SUMMARY", None)  # never append our runs to a real CI job summary
        env["COLUMNS"] = "250"
        env.update(extra or {})
        return env

    def __call__(self, *args: Any, env: dict[str, str] | None = None, timeout: float = 240,
                 module: bool = False) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "conformance.cli"] if module else self.command
        return subprocess.run([*cmd, *map(str, args)], cwd=ROOT, env=self.env(env), capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, *args: Any, stderr: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Started in its own session, so the test can signal the run's whole process group; stderr goes
        to a file (a pipe would be held open by any worker that outlives the run)."""
        with open(stderr, "wb") as fh:
            return subprocess.Popen([*self.command, *map(str, args)], cwd=ROOT, env=self.env(env),
                                    stdout=subprocess.DEVNULL, stderr=fh, start_new_session=True)

    def adapter(self, name: str) -> str:
        return f"{BROKEN}:{name}"

    @staticmethod
    def usage_error(proc: subprocess.CompletedProcess[str]) -> str:
        """Assert the usage-error contract (exit 2, one stderr line, no traceback); return that line."""
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert len(lines) == 1, proc.stderr[-2000:]
        return lines[0]

    @staticmethod
    def lines(out_dir: Path) -> list[str]:
        return (out_dir / "results.jsonl").read_text().splitlines()

    @classmethod
    def records(cls, out_dir: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in cls.lines(out_dir)]

    @classmethod
    def stable(cls, out_dir: Path, replace: dict[str, str] | None = None) -> list[str]:
        """results.jsonl with the timing fields removed, one canonical line per record."""
        out = []
        for line in cls.lines(out_dir):
            r = json.loads(line)
            for f in TIMING_FIELDS:
                r.pop(f, None)
            text = json.dumps(r, sort_keys=True)
            for old, new in (replace or {}).items():
                text = text.replace(old, new)
            out.append(text)
        return out


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


@pytest.fixture
def adapters_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The requesting test module's ``ADAPTERS`` source written as a file named ``ADAPTERS_FILE``: the
    adapters a user would write, given as ``FILE.py:Class``."""
    f = tmp_path / request.module.ADAPTERS_FILE
    f.write_text(request.module.ADAPTERS)
    return f
