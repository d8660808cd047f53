"""The CLI as a user and a CI see it: exit codes, one-line usage errors, and the files a run writes."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from conformance import __version__
from conformance.clauses import CLAUSES, SPEC, SPEC_VERSION

RUN_CLAUSES = ("UPD-MOMENTS", "UPD-BIAS", "UPD-EPS", "UPD-NESTEROV", "UPD-DTYPE", "DEC-L2")
RECORD_KEYS = {"case_id", "adapter", "clauses", "dtype", "verdict", "max_abs_err", "max_rel_err", "max_ulp", "bound",
               "worst", "message"}


@pytest.fixture(scope="module")
def good_run(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The documented example: two faithful adapters, every UPD clause and DEC-L2, every dtype."""
    tmp = tmp_path_factory.mktemp("cli")
    out, step_md = tmp / "run", tmp / "step-summary.md"
    proc = cli("run", "--adapter", "reference", "--adapter", "reference-f32", "--seed", 1, "--clauses", "UPD-*,DEC-L2",
               "--max-examples", 2, "--quiet", "--out", out, "--summary-md", step_md)
    return {"proc": proc, "out": out, "step_md": step_md}


@pytest.fixture(scope="module")
def failing_run(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A faulty adapter (eps after bias correction) on UPD-EPS: failing cases saved under failures/."""
    out = tmp_path_factory.mktemp("cli-fail") / "run"
    proc = cli("run", "--adapter", cli.adapter("EpsAfterBias"), "--clauses", "UPD-EPS", "--dtypes", "float32",
               "--max-examples", 3, "--quiet", "--out", out)
    assert proc.returncode == 1, proc.stderr[-3000:]
    files = sorted((out / "failures").glob("*.json"))
    assert files, "the failing run saved no case file"
    return {"proc": proc, "out": out, "case": files[0]}


# ---- exit codes and the small commands -----------------------------------------------------------------

def test_documented_run_exits_0(good_run: dict[str, Any]) -> None:
    proc = good_run["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def test_version(cli: Any) -> None:
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"adam-conformance {__version__}"


def test_clauses_lists_every_clause_id(cli: Any) -> None:
    proc = cli("clauses")
    assert proc.returncode == 0, proc.stderr
    for c in CLAUSES:
        assert re.search(rf"(?<![\w-]){re.escape(c.id)}(?![\w-])", proc.stdout), c.id
    js = cli("clauses", "--format", "json")
    assert js.returncode == 0
    assert [c["id"] for c in json.loads(js.stdout)] == [c.id for c in CLAUSES]
    md = cli("clauses", "--format", "md")
    assert [line.split("|")[1].strip() for line in md.stdout.splitlines()[2:] if line.startswith("|")] == \
        [c.id for c in CLAUSES]


def test_list_of_a_named_adapter_answers_with_its_exit_code(cli: Any) -> None:
    ok = cli("list", "--adapter", "reference")
    assert ok.returncode == 0, ok.stderr[-3000:]
    bad = cli("list", "--adapter", "reference", "--adapter", "torch:no_such_pkg.mod:X")
    assert bad.returncode == 1, (bad.stdout[-2000:], bad.stderr[-2000:])
    assert "Traceback" not in bad.stderr + bad.stdout
    assert "not available here: torch:no_such_pkg.mod:X" in bad.stderr, bad.stderr
    assert "no_such_pkg" in bad.stdout  # the table still says why


def test_list_shows_builtin_adapters_and_why_not(cli: Any) -> None:
    proc = cli("list")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line)]
        if len(cells) > 2 and cells[1]:
            rows[cells[1]] = cells[2]
    for name in ("reference", "reference-f32", "mindspore", "torch-cpu-single", "torch-cuda-single", "optax-cpu",
                 "optax-gpu"):
        assert name in rows, (name, sorted(rows))
    assert rows["reference"] == "yes" and rows["reference-f32"] == "yes"
    no_gpu = not Path("/dev/nvidia0").exists() and shutil.which("nvidia-smi") is None
    if no_gpu and importlib.util.find_spec("torch") is not None:
        assert rows["torch-cuda-single"].startswith("no") and "CUDA" in rows["torch-cuda-single"], rows
    if no_gpu:
        assert rows["optax-gpu"].startswith("no"), rows


# ---- usage errors: exit 2, one line, no traceback ---------------------------------------------------------

BAD_RUNS = {
    "unknown-adapter": (["--adapter", "no-such-adapter"], "no-such-adapter"),
    "bad-clauses": (["--adapter", "reference", "--clauses", "NOPE-*"], "NOPE-*"),
    "bad-dtypes": (["--adapter", "reference", "--dtypes", "float99"], "float99"),
    "max-examples-0": (["--adapter", "reference", "--max-examples", "0"], "--max-examples"),
    "shard-3-of-2": (["--adapter", "reference", "--shard", "3/2"], "3/2"),
    "missing-adapter-file": (["--adapter", "tests/no_such_file.py:X"], "no_such_file.py"),
}


@pytest.mark.parametrize("key", list(BAD_RUNS))
def test_run_usage_errors(cli: Any, tmp_path: Path, key: str) -> None:
    args, word = BAD_RUNS[key]
    out = tmp_path / "run"
    line = cli.usage_error(cli("run", *args, "--quiet", "--out", out))
    assert word in line, line
    assert not out.exists(), "a run that could not start must not write (or wipe) its output directory"


def test_usage_error_through_python_dash_m(cli: Any, tmp_path: Path) -> None:
    """``python -m conformance.cli`` must keep the same contract as the console script."""
    proc = cli("run", "--adapter", "no-such-adapter", "--quiet", "--out", tmp_path / "run", module=True)
    line = cli.usage_error(proc)
    assert "no-such-adapter" in line


def test_usage_error_keeps_an_earlier_run(cli: Any, tmp_path: Path, good_run: dict[str, Any]) -> None:
    """A typo in a rerun must not delete the results of the run already in --out."""
    out = tmp_path / "run"
    shutil.copytree(good_run["out"], out)
    before = (out / "results.jsonl").read_text()
    cli.usage_error(cli("run", "--adapter", "reference", "--baseline", tmp_path / "missing.toml", "--quiet",
                        "--out", out))
    assert (out / "results.jsonl").read_text() == before


def _case_variants(case_file: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    good = json.loads(case_file.read_text())
    out: dict[str, tuple[Path, str]] = {}

    def put(name: str, text: str, word: str) -> None:
        p = tmp / f"{name}.json"
        p.write_text(text)
        out[name] = (p, word)

    put("invalid-json", case_file.read_text()[:-20], "not valid JSON")
    put("wrong-format", json.dumps({**good, "format": "adam-conformance/case@9"}), "format")
    nid = {k: v for k, v in good.items() if k != "id"}
    put("unknown-clause", json.dumps({**nid, "clauses": ["UPD-NOPE"]}), "UPD-NOPE")
    edited = json.loads(json.dumps(good))
    edited["hyper"] = {**edited.get("hyper", {}), "learning_rate": 0.125}
    put("edited-id-mismatch", json.dumps(edited), "does not match")
    out["missing-file"] = (tmp / "nope" / "missing.json", "missing.json")
    return out


@pytest.mark.parametrize("key", ["invalid-json", "wrong-format", "unknown-clause", "edited-id-mismatch",
                                 "missing-file"])
def test_replay_refuses_bad_case_files(cli: Any, tmp_path: Path, failing_run: dict[str, Any], key: str) -> None:
    path, word = _case_variants(failing_run["case"], tmp_path)[key]
    line = cli.usage_error(cli("replay", path, "--adapter", "reference-f32"))
    assert word in line, line


BAD_BASELINES = {
    "malformed-toml": ("[[deviation]\nadapter = 'x'\n", "not valid TOML"),
    "unknown-key": ("[[deviation]]\nadapter = 'reference-f32'\nclauses = ['UPD-EPS']\nreason = 'r'\nowner = 'me'\n",
                    "owner"),
}


@pytest.mark.parametrize("key", list(BAD_BASELINES))
def test_run_refuses_bad_baselines(cli: Any, tmp_path: Path, key: str) -> None:
    text, word = BAD_BASELINES[key]
    b = tmp_path / "baseline.toml"
    b.write_text(text)
    out = tmp_path / "run"
    line = cli.usage_error(cli("run", "--adapter", "reference-f32", "--baseline", b, "--clauses", "UPD-EPS",
                               "--dtypes", "float32", "--max-examples", 2, "--quiet", "--out", out))
    assert word in line and "baseline.toml" in line, line
    assert not out.exists()


def test_report_of_a_directory_without_results(cli: Any, tmp_path: Path) -> None:
    line = cli.usage_error(cli("report", tmp_path))
    assert "results.jsonl" in line


def test_report_of_two_directories_needs_merge(cli: Any, good_run: dict[str, Any],
                                               failing_run: dict[str, Any]) -> None:
    line = cli.usage_error(cli("report", good_run["out"], failing_run["out"]))
    assert "--merge" in line


# ---- replay -----------------------------------------------------------------------------------------------

def test_replay_of_a_failing_case_prints_the_step_table(cli: Any, failing_run: dict[str, Any]) -> None:
    proc = cli("replay", failing_run["case"], "--adapter", cli.adapter("EpsAfterBias"))
    assert proc.returncode == 1, (proc.stdout[-2000:], proc.stderr[-2000:])
    saved = json.loads(failing_run["case"].read_text())  # shrunk in place: its own id, shrunk_from the record's
    assert saved.get("shrunk_from", saved["id"]) == failing_run["case"].stem
    assert f"case {saved['id']} " in proc.stdout
    assert "FAIL" in proc.stdout
    assert "trajectory diff" in proc.stdout
    header = next(line for line in proc.stdout.splitlines() if "step" in line and "param" in line)
    for col in ("max |diff|", "bound", "ratio", "got", "spec"):
        assert col in header
    # at least one row of the table: a step number, a parameter name, a quantity
    assert re.search(r"[│|]\s*\d+\s*[│|]\s*w\d+\s*[│|]\s*[wmv]\s*[│|]", proc.stdout), proc.stdout


def test_replay_of_the_same_case_on_a_faithful_adapter_passes(cli: Any, failing_run: dict[str, Any]) -> None:
    proc = cli("replay", failing_run["case"], "--adapter", "reference-f32")
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    assert "PASS" in proc.stdout


def test_failing_run_records_a_replay_command_that_works(cli: Any, failing_run: dict[str, Any]) -> None:
    recs = [r for r in cli.records(failing_run["out"]) if r["verdict"] == "FAIL"]
    assert recs
    for r in recs:
        assert (failing_run["out"] / r["case_file"]).is_file()
        assert r["replay"].startswith("adam-conformance replay ")
        assert r["replay"].endswith(f"--adapter {cli.adapter('EpsAfterBias')}")


# ---- report -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_report_renders(cli: Any, good_run: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    proc = cli("report", good_run["out"], "--format", fmt)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    if fmt == "md":
        assert text.startswith("# Adam conformance")
        assert "| UPD-MOMENTS |" in text and "| DEC-L2 |" in text
        assert "PARTIAL" not in text
    elif fmt == "html":
        assert text.lower().startswith("<!doctype html>")
        assert "<table" in text and "UPD-MOMENTS" in text
    else:
        data = json.loads(text)
        assert {"meta", "totals", "cells", "failures"} <= set(data)
        assert set(data["totals"]) == {"reference", "reference-f32"}
        assert data["failures"] == []
    dest = tmp_path / f"report.{fmt}"
    assert cli("report", good_run["out"], "--format", fmt, "--out", dest).returncode == 0
    assert dest.read_text() == text


# ---- what a run writes ---------------------------------------------------------------------------------------

def test_results_jsonl_records(cli: Any, good_run: dict[str, Any]) -> None:
    recs = cli.records(good_run["out"])
    assert len(recs) >= len(RUN_CLAUSES) * 2
    for r in recs:
        assert RECORD_KEYS <= set(r), RECORD_KEYS - set(r)
        assert r["adapter"] in ("reference", "reference-f32")
        assert set(r["clauses"]) & set(RUN_CLAUSES), r["clauses"]  # each case is one of a requested clause's
        assert r["verdict"] in ("PASS", "UNSUPPORTED"), r
    assert {c for r in recs for c in r["clauses"]} >= set(RUN_CLAUSES)
    assert {r["dtype"] for r in recs} == {"float64", "float32", "float16", "bfloat16"}
    # reference-f32 does not compute in float64: those cases are UNSUPPORTED, with the reason
    f64 = [r for r in recs if r["adapter"] == "reference-f32" and r["dtype"] == "float64"]
    assert f64 and all(r["verdict"] == "UNSUPPORTED" and "float64" in r["message"] for r in f64)
    passed = [r for r in recs if r["verdict"] == "PASS" and r["kind"] == "steps"]
    assert passed and all(isinstance(r["max_abs_err"], float) and isinstance(r["bound"], float)
                          and isinstance(r["max_ulp"], int) and r["worst"]["step"] >= 1 for r in passed)


def test_summary_json(cli: Any, good_run: dict[str, Any]) -> None:
    s = json.loads((good_run["out"] / "summary.json").read_text())
    recs = cli.records(good_run["out"])
    assert s["failures"] == []
    assert sum(sum(v.values()) for v in s["totals"].values()) == len(recs)
    # a case carries every clause it exercises (features are mixed), so cells cover at least those asked for
    seen = {c for r in recs for c in r["clauses"]}
    assert set(RUN_CLAUSES) <= seen
    assert {(c["adapter"], c["clause"]) for c in s["cells"]} == {(a, c) for a in ("reference", "reference-f32")
                                                                  for c in seen}
    assert s["meta"]["seed"] == 1


def test_summary_md_header(good_run: dict[str, Any]) -> None:
    md = (good_run["out"] / "summary.md").read_text()
    head = md.split("## Conformance by clause")[0]
    assert "seed: 1" in head
    assert f"adam-conformance {__version__}" in head
    assert SPEC in head and SPEC_VERSION in head
    assert f"numpy {np.__version__}" in head  # the adapters' library versions
    assert "| reference |" in head and "| reference-f32 |" in head


def test_junit_xml(good_run: dict[str, Any]) -> None:
    root = ET.parse(good_run["out"] / "junit.xml").getroot()
    names = [(tc.get("classname"), tc.get("name") or "") for tc in root.iter("testcase")]
    assert all(re.fullmatch(r"[A-Z]+-[A-Z0-9-]+\[(float64|float32|float16|bfloat16)\]", n) for _a, n in names), names
    for a in ("reference", "reference-f32"):
        assert set(RUN_CLAUSES) <= {n.split("[")[0] for c, n in names if c == a}
    assert not list(root.iter("failure")) and not list(root.iter("error"))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"reference", "reference-f32"}
    assert all(s.get("tests") == str(len(s.findall("testcase"))) and s.get("failures") == "0"
               for s in suites.values())


def test_junit_xml_reports_failures(failing_run: dict[str, Any]) -> None:
    root = ET.parse(failing_run["out"] / "junit.xml").getroot()
    failed = [tc.get("name") for tc in root.iter("testcase") if tc.find("failure") is not None]
    assert failed == ["UPD-EPS[float32]"]


def test_run_json(good_run: dict[str, Any]) -> None:
    meta = json.loads((good_run["out"] / "run.json").read_text())
    assert meta["complete"] is True
    assert meta["seed"] == 1 and meta["max_examples"] == 2
    assert meta["clauses"] == list(RUN_CLAUSES)
    assert [a["name"] for a in meta["adapters"]] == ["reference", "reference-f32"]
    assert meta["suite_version"] == __version__ and meta["spec_version"] == SPEC_VERSION


def test_summary_md_option(good_run: dict[str, Any]) -> None:
    assert good_run["step_md"].read_text() == (good_run["out"] / "summary.md").read_text()


def test_github_step_summary_env(cli: Any, tmp_path: Path) -> None:
    step = tmp_path / "github-step-summary.md"
    step.write_text("earlier step\n")
    out = tmp_path / "run"
    proc = cli("run", "--adapter", "reference-f32", "--clauses", "UPD-MOMENTS", "--dtypes", "float32",
               "--max-examples", 2, "--quiet", "--out", out, env={"GITHUB_STEP_SUMMARY": str(step)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = step.read_text()
    assert text.startswith("earlier step\n"), "the job summary is appended to, not replaced"
    assert text[len("earlier step\n"):] == (out / "summary.md").read_text()


def test_the_command_leaves_without_teardown_but_with_its_output(tmp_path: Path) -> None:
    """``cli.entry`` (the console script, ``python -m conformance``) ends the process with os._exit once
    main() returned: what it printed is flushed first, and the exit code is main()'s."""
    import subprocess
    import sys

    code = ("import atexit, sys; atexit.register(lambda: print('TORN DOWN'));"
            "sys.argv = ['adam-conformance', 'clauses']; from conformance.cli import entry; entry()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and "UPD-EPS" in proc.stdout and "TORN DOWN" not in proc.stdout
    code = code.replace("'clauses'", "'run', '--clauses', 'NOPE'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "NOPE" in proc.stderr
