"""What wave 10 closed (red team round 6, and the CI run that timed out).

- The sandboxed workers may write /dev/shm. A case cache, a baseline or an --out kept there could be
  rewritten by code under test for the next run to read: cases dropped (a clause vanished, exit 0), a
  catch-all waiver appended (exit 0), the failures directory replaced (a traceback). Every path the
  gate keeps is now refused there, and a case set lacking a selected clause in a selected dtype fails.
- A raise was judged by its class's bare name: ``type("ValueError", (Exception,), {})`` passed every
  VAL clause. Only the builtin class is recorded by its bare name now.
- The pytest plugin told the baseline's problems from the others by how their text began: an adapter
  named "XPASS: evil" that declined everything failed the CLI and passed pytest.
- A worker that fills the disk ended the run in a traceback, with nothing said.
- A 320 MB outcome took longer than the case timeout to encode on a slow machine, so it was judged a
  timeout there, not the protocol ERROR it is: the worker now writes arrays from their own memory.
"""

from __future__ import annotations

import errno
import json
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import conformance
from conformance import ipc
from conformance.errors import UsageError

pytest_plugins = ["pytester"]

TINY = ("--clauses", "UPD-MOMENTS", "--dtypes", "float32", "--max-examples", 1, "--no-corpus", "--no-shrink",
        "--quiet")
SHM = Path("/dev/shm")
needs_shm = pytest.mark.skipif(not SHM.is_dir() or not os.access(SHM, os.W_OK), reason="no writable /dev/shm")


def _config(tmp: Path, **kw: Any) -> conformance.RunConfig:
    base: dict[str, Any] = {"adapters": ["reference-f32"], "out": tmp / "run", "clauses": "UPD-MOMENTS",
                            "dtypes": "float32", "max_examples": 1, "corpus": False, "shrink": False}
    return conformance.RunConfig(**{**base, **kw})


# ---- nothing the gate keeps where a worker may write -------------------------------------------------------

@needs_shm
@pytest.mark.parametrize("option", ["out", "baseline", "cache_dir", "summary_md", "update_baseline"])
def test_a_gate_path_in_dev_shm_is_refused(tmp_path: Path, option: str) -> None:
    shm = SHM / f"adam-w10-{os.getpid()}-{option}"
    target = shm / ("b.toml" if option == "baseline" else "x.md" if option == "summary_md" else "f")
    shm.mkdir(exist_ok=True)
    if option == "baseline":
        target.write_text("")
    try:
        with pytest.raises(UsageError, match=r"is in /dev/shm, which every sandboxed worker may write"):
            conformance.run(_config(tmp_path, **{option: target if option != "cache_dir" else shm}))
        assert not (tmp_path / "run").exists()
    finally:
        target.unlink(missing_ok=True)
        shm.rmdir()


@needs_shm
def test_the_case_cache_variable_and_the_working_directory_too(cli: Any, tmp_path: Path) -> None:
    proc = cli("run", "--adapter", "reference-f32", *TINY, "--out", tmp_path / "run",
               env={"ADAM_CONFORMANCE_CASE_CACHE": str(SHM / "adam-w10-cache")})
    assert "the case cache /dev/shm/adam-w10-cache is in /dev/shm" in cli.usage_error(proc)
    assert not (SHM / "adam-w10-cache").exists() and not (tmp_path / "run").exists()
    with pytest.raises(UsageError, match=r"the working directory /dev/shm is in /dev/shm"):
        cwd = os.getcwd()
        os.chdir(SHM)
        try:
            conformance.run(_config(tmp_path))
        finally:
            os.chdir(cwd)


def test_a_case_set_that_lost_a_clause_fails_the_run(cli: Any, tmp_path: Path) -> None:
    """Stands in for any damage that leaves every remaining line valid: the nesterov cases are dropped and
    the header's count fixed. Before, the second run was green and UPD-NESTEROV vanished from it."""
    cache = tmp_path / "cache"
    args = ("run", "--adapter", "reference-f32", "--clauses", "UPD-MOMENTS,UPD-NESTEROV", "--dtypes", "float32",
            "--max-examples", 1, "--no-corpus", "--no-shrink", "--quiet", "--cache-dir", cache)
    assert cli(*args, "--out", tmp_path / "a").returncode == 0
    (path,) = cache.glob("cases-*.jsonl")
    head, *lines = path.read_text().splitlines()
    kept = [line for line in lines if "UPD-NESTEROV" not in json.loads(line)["clauses"]]
    assert 0 < len(kept) < len(lines)
    path.write_text("\n".join([json.dumps({**json.loads(head), "count": len(kept)}), *kept]) + "\n")
    proc = cli(*args, "--out", tmp_path / "b")
    assert proc.returncode == 1, proc.stderr[-2000:]
    meta = json.loads((tmp_path / "b" / "run.json").read_text())
    assert any("no case of UPD-NESTEROV in float32" in p for p in meta["gate"]["problems"]), meta["gate"]
    assert "--no-case-cache" in proc.stdout + proc.stderr


# ---- a raise is judged by the class, not its name --------------------------------------------------------

def test_only_the_builtin_class_goes_by_its_bare_name() -> None:
    from adapters.base import exception_name, raised

    fake = type("ValueError", (Exception,), {})
    posing = type("ValueError", (Exception,), {"__module__": "builtins"})
    sub = type("StrictValueError", (ValueError,), {"__module__": "mylib"})
    assert exception_name(ValueError("x")) == "ValueError"
    assert exception_name(fake("x")) == f"{__name__}.ValueError"
    assert exception_name(posing("x")) == "builtins.ValueError"
    assert exception_name(sub("x")) == "mylib.StrictValueError"
    assert raised(fake("bad beta"), "construct").type != "ValueError"


FAKE_ERRORS = textwrap.dedent('''
    import torch

    ValueError = type("ValueError", (Exception,), {})
    TypeError = type("TypeError", (Exception,), {})


    class FakeErrorsAdam(torch.optim.Adam):
        """torch's Adam, its argument errors raised as look-alike classes named like the builtins."""

        def __init__(self, *args, **kwargs):
            import builtins
            try:
                super().__init__(*args, **kwargs)
            except builtins.ValueError as e:
                raise ValueError(str(e)) from None
            except builtins.TypeError as e:
                raise TypeError(str(e)) from None
''')


def test_look_alike_exception_classes_fail_the_validation_clauses(cli: Any, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "fake_errors_w10.py").write_text(FAKE_ERRORS)
    out = tmp_path / "run"
    proc = cli("run", "--adapter", "torch:fake_errors_w10:FakeErrorsAdam", "--clauses", "VAL-BETA-RANGE",
               "--dtypes", "float32", "--max-examples", 2, "--no-corpus", "--no-shrink", "--quiet", "--out", out,
               env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 1, proc.stderr[-2000:]
    raises = [r for r in cli.records(out) if "VAL-BETA-RANGE" in r["clauses"] and r["raised"]]
    assert raises and all(r["verdict"] == "FAIL" and r["raised"] == "fake_errors_w10.ValueError" for r in raises), \
        [(r["verdict"], r["raised"]) for r in raises]


# ---- the plugin's baseline problems are told apart by identity ------------------------------------------

DECLINER = textwrap.dedent('''
    from adapters.base import Unsupported
    from adapters.numpy_lowp import NumpyLowPrecisionAdapter


    class Adapter(NumpyLowPrecisionAdapter):
        name = "XPASS: evil"

        def run(self, case):
            return Unsupported("not today")
''')


def test_an_adapter_named_like_a_baseline_problem_still_fails_the_plugin(pytester: pytest.Pytester) -> None:
    f = pytester.path / "decliner_w10.py"
    f.write_text(DECLINER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--adam-adapter", f"{f}:Adapter",
                                           "--adam-clauses", "UPD-MOMENTS", "--adam-dtypes", "float32",
                                           "--adam-max-examples", "1")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    assert "judged no UPD case" in result.stdout.str()


# ---- a full disk ------------------------------------------------------------------------------------------

def test_a_full_disk_is_one_problem_and_never_green(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance import records

    real = records.RecordWriter.write_many
    calls = {"n": 0}

    def fill(self: Any, recs: Any) -> None:
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "run" / "results.jsonl"))
        real(self, recs)

    monkeypatch.setattr(records.RecordWriter, "write_many", fill)
    result = conformance.run(_config(tmp_path, clauses="UPD-*", max_examples=2))
    assert result.exit_code == 1
    assert any("could not write" in p and "No space left on device" in p for p in result.problems), result.problems
    assert calls["n"] > 1
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["gate"]["exit_code"] == 1 and meta["complete"] is False


def test_run_json_on_a_full_disk_is_a_problem_not_a_traceback(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance import gate

    real = gate.write_json

    def full(path: Path, obj: Any) -> None:
        if path.name == "run.json" and "gate" in obj:  # the final one, with the verdict
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, obj)

    monkeypatch.setattr(gate, "write_json", full)
    result = conformance.run(_config(tmp_path))
    assert result.exit_code == 1 and not result.ok
    assert any("could not write run.json" in p for p in result.problems), result.problems


# ---- a huge outcome is refused on its first bytes ---------------------------------------------------------

def test_an_outcome_array_is_written_from_its_own_memory() -> None:
    w = np.arange(1000.0)
    parts = ipc.encode_parts({"type": "result", "key": 1, "outcome": {"w": w, "m": None}})
    assert b"".join(parts) == ipc.encode({"type": "result", "key": 1, "outcome": {"w": w, "m": None}})
    assert any(isinstance(p, memoryview) and np.shares_memory(np.asarray(p), w) for p in parts)
    head = bytes(parts[0])
    (_, _, blen) = ipc._HEAD.unpack(head[:ipc._HEAD.size])
    assert blen == w.nbytes  # the frame's length is known before any array byte is written


def test_a_frame_past_the_limit_is_refused_on_its_head() -> None:
    big = np.broadcast_to(np.float64(0.0), (1 << 20,))  # not contiguous: copied, still one part
    parts = ipc.encode_parts({"type": "result", "key": 1, "outcome": {"w": big}})
    reader = ipc.FrameReader(max_blob=1 << 16)
    with pytest.raises(ipc.ProtocolError, match=r"MiB of arrays \(limit 0 MiB"):
        reader.feed(bytes(parts[0]))  # the first 16 bytes are enough


# ---- red team round 7: against the fixes above -----------------------------------------------------------

REBINDS_BUILTINS = textwrap.dedent('''
    import builtins

    import torch

    _REAL = builtins.ValueError
    Fake = type("ValueError", (Exception,), {"__module__": "builtins"})


    class RebindsAdam(torch.optim.Adam):
        """Rebinds builtins.ValueError to a look-alike, then raises the look-alike for torch's ValueError."""

        def __init__(self, *args, **kwargs):
            builtins.ValueError = Fake
            try:
                super().__init__(*args, **kwargs)
            except _REAL as e:
                raise Fake(str(e)) from None
''')


def test_rebinding_builtins_in_the_worker_does_not_make_a_look_alike_the_builtin(cli: Any, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "rebinds_w10.py").write_text(REBINDS_BUILTINS)
    out = tmp_path / "run"
    proc = cli("run", "--adapter", "torch:rebinds_w10:RebindsAdam", "--clauses", "VAL-BETA-RANGE", "--dtypes",
               "float32", "--max-examples", 1, "--no-corpus", "--no-shrink", "--quiet", "--out", out,
               env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 1, proc.stderr[-2000:]
    raises = [r for r in cli.records(out) if r["raised"]]
    assert raises and all(r["verdict"] == "FAIL" and r["raised"] == "builtins.ValueError" for r in raises), \
        [(r["verdict"], r["raised"]) for r in raises]


@needs_shm
@pytest.mark.parametrize("entry", ["adam-w10-not-yet", "adam-w10-lib.zip"])
def test_an_import_path_entry_in_dev_shm_is_refused_even_if_absent_or_a_zip(cli: Any, tmp_path: Path,
                                                                            entry: str) -> None:
    """A sitecustomize planted there by run 1 would run in the gate process of run 2, before any check."""
    proc = cli("run", "--adapter", "reference-f32", *TINY, "--out", tmp_path / "run",
               env={"PYTHONPATH": str(SHM / entry)})
    assert f"the import path /dev/shm/{entry} is in /dev/shm" in cli.usage_error(proc)


@needs_shm
def test_a_path_through_a_symbolic_link_in_dev_shm_is_refused(tmp_path: Path) -> None:
    """``out -> /dev/shm/hop -> real``: a worker could repoint hop at another directory during the run, and
    the gate would write (and delete) there."""
    hop = SHM / f"adam-w10-hop-{os.getpid()}"
    (tmp_path / "real").mkdir()
    hop.symlink_to(tmp_path / "real")
    (tmp_path / "out").symlink_to(hop)
    try:
        with pytest.raises(UsageError, match=rf"--out .* goes through the symbolic link {hop}, in /dev/shm"):
            conformance.run(_config(tmp_path, out=tmp_path / "out"))
        with pytest.raises(UsageError, match=r"the case cache .* goes through the symbolic link"):
            conformance.run(_config(tmp_path, out=tmp_path / "o2", cache_dir=tmp_path / "out" / "cache"))
        assert not list((tmp_path / "real").iterdir())
    finally:
        hop.unlink()
    conformance.run(_config(tmp_path, out=tmp_path / "o3", cache_dir=tmp_path / "cache"))  # no link: runs
