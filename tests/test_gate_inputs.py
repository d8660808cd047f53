"""What the gate does with what it is given: never someone else's files, never a half-checked input.

Each test comes from a fresh-user audit. `--out` deleted files that were not the gate's, and dropped an
interrupted run's records. Unwritable paths that `os.access` cannot see (root, `/proc`) gave
tracebacks. Python callers' type mistakes surfaced as raw TypeErrors. `--explore` ignored `--seed`.
And a Ctrl-C that Python swallowed (raised inside a gc callback) let the run finish green.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

import conformance
from conformance import gate

TINY = ("--adapter", "reference-f32", "--clauses", "UPD-MOMENTS", "--dtypes", "float32", "--max-examples", 1,
        "--no-corpus", "--no-shrink", "--quiet")


def test_out_holding_other_files_is_refused_and_left_alone(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "app.log").write_text("keep me")
    (out / "notes.txt").write_text("keep me too")
    line = cli.usage_error(cli("run", *TINY, "--out", out))
    assert "is not empty and holds no run" in line, line
    assert (out / "logs" / "app.log").read_text() == "keep me"
    assert (out / "notes.txt").read_text() == "keep me too"


def test_a_finished_run_is_replaced_and_an_interrupted_one_kept(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli("run", *TINY, "--out", out).returncode == 0
    assert cli("run", *TINY, "--out", out).returncode == 0  # a finished run: replaced
    meta = json.loads((out / "run.json").read_text())
    meta["complete"] = False  # what a killed run leaves: records, and a run.json that says it did not finish
    (out / "run.json").write_text(json.dumps(meta))
    before = (out / "results.jsonl").read_text()
    line = cli.usage_error(cli("run", *TINY, "--out", out))
    assert "holds an interrupted run" in line and "--resume" in line, line
    assert (out / "results.jsonl").read_text() == before


@pytest.mark.parametrize("flag,path", [("--out", "/proc/adam-conformance-nope"),
                                       ("--update-baseline", "/proc/nope.toml"),
                                       ("--summary-md", "/proc/nope.md")])
def test_paths_that_cannot_be_written_are_one_line(cli: Any, tmp_path: Path, flag: str, path: str) -> None:
    if not Path("/proc").is_dir():
        pytest.skip("no /proc")
    args = ["run", *TINY, "--out", tmp_path / "run"]
    if flag == "--out":
        args[-1] = path
    else:
        args += [flag, path]
    line = cli.usage_error(cli(*args))
    assert flag in line, line


def test_a_cache_dir_that_is_a_file_is_refused(cli: Any, tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("")
    line = cli.usage_error(cli("run", *TINY, "--out", tmp_path / "run", "--cache-dir", f))
    assert "--cache-dir" in line and "is a file" in line, line


def test_max_examples_has_an_upper_bound(cli: Any, tmp_path: Path) -> None:
    line = cli.usage_error(cli("run", *TINY, "--out", tmp_path / "run", "--max-examples", 10**20))
    assert "max_examples" in line, line


@pytest.mark.parametrize("field,value,says", [
    ("out", None, "RunConfig.out"), ("out", 5, "RunConfig.out"), ("baseline", 5, "RunConfig.baseline"),
    ("clauses", 5, "RunConfig.clauses"), ("adapters", None, "RunConfig.adapters"), ("adapters", [1], "adapters"),
    ("shard", "1/2", "shard"), ("shard", (3, 2), "shard"), ("seed", True, "seed"), ("seed", 1.5, "seed"),
    ("seed", "1", "seed"), ("max_examples", True, "max_examples"), ("resume", "yes", "RunConfig.resume"),
])
def test_python_callers_get_one_line_errors(tmp_path: Path, field: str, value: Any, says: str) -> None:
    kw = {"adapters": ["reference-f32"], "out": tmp_path / "run", "clauses": "UPD-MOMENTS", "dtypes": "float32",
          field: value}
    with pytest.raises(conformance.UsageError) as e:
        conformance.run(conformance.RunConfig(**kw))
    assert says in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_one_adapter_name_as_a_string_is_one_adapter(tmp_path: Path) -> None:
    result = conformance.run(conformance.RunConfig(adapters="reference-f32", out=tmp_path / "run",
                                                   clauses="UPD-MOMENTS", dtypes="float32", max_examples=1,
                                                   corpus=False, shrink=False))
    assert result.exit_code == 0, result.problems
    assert {r.adapter for r in result.records} == {"reference-f32"}


def test_explore_replays_with_the_seed_it_printed(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", *TINY, "--explore", "--seed", 12345, "--out", out)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert json.loads((out / "run.json").read_text())["seed"] == 12345


def test_a_swallowed_interrupt_still_ends_the_run_interrupted(tmp_path: Path, monkeypatch: Any) -> None:
    """hypothesis's gc callback once swallowed the KeyboardInterrupt of a Ctrl-C during generation: the run
    went on to "conformant (exit 0)". The interrupt is latched, so the run is never green after one."""
    real = gate._cases

    def swallowing(p: Any, *rest: Any) -> Any:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass  # as a gc callback does
        return real(p, *rest)

    monkeypatch.setattr(gate, "_cases", swallowing)
    result = conformance.run(conformance.RunConfig(adapters=["reference-f32"], out=tmp_path / "run",
                                                   clauses="UPD-MOMENTS", dtypes="float32", max_examples=1,
                                                   corpus=False, shrink=False))
    assert result.exit_code == conformance.EXIT_INTERRUPTED, (result.exit_code, result.problems)
    assert result.meta["complete"] is False
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the run's handler is gone again


def test_a_steps_case_without_steps_is_a_format_error(cli: Any, tmp_path: Path) -> None:
    """Judging nothing is never a verdict: the loader refuses the file (exit 2), no adapter is blamed."""
    from conformance.generate import generate

    case = next(c for c in generate(["UPD-MOMENTS"], ["float32"], 0, 1) if c.kind == "steps")
    d = case.to_json()
    d["grads"] = []
    d.pop("id", None)
    path = tmp_path / "no-steps.json"
    path.write_text(json.dumps(d))
    line = cli.usage_error(cli("replay", path, "--adapter", "reference"))
    assert "at least one step" in line, line


def test_resume_of_another_configuration_is_refused_before_any_work(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli("run", *TINY, "--out", out).returncode == 0
    logs = {p.name: p.stat().st_size for p in (out / "logs").iterdir()}
    for extra, says in ((("--seed", 5), "seed"), (("--adapter", "reference"), "adapter specs")):
        line = cli.usage_error(cli("run", *TINY, *extra, "--resume", "--out", out))
        assert "--resume" in line and says in line, line
    assert {p.name: p.stat().st_size for p in (out / "logs").iterdir()} == logs  # no worker was started
