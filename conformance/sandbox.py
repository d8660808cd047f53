"""The workers' sandbox: Landlock confines what code under test can change outside its own process.

Why: a worker runs as the gate's user, so without a sandbox the code under test can do whatever that
user can. A red-team pass found that it could:

- write the run's output directory (``results.jsonl``, ``run.json``), which ``--resume`` and ``report``
  read back;
- empty or replace the case cache;
- plant a module that the gate imports later in the same run;
- stop the explainer and answer in its place, or SIGKILL the gate so that a forged file gets resumed.

Each worker confines itself before it imports anything of the adapter's: a Landlock ruleset (Linux
>= 5.13, no privileges needed; it binds root too). It cannot be lifted, and every process the worker
starts inherits it. The rules:

- **Writes** (create, write, truncate, remove, rename, link, mknod) are allowed only beneath the
  worker's scratch directory, which is its ``TMPDIR``, made by the gate and removed with the worker.
  ``/dev`` is also allowed (null, shm, tty), and so are the directories the user names (``--writable``,
  ``RunConfig.writable``; ``--jax-cache`` is added by itself). Reads are allowed everywhere.
- **No ptrace** of a process outside the sandbox (Landlock ABI 1). That rules out
  ``/proc/<pid>/fd``, ``mem`` and ``environ`` of the gate and the explainer.
- **No signals** to processes outside the sandbox, and no connecting to their abstract unix sockets
  (ABI 6 and later).

The gate decides the policy and passes it in ``$ADAM_CONFORMANCE_SANDBOX``. A worker that cannot
apply it exits before loading the adapter, which is fail-closed: the adapter is then an ERROR, never
a run that looks sandboxed and is not. Where Landlock is missing (not Linux, an old kernel, or
disabled), ``run.json`` says ``"sandbox": "none: ..."`` and the summary warns that code under test
could reach the records.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ENV = "ADAM_CONFORMANCE_SANDBOX"
EXIT_SANDBOX = 71  # a worker that could not confine itself exits with this, before loading anything

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# LANDLOCK_ACCESS_FS_*: everything that changes the file system (reads and execution stay unhandled).
_WRITE_FILE, _REMOVE_DIR, _REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
_MAKE = sum(1 << b for b in (6, 7, 8, 9, 10, 11, 12))  # char, dir, reg, sock, fifo, block, sym
_REFER, _TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

_abi: int | None = None


class SandboxError(OSError):
    """The sandbox could not be applied (the worker exits with EXIT_SANDBOX)."""


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def abi() -> int:
    """The Landlock ABI version this kernel offers (0: none). Probed once per process."""
    global _abi
    if _abi is None:
        _abi = 0
        if sys.platform.startswith("linux"):
            try:
                v = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
            except (OSError, AttributeError):
                v = -1
            _abi = max(int(v), 0)
    return _abi


def describe(version: int | None = None) -> str:
    """One line for run.json and the summary: what confines the workers."""
    v = abi() if version is None else version
    if v <= 0:
        why = "not Linux" if not sys.platform.startswith("linux") else "the kernel offers no Landlock"
        return f"none: {why}; code under test runs as your user and could reach this run's files"
    signals = "no signals or ptrace outside the sandbox" if v >= 6 else \
        "no ptrace outside the sandbox (signals need Landlock ABI 6)"
    return f"landlock ABI {v}: workers write only to their scratch directory, /dev and --writable; {signals}"


def policy(scratch: Path, writable: Sequence[Path | str] = ()) -> str | None:
    """The policy a worker applies (the value of ``$ADAM_CONFORMANCE_SANDBOX``), or None without Landlock."""
    if abi() <= 0:
        return None
    dirs = [str(Path(scratch).resolve()), "/dev", *(str(Path(d).resolve()) for d in writable)]
    return json.dumps({"abi": abi(), "writable": list(dict.fromkeys(dirs))})


def _handled(version: int) -> int:
    rights = _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE
    if version >= 2:
        rights |= _REFER
    if version >= 3:
        rights |= _TRUNCATE
    return rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise SandboxError(err, f"landlock {what}: {os.strerror(err)}")
    return result


def apply(spec: str) -> None:
    """Confine this process (and whatever it starts) as ``spec`` (from ``policy``) says; raises SandboxError."""
    try:
        p = json.loads(spec)
        version, dirs = int(p["abi"]), [str(d) for d in p["writable"]]
    except (ValueError, KeyError, TypeError) as e:
        raise SandboxError(0, f"unreadable sandbox policy ({type(e).__name__})") from None
    have = abi()
    if have < 1 or version > have:
        raise SandboxError(0, f"the policy needs Landlock ABI {version}, this kernel offers {have}")
    libc = _libc()
    rights = _handled(version)
    attr = _RulesetAttr(rights, 0, _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if version >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if version >= 6 else 8  # older kernels know only the first field
    fd = _check(libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0), "create_ruleset")
    try:
        for d in dirs:
            try:
                dfd = os.open(d, os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY)
            except OSError:
                continue  # a directory that does not exist grants nothing
            try:
                rule = _PathBeneath(rights, dfd)
                _check(libc.syscall(_SYS_ADD_RULE, fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0), f"add_rule {d}")
            finally:
                os.close(dfd)
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(libc.syscall(_SYS_RESTRICT_SELF, fd, 0), "restrict_self")
    finally:
        os.close(fd)


def apply_from_env() -> None:
    """The worker's first act: apply ``$ADAM_CONFORMANCE_SANDBOX`` if the gate set it; on failure say why
    on stderr (the worker's log) in one line and exit with EXIT_SANDBOX before anything else is loaded."""
    spec = os.environ.pop(ENV, None)
    if not spec:
        return
    try:
        apply(spec)
    except SandboxError as e:
        sys.stderr.write(f"adam-conformance worker: could not apply the sandbox: {e.strerror or e}\n")
        sys.stderr.flush()
        os._exit(EXIT_SANDBOX)
