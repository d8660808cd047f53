"""A run's own files, a merge's verdict, and the inputs a fresh-user audit (wave 7) got past the gate.

Each test is one reproduced finding: `--update-baseline`, `--summary-md` or `report --out` pointed at
a run's own files destroyed its records with exit 0; a merge into an interrupted run dropped it; a
shard with records cut after its run merged green, and so did an incomplete merge printed to stdout;
`replay` dropped all but its last `--adapter`; an edited PASS record was trusted by `--resume`; a FIFO
under a run file's name hung the tool; case files with a bool among numbers, an unknown field or a
key given twice were read; Python callers got raw TypeErrors; `selftest` checked its flags after it
had started; `--clauses ''` meant every clause.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import conformance
from conformance import gate
from conformance.cases import CaseFormatError, decode_text, from_json
from conformance.generate import generate

TINY = ("--adapter", "reference-f32", "--clauses", "UPD-MOMENTS", "--dtypes", "float32", "--max-examples", 1,
        "--no-corpus", "--no-shrink", "--quiet")


@pytest.fixture()
def finished(cli: Any, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert cli("run", *TINY, "--out", out).returncode == 0
    return out


@pytest.mark.parametrize("flag,name", [("--update-baseline", "results.jsonl"), ("--update-baseline", "run.json"),
                                       ("--summary-md", "results.jsonl"), ("--summary-md", "failures/x.md")])
def test_a_side_output_never_overwrites_the_runs_own_files(cli: Any, finished: Path, flag: str, name: str) -> None:
    before = (finished / "results.jsonl").read_text()
    line = cli.usage_error(cli("run", *TINY, "--out", finished, flag, finished / name))
    assert "one of the files the run writes" in line, line
    assert (finished / "results.jsonl").read_text() == before


def test_a_side_output_beside_the_run_is_fine(cli: Any, finished: Path) -> None:
    proc = cli("run", *TINY, "--out", finished, "--update-baseline", finished / "known.toml")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (finished / "known.toml").is_file()


@pytest.mark.parametrize("name,fmt", [("results.jsonl", "md"), ("run.json", "json"), ("report.html", "html")])
def test_report_out_never_overwrites_the_run_it_reads(cli: Any, finished: Path, name: str, fmt: str) -> None:
    before = {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file()}
    line = cli.usage_error(cli("report", finished, "--format", fmt, "--out", finished / name))
    assert "one of the files of the run" in line, line
    assert {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file()} == before


@pytest.fixture()
def two_shards(cli: Any, tmp_path: Path) -> list[Path]:
    dirs = []
    for k in (1, 2):
        out = tmp_path / f"s{k}"
        proc = cli("run", "--adapter", "reference-f32", "--clauses", "UPD-MOMENTS", "--dtypes", "float32,float16",
                   "--max-examples", 6, "--no-corpus", "--no-shrink", "--quiet", "--shard", f"{k}/2", "--out", out)
        dirs.append(out)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert all(cli.records(d) for d in dirs), "each shard should hold cases at this size"
    return dirs


def test_a_merge_never_replaces_an_interrupted_run_or_other_files(cli: Any, tmp_path: Path,
                                                                   two_shards: list[Path], finished: Path) -> None:
    meta = json.loads((finished / "run.json").read_text())
    (finished / "run.json").write_text(json.dumps({**meta, "complete": False}))
    before = (finished / "results.jsonl").read_text()
    line = cli.usage_error(cli("report", "--merge", *two_shards, "--out", finished))
    assert "holds an interrupted run" in line, line
    assert (finished / "results.jsonl").read_text() == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    line = cli.usage_error(cli("report", "--merge", *two_shards, "--out", mine))
    assert "holds no run" in line, line
    assert (mine / "notes.txt").read_text() == "keep"


def test_a_shard_whose_records_were_cut_does_not_merge_green(cli: Any, tmp_path: Path,
                                                              two_shards: list[Path]) -> None:
    ok = cli("report", "--merge", *two_shards, "--out", tmp_path / "whole")
    assert ok.returncode == 0, ok.stderr[-2000:]
    lines = (two_shards[1] / "results.jsonl").read_text().splitlines(keepends=True)
    (two_shards[1] / "results.jsonl").write_text("".join(lines[:-1]))  # one record gone, run.json unchanged
    proc = cli("report", "--merge", *two_shards, "--out", tmp_path / "cut")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "records were changed after the run" in proc.stderr, proc.stderr[-2000:]


def test_a_merge_printed_to_stdout_exits_with_the_merged_verdict(cli: Any, two_shards: list[Path]) -> None:
    whole = cli("report", "--merge", *two_shards)
    assert whole.returncode == 0, whole.stderr[-2000:]
    half = cli("report", "--merge", two_shards[0])
    assert half.returncode == 1, half.stderr[-2000:]
    assert "missing" in half.stderr


def test_replay_takes_one_adapter(cli: Any, tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    case.write_text(generate(("UPD-MOMENTS",), ("float32",), 0, 1)[0].dumps())
    line = cli.usage_error(cli("replay", case, "--adapter", "reference", "--adapter", "reference-f32"))
    assert "replay runs one adapter" in line, line


def test_resume_refuses_a_pass_record_beyond_its_bound(cli: Any, finished: Path) -> None:
    recs = [json.loads(x) for x in (finished / "results.jsonl").read_text().splitlines()]
    recs[0].update(verdict="PASS", ratio=5.2e4, message="edited")
    (finished / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    meta = json.loads((finished / "run.json").read_text())
    (finished / "run.json").write_text(json.dumps({**meta, "complete": False}))
    line = cli.usage_error(cli("run", *TINY, "--resume", "--out", finished))
    assert "not a record this suite writes" in line, line


@pytest.mark.parametrize("name", ["results.jsonl", "run.json"])
def test_a_fifo_under_a_run_files_name_is_refused_not_waited_on(cli: Any, finished: Path, name: str) -> None:
    (finished / name).unlink()
    os.mkfifo(finished / name)
    for args in (("run", *TINY, "--out", finished), ("report", finished),
                 ("run", *TINY, "--resume", "--out", finished)):
        line = cli.usage_error(cli(*args, timeout=60))
        assert "not a regular file" in line, (args, line)


@pytest.mark.parametrize("text,says", [
    ('{"w": [true, 2.0]}', None),
    ('{"a": 1, "a": 2}', "appears twice"),
])
def test_json_a_case_cannot_hold(text: str, says: str | None) -> None:
    if says:
        with pytest.raises(CaseFormatError, match=says):
            decode_text(text.encode(), "f.json")
    else:
        assert decode_text(text.encode(), "f.json") == {"w": [True, 2.0]}


def test_a_case_with_a_bool_among_its_numbers_or_an_unknown_field_is_refused() -> None:
    base = json.loads(generate(("UPD-MOMENTS",), ("float32",), 0, 1)[0].dumps())
    base.pop("id")
    mixed = json.loads(json.dumps(base))
    mixed["params"][0]["values"] = [True] + [0.5] * (len(_flat(mixed["params"][0]["values"])) - 1)
    with pytest.raises(CaseFormatError, match="a boolean among them"):
        from_json(mixed, "mixed.json")
    with pytest.raises(CaseFormatError, match=r"unknown field\(s\) \['hyperparams'\]"):
        from_json({**base, "hyperparams": {"beta1": 0.5}}, "typo.json")
    assert from_json({**base, "shrunk_from": "UPD-0123456789ab"}, "shrunk.json").clauses == tuple(base["clauses"])


def _flat(v: Any) -> list[Any]:
    return [y for x in v for y in _flat(x)] if isinstance(v, list) else [v]


def test_python_callers_get_usage_errors_for_the_wrong_kind_of_thing(finished: Path) -> None:
    before = (finished / "results.jsonl").read_text()
    cfg = conformance.RunConfig(adapters=["reference-f32"], out=finished, clauses="UPD-MOMENTS", dtypes="float32",
                                max_examples=1)
    with pytest.raises(conformance.UsageError, match="on_event must be a callable"):
        conformance.run(cfg, on_event="x")  # type: ignore[arg-type]
    assert (finished / "results.jsonl").read_text() == before  # checked before --out is cleared
    with pytest.raises(conformance.UsageError, match=r"takes a conformance\.RunConfig"):
        conformance.run({"adapters": ["reference"]})  # type: ignore[arg-type]
    with pytest.raises(conformance.ConformanceError, match="named by a path"):
        conformance.load_case(5)  # type: ignore[arg-type]
    for field, value in (("timeout", True), ("load_timeout", True), ("memory_limit_mb", True)):
        with pytest.raises(conformance.UsageError):
            gate.plan(conformance.RunConfig(adapters=["reference-f32"], out=finished.parent / "new", **{field: value}))


def test_why_names_the_failing_records(tmp_path: Path) -> None:
    spec = str(Path(__file__).parent / "faulty.py") + ":FaultyBiasOffByOne"
    res = conformance.run(conformance.RunConfig(adapters=[spec], out=tmp_path / "run", clauses="UPD-BIAS",
                                                dtypes="float64", max_examples=2, shrink=False, corpus=False))
    assert res.exit_code == 1
    why = res.why()
    assert why and any("case(s)" in w for w in why), why
    ok = conformance.run(conformance.RunConfig(adapters=["reference-f32"], out=tmp_path / "ok", clauses="UPD-MOMENTS",
                                               dtypes="float32", max_examples=1, shrink=False, corpus=False))
    assert ok.exit_code == 0 and ok.why() == []


@pytest.mark.parametrize("flag,value", [("--seed", "-1"), ("--max-examples", "999999999")])
def test_selftest_checks_its_flags_before_it_starts(cli: Any, flag: str, value: str) -> None:
    proc = cli("selftest", flag, value, timeout=60)
    line = cli.usage_error(proc)
    assert "selftest run" not in proc.stdout + proc.stderr, proc.stderr
    assert flag.lstrip("-").replace("-", "_") in line, line


@pytest.mark.parametrize("flag", ["--clauses", "--dtypes"])
def test_an_empty_selection_is_an_error_not_everything(cli: Any, tmp_path: Path, flag: str) -> None:
    line = cli.usage_error(cli("run", "--adapter", "reference-f32", flag, "", "--out", tmp_path / "run"))
    assert flag in line and "empty" in line, line


@pytest.mark.parametrize("flag", ["--out", "--baseline", "--summary-md", "--writable"])
def test_an_empty_path_is_an_error_not_the_working_directory(cli: Any, flag: str) -> None:
    line = cli.usage_error(cli("run", "--adapter", "reference-f32", flag, ""))
    assert flag in line and "empty path" in line, line


def test_a_path_from_the_environment_is_named_by_its_variable(cli: Any, tmp_path: Path) -> None:
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path)}
    line = cli.usage_error(cli("run", *TINY, "--out", tmp_path / "run", env=env))
    assert "$GITHUB_STEP_SUMMARY" in line, line
    (tmp_path / "cache-file").write_text("")
    env = {"ADAM_CONFORMANCE_JAX_CACHE": str(tmp_path / "cache-file")}
    line = cli.usage_error(cli("run", *TINY, "--out", tmp_path / "run", env=env))
    assert "$ADAM_CONFORMANCE_JAX_CACHE" in line, line


def test_a_bad_tensor_names_the_case_file(cli: Any, tmp_path: Path) -> None:
    d = json.loads(generate(("UPD-MOMENTS",), ("float32",), 0, 1)[0].dumps())
    d.pop("id")
    d["params"][0]["values"] = [0.5] * (len(_flat(d["params"][0]["values"])) + 1)
    case = tmp_path / "bad.json"
    case.write_text(json.dumps(d))
    line = cli.usage_error(cli("replay", case, "--adapter", "reference"))
    assert str(case) in line and "do not fit shape" in line, line
