"""What a fuzz audit of the command line's inputs (wave 9) got past the one-line, exit-2 contract.

Each test is one reproduced finding: a path longer than the system allows (or a loop of symbolic links)
in any path option, variable or ``report`` argument was a traceback from ``Path.exists()``; ``report
--merge --out`` under ``/proc/sys`` was a traceback from ``mkdir``; a ``run.json`` whose ``gate``, an
adapter's ``info`` or ``cases_per_second`` had the wrong type was a traceback in the reports or the merge;
``--summary-md`` naming a FIFO hung the run at its end, after the previous run had been replaced;
``--update-baseline`` and ``report --out`` replaced a FIFO, a device or a symbolic link by a regular file;
``--summary-md`` naming the ``--baseline`` file appended Markdown into the baseline, and two outputs
naming one file overwrote each other; ``--resume`` and ``report`` took a results file holding a record
twice, a record of an unknown dtype or of a case the run does not have; ``adam-conformance`` without a
command printed the whole help on stdout and nothing on stderr; ``--no-case-cache --cache-dir DIR`` and
``report --merge --format F --out DIR`` silently ignored one of their options.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

RUN = ("run", "--adapter", "reference", "--clauses", "UPD-EPS", "--dtypes", "float64", "--max-examples", 3,
       "--no-shrink", "--quiet")
LONG = "x" * 300  # one name longer than NAME_MAX (255)


@pytest.fixture(scope="module")
def runs(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished run and the two shards of the same run, each judging something."""
    base = tmp_path_factory.mktemp("runs9")
    made = {"good": base / "good", "s1": base / "s1", "s2": base / "s2"}
    for name, extra in (("good", ()), ("s1", ("--shard", "1/2")), ("s2", ("--shard", "2/2"))):
        proc = cli(*RUN, *extra, "--out", made[name])
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert cli.lines(made[name]), name
    return made


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


# ---- 1. a name too long, a loop of links: one line naming the option --------------------------------------

@pytest.mark.parametrize("how", ["--out", "--update-baseline", "--summary-md", "--cache-dir", "--jax-cache",
                                 "--writable", "ADAM_CONFORMANCE_CASE_CACHE", "ADAM_CONFORMANCE_JAX_CACHE",
                                 "GITHUB_STEP_SUMMARY", "report", "report --out", "report --merge --out",
                                 "--out loop", "--update-baseline loop"])
def test_a_name_too_long_or_a_link_loop_is_one_line_naming_the_option(cli: Any, runs: dict[str, Path],
                                                                      tmp_path: Path, how: str) -> None:
    long = tmp_path / LONG
    loop = tmp_path / "loop"
    loop.symlink_to(loop.name)  # a link to itself: ELOOP
    prev = _copy(runs["good"], tmp_path / "prev")
    before = _snapshot(prev)
    if how.startswith("report"):
        args: list[Any] = {"report": ["report", long],
                           "report --out": ["report", prev, "--out", f"{long}.md"],
                           "report --merge --out": ["report", runs["s1"], runs["s2"], "--merge", "--out", long]}[how]
        env = None
        named = "report" if how == "report" else "--out"
    elif how.isupper():  # an environment variable
        args, env, named = [*RUN, "--out", prev], {how: str(long)}, f"${how}"
    else:
        flag, _, kind = how.partition(" ")
        path = loop if kind == "loop" else long
        args, env, named = [*RUN, "--out", prev] if flag != "--out" else [*RUN], None, flag
        args += [flag, path]
    line = cli.usage_error(cli(*args, env=env))
    assert f"{named} " in line, line
    assert ("too long" in line) if "loop" not in how else ("symbolic link" in line), line
    assert _snapshot(prev) == before  # the previous run survives the refusal


# ---- 2. report --merge --out where a directory cannot be created ----------------------------------------

def test_a_merge_into_a_directory_that_cannot_be_created_is_one_line(cli: Any, runs: dict[str, Path]) -> None:
    if not Path("/proc/sys").is_dir():
        pytest.skip("no /proc/sys")
    line = cli.usage_error(cli("report", runs["s1"], runs["s2"], "--merge", "--out", "/proc/sys/adam-merged"))
    assert "--out /proc/sys/adam-merged cannot be" in line, line


# ---- 3. run.json fields the reports and the merge read, of the wrong type ---------------------------------

@pytest.mark.parametrize("field, value, says", [
    ("gate", None, "'gate' must be an object"),
    ("gate", [1], "'gate' must be an object"),
    ("gate", "green", "'gate' must be an object"),
    ("gate", {"exit_code": 0, "problems": 5, "warnings": []}, "'problems' must be a list of strings"),
    ("gate", {"exit_code": "0", "problems": [], "warnings": []}, "'exit_code' must be an integer"),
    ("info", [1], "'info' must be an object"),
    ("versions", [1], "'versions' must be an object"),
    ("cases_per_second", "x", "'cases_per_second' must be a number"),
])
@pytest.mark.parametrize("command", ["report", "report --format html", "report --merge"])
def test_a_run_json_field_of_the_wrong_type_is_one_line(cli: Any, runs: dict[str, Path], tmp_path: Path,
                                                        field: str, value: Any, says: str, command: str) -> None:
    d = _copy(runs["s2" if command == "report --merge" else "good"], tmp_path / "d")
    meta = json.loads((d / "run.json").read_text())
    if field == "info":
        meta["adapters"][0]["info"] = value
    elif field == "versions":
        meta["adapters"][0]["info"]["versions"] = value
    else:
        meta[field] = value
    (d / "run.json").write_text(json.dumps(meta))
    args: list[Any] = {"report": ["report", d], "report --format html": ["report", d, "--format", "html"],
                       "report --merge": ["report", runs["s1"], d, "--merge"]}[command]
    line = cli.usage_error(cli(*args))
    assert "run.json" in line and says in line, line


# ---- 4. --summary-md / $GITHUB_STEP_SUMMARY naming a FIFO -----------------------------------------------

@pytest.mark.parametrize("via", ["--summary-md", "GITHUB_STEP_SUMMARY"])
def test_a_summary_that_is_a_fifo_is_refused_before_any_work(cli: Any, runs: dict[str, Path], tmp_path: Path,
                                                             via: str) -> None:
    prev = _copy(runs["good"], tmp_path / "prev")
    before = _snapshot(prev)
    fifo = tmp_path / "summary.fifo"
    os.mkfifo(fifo)
    if via == "--summary-md":
        proc = cli(*RUN, "--out", prev, "--summary-md", fifo, timeout=60)
    else:
        proc = cli(*RUN, "--out", prev, env={"GITHUB_STEP_SUMMARY": str(fifo)}, timeout=60)
    line = cli.usage_error(proc)
    assert (f"--summary-md {fifo}" if via == "--summary-md" else f"$GITHUB_STEP_SUMMARY {fifo}") in line, line
    assert "not a regular file" in line, line
    assert _snapshot(prev) == before
    # a summary that does not exist yet, in a writable directory, is still fine
    assert cli(*RUN, "--out", prev, "--summary-md", tmp_path / "new.md").returncode == 0
    assert (tmp_path / "new.md").is_file()


# ---- 5. an output path that is a FIFO, a device or a symbolic link --------------------------------------

def _node(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"node-{kind}.md"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a second /dev/null
    else:
        (tmp_path / "target.md").write_text("mine\n")
        path.symlink_to("target.md")
    return path


@pytest.mark.parametrize("kind", ["fifo", "device", "link"])
@pytest.mark.parametrize("how", ["--update-baseline", "report --out", "report --merge --out"])
def test_an_output_that_is_not_a_regular_file_is_refused_and_left_alone(cli: Any, runs: dict[str, Path],
                                                                        tmp_path: Path, kind: str, how: str) -> None:
    node = _node(tmp_path, kind)
    mode = os.lstat(node).st_mode
    prev = _copy(runs["good"], tmp_path / "prev")
    before = _snapshot(prev)
    args: list[Any] = {"--update-baseline": [*RUN, "--out", prev, "--update-baseline", node],
                       "report --out": ["report", prev, "--out", node],
                       "report --merge --out": ["report", runs["s1"], runs["s2"], "--merge", "--out", node]}[how]
    line = cli.usage_error(cli(*args, timeout=60))
    flag = how.split()[-1]
    assert f"{flag} {node}" in line and "not a regular file" in line, line
    assert os.lstat(node).st_mode == mode  # still the FIFO, device or link it was
    assert _snapshot(prev) == before
    if kind == "link":
        assert (tmp_path / "target.md").read_text() == "mine\n"


# ---- 6. two outputs in one file, or the summary in the baseline -----------------------------------------

@pytest.mark.parametrize("how", ["--summary-md is --baseline", "GITHUB_STEP_SUMMARY is --baseline",
                                 "--update-baseline is --summary-md", "--update-baseline is GITHUB_STEP_SUMMARY",
                                 "by another name"])
def test_outputs_that_are_one_file_are_refused(cli: Any, runs: dict[str, Path], tmp_path: Path, how: str) -> None:
    prev = _copy(runs["good"], tmp_path / "prev")
    before = _snapshot(prev)
    baseline = tmp_path / "known.toml"
    baseline.write_text("deviation = []\n")
    other = tmp_path / "u.toml"
    args: list[Any] = [*RUN, "--out", prev]
    env = None
    if how == "--summary-md is --baseline":
        args += ["--baseline", baseline, "--summary-md", baseline]
    elif how == "GITHUB_STEP_SUMMARY is --baseline":
        args += ["--baseline", baseline]
        env = {"GITHUB_STEP_SUMMARY": str(baseline)}
    elif how == "--update-baseline is --summary-md":
        args += ["--update-baseline", other, "--summary-md", other]
    elif how == "--update-baseline is GITHUB_STEP_SUMMARY":
        args += ["--update-baseline", other]
        env = {"GITHUB_STEP_SUMMARY": str(other)}
    else:  # the same file through a directory link: compared as files, not as spellings
        (tmp_path / "alias").symlink_to(tmp_path, target_is_directory=True)
        args += ["--baseline", baseline, "--summary-md", tmp_path / "alias" / "known.toml"]
    line = cli.usage_error(cli(*args, env=env))
    assert "same file" in line or "is the --baseline file" in line, line
    assert baseline.read_text() == "deviation = []\n" and not other.exists()
    assert _snapshot(prev) == before


def test_update_baseline_in_place_is_still_allowed(cli: Any, runs: dict[str, Path], tmp_path: Path) -> None:
    """--update-baseline naming the --baseline file updates it in place (not one of the findings: kept)."""
    baseline = tmp_path / "known.toml"
    baseline.write_text("deviation = []\n")
    proc = cli(*RUN, "--out", tmp_path / "run", "--baseline", baseline, "--update-baseline", baseline)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "adam-conformance baseline" in baseline.read_text()


# ---- 7. a results file holding a record twice, of an unknown dtype, or of another case --------------------

def _edited(src: Path, dst: Path, how: str) -> Path:
    d = _copy(src, dst)
    first = json.loads(cli_lines(d)[0])
    if how == "unknown dtype":
        first["dtype"] = "float8"
    elif how == "another case":
        first["case_id"] = "UPD-0123456789ab"
    with open(d / "results.jsonl", "a") as fh:
        fh.write(json.dumps(first, sort_keys=True) + "\n")
    return d


def cli_lines(d: Path) -> list[str]:
    return (d / "results.jsonl").read_text().splitlines()


@pytest.mark.parametrize("how, says", [("twice", "recorded twice"), ("unknown dtype", "unknown dtype"),
                                       ("another case", "is not a case of this run")])
@pytest.mark.parametrize("command", ["run --resume", "report", "report --merge"])
def test_a_results_file_that_no_run_wrote_is_refused(cli: Any, runs: dict[str, Path], tmp_path: Path, how: str,
                                                     says: str, command: str) -> None:
    if how == "another case" and command != "run --resume":
        pytest.skip("only a run knows its cases")  # a report reads any run's records
    d = _edited(runs["s2" if command == "report --merge" else "good"], tmp_path / "d", how)
    before = _snapshot(d)
    n = len(cli_lines(d))
    args: list[Any] = {"run --resume": [*RUN, "--out", d, "--resume"], "report": ["report", d],
                       "report --merge": ["report", runs["s1"], d, "--merge"]}[command]
    line = cli.usage_error(cli(*args))
    assert f"results.jsonl:{n}: " in line and says in line, line
    if command == "run --resume":
        assert line.startswith("adam-conformance: error: --resume: "), line
    assert _snapshot(d) == before


# ---- 8. no command at all --------------------------------------------------------------------------------

def test_no_command_is_one_line_on_stderr(cli: Any) -> None:
    proc = cli()
    line = cli.usage_error(proc)
    assert "a command is required" in line and "--help" in line, line
    assert proc.stdout == ""


# ---- 9. an option that another one would silently ignore ------------------------------------------------

@pytest.mark.parametrize("how", ["--no-case-cache --cache-dir", "report --merge --format --out DIR"])
def test_an_option_that_would_be_ignored_is_refused(cli: Any, runs: dict[str, Path], tmp_path: Path,
                                                    how: str) -> None:
    if how.startswith("report"):
        out = tmp_path / "merged"
        line = cli.usage_error(cli("report", runs["s1"], runs["s2"], "--merge", "--format", "json", "--out", out))
        assert "--format json" in line and "--merge" in line, line
        assert not out.exists()
        # a merged report file still takes its format from --format
        proc = cli("report", runs["s1"], runs["s2"], "--merge", "--format", "json", "--out", tmp_path / "m.json")
        assert proc.returncode == 0 and json.loads((tmp_path / "m.json").read_text())["meta"], proc.stderr[-2000:]
    else:
        cache = tmp_path / "cache"
        line = cli.usage_error(cli(*RUN, "--out", tmp_path / "run", "--no-case-cache", "--cache-dir", cache))
        assert "--no-case-cache" in line and "--cache-dir" in line, line
        assert not cache.exists() and not (tmp_path / "run").exists()
