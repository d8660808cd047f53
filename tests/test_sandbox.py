"""The workers' sandbox (conformance/sandbox.py): code under test cannot reach the gate's files or processes.

The red-team attacks it answers each needed a worker to write outside itself (a module planted in the
gate's working directory, a forged results.jsonl for --resume, an emptied case cache) or to reach the
gate's processes (the explainer's pipes, a SIGKILL of the gate). Every test here runs the attack for
real, in a subprocess, and checks both sides: the attempt was made and refused, and the run still
judged every case from the gate's own records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance import sandbox

pytestmark = pytest.mark.skipif(sandbox.abi() <= 0, reason=f"no Landlock here ({sandbox.describe()})")

CHILD = r"""
import json, os, sys
from pathlib import Path
from conformance import sandbox
scratch, outside, parent, extra, victim = sys.argv[1:6]
sandbox.apply(sandbox.policy(Path(scratch), [extra]))
got = {}
def attempt(name, fn):
    try:
        fn()
        got[name] = "ok"
    except OSError as e:
        got[name] = e.strerror
attempt("scratch", lambda: Path(scratch, "f").write_text("x"))
attempt("writable", lambda: Path(extra, "f").write_text("x"))
attempt("devnull", lambda: open(os.devnull, "w").write("x"))
attempt("outside", lambda: Path(outside, "f").write_text("x"))
attempt("mkdir", lambda: Path(outside, "d").mkdir())
attempt("rename-out", lambda: os.rename(Path(scratch, "f"), Path(outside, "g")))
attempt("signal", lambda: os.kill(int(parent), 0))
attempt("proc-fd", lambda: os.close(os.open(f"/proc/{parent}/fd/0", os.O_RDONLY)))
attempt("read", lambda: Path(outside, "readme").read_text())
import fcntl, resource, struct
attempt("prlimit-gate", lambda: resource.prlimit(int(victim), resource.RLIMIT_NOFILE, (3, 3)))
attempt("prlimit-self", lambda: resource.prlimit(0, resource.RLIMIT_CORE))
_fd = os.open(Path(outside, "readme"), os.O_RDONLY)
attempt("chattr", lambda: fcntl.ioctl(_fd, 0x40086602, struct.pack("l", 0x10)))  # FS_IOC_SETFLAGS: +i
attempt("terminal", lambda: os.close(os.open("/dev/ptmx", os.O_RDWR)))  # a pty: typing into someone's shell
attempt("device-node", lambda: os.mknod(Path(scratch, "disk"), 0o600 | 0o060000, os.makedev(7, 0)))
attempt("shm", lambda: (Path("/dev/shm", "adam-sbx-%d" % os.getpid()).write_text("x"),
                        Path("/dev/shm", "adam-sbx-%d" % os.getpid()).unlink()))
if os.fork() == 0:  # a descendant is confined too
    try:
        Path(outside, "child").write_text("x")
        os._exit(1)
    except OSError:
        os._exit(0)
_, status = os.wait()
got["child-confined"] = "ok" if os.waitstatus_to_exitcode(status) == 0 else "escaped"
print(json.dumps(got))
"""


def test_a_confined_process_writes_only_where_it_may(tmp_path: Path) -> None:
    scratch, outside, extra = (tmp_path / n for n in ("scratch", "outside", "extra"))
    for d in (scratch, outside, extra):
        d.mkdir()
    (outside / "readme").write_text("readable")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    victim = subprocess.Popen(["sleep", "60"])  # what a prlimit that got through would hit, not this process
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(scratch), str(outside), str(os.getpid()), str(extra),
                               str(victim.pid)], capture_output=True, text=True, env=env, timeout=60)
    finally:
        victim.kill()
        victim.wait()
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert {k: got[k] for k in ("scratch", "writable", "devnull", "read", "child-confined")} == dict.fromkeys(
        ("scratch", "writable", "devnull", "read", "child-confined"), "ok")
    for k in ("outside", "mkdir", "rename-out", "proc-fd", "device-node") + (("terminal",) if
                                                                             os.path.exists("/dev/ptmx") else ()):
        assert got[k] != "ok", (k, got)
    if os.path.isdir("/dev/shm"):
        assert got["shm"] == "ok", got
    # seccomp: no resource limits on other processes (RLIMIT_CPU 1 kills the gate), no inode flags
    if sandbox.seccomp_available():
        assert got["prlimit-gate"] == os.strerror(1) and got["chattr"] == os.strerror(1), got
    assert got["prlimit-self"] == "ok", got
    if sandbox.abi() >= 6:
        assert got["signal"] != "ok", got
    assert sorted(p.name for p in outside.iterdir()) == ["readme"]


def test_a_policy_the_kernel_cannot_honour_is_refused() -> None:
    """(In a child: a policy that did apply would confine this test process.)"""
    code = ("import json, sys; from conformance import sandbox\n"
            "for spec in (json.dumps({'abi': sandbox.abi() + 50, 'writable': []}), 'not json'):\n"
            "    try:\n        sandbox.apply(spec)\n    except sandbox.SandboxError:\n        continue\n"
            "    sys.exit('applied ' + spec)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_worker_that_cannot_confine_itself_never_loads_the_adapter() -> None:
    """Fail-closed: a policy the worker cannot apply ends it before the adapter loads; the run is red."""
    from conftest import ROOT

    code = "from conformance.sandbox import apply_from_env; apply_from_env(); print('loaded')"
    env = {**os.environ, "PYTHONPATH": str(ROOT), sandbox.ENV: "{broken"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == sandbox.EXIT_SANDBOX, proc.stdout + proc.stderr
    assert "loaded" not in proc.stdout
    assert "could not apply the sandbox" in proc.stderr


@pytest.fixture(scope="module")
def escapist(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from conftest import ROOT
    from hostile_adapters import PLANTED
    from test_hostile import TESTS_PATH, run_dir, spec

    tmp = tmp_path_factory.mktemp("sandbox")
    cache = tmp / "cases"
    cache.mkdir()
    try:
        res = run_dir(cli, tmp, ["reference-f32", spec("Escapist")], "--max-examples", 2,
                      env={**TESTS_PATH, "ADAM_CONFORMANCE_CASE_CACHE": str(cache)})
    finally:
        planted = Path(ROOT, PLANTED)
        res_planted = planted.exists()
        planted.unlink(missing_ok=True)
    res["planted"] = res_planted
    res["cache"] = sorted(p.name for p in cache.iterdir())
    return res


def test_every_escape_is_tried_and_refused(escapist: dict[str, Any]) -> None:
    markers = escapist["markers"]
    escaped = [m for m in markers if m.startswith("escaped-")]
    blocked = {m.split("-", 1)[1] for m in markers if m.startswith("blocked-")}
    want = {"gate-cwd", "out-dir", "results", "case-cache", "gate-fds"} | ({"signal-gate"} if sandbox.abi() >= 6
                                                                          else set())
    assert not escaped, escaped
    assert want <= blocked, markers
    assert not escapist["planted"]
    assert not (escapist["out"] / "planted.txt").exists()
    assert "planted.jsonl" not in escapist["cache"]


def test_the_confined_run_is_judged_from_the_gates_records(escapist: dict[str, Any]) -> None:
    proc, meta = escapist["proc"], escapist["meta"]
    assert proc.returncode == 1, proc.stderr[-3000:]
    verdicts = {r["verdict"] for r in escapist["by"]["hostile-escapist"]}
    assert verdicts == {"FAIL"}, verdicts
    assert {r["verdict"] for r in escapist["by"]["reference-f32"]} == {"PASS"}
    assert meta["sandbox"].startswith("landlock ABI"), meta["sandbox"]
    assert not [p for p in meta["gate"]["problems"] if "modified" in p], meta["gate"]["problems"]


def test_writable_may_not_hold_the_records(cli: Any, tmp_path: Path) -> None:
    from conftest import ROOT

    out = tmp_path / "run"
    for d in (tmp_path, out, out / "inside"):
        line = cli.usage_error(cli("run", "--adapter", "reference-f32", "--out", out, "--writable", d))
        assert "--writable" in line and "overlaps --out" in line, line
    # nor what the gate imports: its working directory (the CLI runs in the checkout), the package
    for d in (ROOT, ROOT / "conformance"):
        line = cli.usage_error(cli("run", "--adapter", "reference-f32", "--out", out, "--writable", d))
        assert "overlaps the working directory" in line or "overlaps this package" in line, line


def test_no_sandbox_is_said(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = cli("run", "--adapter", "reference-f32", "--clauses", "UPD-MOMENTS", "--dtypes", "float32",
               "--max-examples", 1, "--no-corpus", "--no-shrink", "--quiet", "--no-sandbox", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((out / "run.json").read_text())
    assert meta["sandbox"].startswith("off: --no-sandbox")
    assert any("not sandboxed" in w for w in meta["gate"]["warnings"]), meta["gate"]["warnings"]
