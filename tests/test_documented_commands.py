"""Every command the README and docs/ show a user is a command that works.

Each ``adam-conformance ...`` line inside a fenced shell block of README.md or docs/*.md must parse
with the real argument parser (a renamed flag breaks this test, not a user's CI). The runnable ones
-- no placeholder file, an adapter that runs here -- are then run as written, only made small
(``--max-examples 1``, ``--out`` in a temporary directory), and must exit as the contract says. The
README's Python example runs as written too, with its output directory moved.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(?:bash|sh|console|shell)\n(.*?)```", re.S)


def documented() -> list[tuple[str, str]]:
    """(doc file, command line without the program name) for every documented CLI call."""
    out = []
    for doc in DOCS:
        for block in FENCE.findall(doc.read_text()):
            for line in block.splitlines():
                line = line.split(" # ", 1)[0].strip()
                m = re.search(r"(?:^|&& |\.venv/bin/)adam-conformance (\S.*)$", line)
                if m:
                    out.append((doc.name, m.group(1)))
    return out


COMMANDS = documented()
PLACEHOLDER = re.compile(r"my_adam|my-baseline|UPD-\.\.\.\.|<id>|mypkg|FILE|DIR")


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) >= 8, COMMANDS
    assert any(c.startswith("run ") for _, c in COMMANDS)


@pytest.mark.parametrize(("doc", "command"), COMMANDS, ids=[f"{d}:{c[:50]}" for d, c in COMMANDS])
def test_documented_command_parses(doc: str, command: str) -> None:
    args = build_parser().parse_args(shlex.split(command))
    assert args.command in {"clauses", "list", "run", "replay", "report", "selftest"}


def _runnable(command: str) -> bool:
    if PLACEHOLDER.search(command):
        return False
    words = shlex.split(command)
    if words[0] not in ("run", "clauses", "list"):
        return False
    if words[0] == "run" and "--adapter" not in words:
        return False  # every adapter: the README's main job, benchmarked, not tested
    for spec in (words[i + 1] for i, w in enumerate(words) if w == "--adapter"):
        if "cuda" in spec or "gpu" in spec:
            return False
        for lib in ("torch", "optax", "mindspore"):
            if spec.startswith(lib) and importlib.util.find_spec(lib) is None:
                return False
    return True


RUNNABLE = sorted({c for _, c in COMMANDS if _runnable(c)})


@pytest.mark.parametrize("command", RUNNABLE)
def test_documented_command_runs(cli: Any, tmp_path: Path, command: str) -> None:
    words = shlex.split(command)
    if words[0] == "run":
        if "--out" in words:
            i = words.index("--out")
            del words[i:i + 2]
        if "--max-examples" not in words:
            words += ["--max-examples", "1"]
        if "--dtypes" not in words:
            words += ["--dtypes", "float32"]
        words += ["--out", str(tmp_path / "run"), "--quiet", "--no-shrink"]
    proc = cli(*words, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    if words[0] == "run":
        assert proc.returncode in (0, 1), proc.stderr[-3000:]  # judged: conformant or a finding, never a usage error
        assert (tmp_path / "run" / "run.json").exists()
    else:
        assert proc.returncode == 0, proc.stderr[-3000:]


def test_readme_python_example_runs(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block, "the README shows the Python API"
    code = block.group(1).replace('"reports/api-example"', repr(str(tmp_path / "api")))
    assert str(tmp_path) in code, "the example's output directory is where the test expects it"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("0 {"), proc.stdout
    assert (tmp_path / "api" / "results.jsonl").exists()


def test_help_lists_every_subcommand(cli: Any) -> None:
    proc = cli("--help")
    assert proc.returncode == 0
    for sub in ("clauses", "list", "run", "replay", "report", "selftest"):
        assert sub in proc.stdout


def test_closed_pipe_is_not_a_traceback() -> None:
    """`adam-conformance clauses --format json | head -1`: the reader leaves early; no BrokenPipeError."""
    exe = Path(sys.executable).parent / "adam-conformance"
    cmd = f"'{exe}' clauses --format json | head -1" if exe.exists() else \
        f"'{sys.executable}' -m conformance.cli clauses --format json | head -1"
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.stdout.strip() == "["
