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
  ``/dev/shm`` is also allowed, and so are the directories the user names (``--writable``,
  ``RunConfig.writable``; ``--jax-cache`` is added by itself). Reads are allowed everywhere.
- **Devices.** Only ``/dev/null``, ``zero``, ``full``, ``random``, ``urandom`` and the accelerators'
  nodes (``/dev/nvidia*``, ``kfd``, ``dri``) open for writing, with their ioctls (ABI 5). No
  terminal, disk or loop device, and no device node may be made anywhere.
- **No ptrace** of a process outside the sandbox (Landlock ABI 1). That rules out
  ``/proc/<pid>/fd``, ``mem`` and ``cwd`` of the gate and the explainer. Their ``environ`` stays
  readable, but it holds nothing the worker does not inherit anyway.
- **No signals** to processes outside the sandbox, and no connecting to their abstract unix sockets
  (ABI 6 and later).
- **seccomp** refuses what Landlock does not cover: ``prlimit`` of any other process
  (``RLIMIT_CPU`` 1 kills the gate, ``RLIMIT_FSIZE`` 0 loses its records) and the ioctls that set
  inode flags (``chattr +i`` of the run directory, as root).

The gate decides the policy and passes it in ``$ADAM_CONFORMANCE_SANDBOX``. A worker that cannot
apply it exits before loading the adapter, which is fail-closed: the adapter is then an ERROR, never
a run that looks sandboxed and is not. Where Landlock is missing (not Linux, an old kernel, or
disabled), ``run.json`` says ``"sandbox": "none: ..."`` and the summary warns that code under test
could reach the records.
"""

from __future__ import annotations

import ctypes
import functools
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
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
_MAKE_NODES = (1 << 6) | (1 << 11)  # character and block devices: granted nowhere
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

_abi: int | None = None


class SandboxError(OSError):
    """The sandbox could not be applied (the worker exits with EXIT_SANDBOX)."""


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def not_dumpable() -> None:
    """Refuse ptrace and /proc/<pid>/fd access to same-uid processes (Linux; elsewhere nothing). The CLI's
    gate and the explainer call it: where the workers are not sandboxed, code under test could otherwise
    read their pipes and answer in their place. Root-owned workers keep CAP_SYS_PTRACE (Landlock does not)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        _libc().prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


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
    limits = "seccomp: no prlimit of other processes, no inode flags" if seccomp_available() else \
        "no seccomp here: other processes' resource limits are not confined"
    return (f"landlock ABI {v}: workers write only to their scratch directory, /dev/shm, null devices and "
            f"--writable; {signals}; {limits}")


# What every sandboxed worker may write besides its scratch and --writable: POSIX shared memory, which
# multiprocessing's semaphores and torch's tensor sharing need. The gate keeps none of its own files
# there (gate._check_writable refuses --out, the baseline, the case cache... beneath it).
SHARED = ("/dev/shm",)


def policy(scratch: Path, writable: Sequence[Path | str] = ()) -> str | None:
    """The policy a worker applies (the value of ``$ADAM_CONFORMANCE_SANDBOX``), or None without Landlock."""
    if abi() <= 0:
        return None
    dirs = [str(Path(scratch).resolve()), *SHARED, *(str(Path(d).resolve()) for d in writable)]
    return json.dumps({"abi": abi(), "writable": list(dict.fromkeys(dirs)), "devices": _devices(),
                       "seccomp": seccomp_available()})


@functools.cache
def seccomp_available() -> bool:
    """Whether this kernel filters system calls (``Seccomp:`` in /proc/self/status) on an architecture whose
    numbers the filter knows; without, Landlock alone confines the workers (``describe`` says so)."""
    import platform

    if platform.machine() not in _SECCOMP:
        return False
    try:
        with open("/proc/self/status") as fh:
            return any(line.startswith("Seccomp:") for line in fh)
    except OSError:
        return False


# The device files a worker may open for writing (and use ioctls on, from Landlock ABI 5): the harmless
# sinks and sources, and the accelerators' nodes CUDA / ROCm open read-write. Never a terminal (a worker
# could type into the gate's shell), a disk or a loop device.
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
ACCELERATORS = ("/dev/nvidia", "/dev/kfd", "/dev/dri")


def _devices() -> list[str]:
    found = [d for d in DEVICES if os.path.exists(d)]
    try:
        found += sorted(f"/dev/{n}" for n in os.listdir("/dev") if any(f"/dev/{n}".startswith(a) for a in ACCELERATORS))
    except OSError:
        pass
    return found


def _handled(version: int) -> int:
    rights = _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE
    if version >= 2:
        rights |= _REFER
    if version >= 3:
        rights |= _TRUNCATE
    if version >= 5:
        rights |= _IOCTL_DEV
    return rights


def _granted(version: int, device: bool, is_dir: bool) -> int:
    """What a rule grants: beneath a directory every handled right but device nodes (``mknod`` of a disk);
    on a device file writing, and its ioctls."""
    if device:
        return (_WRITE_FILE | (_TRUNCATE if version >= 3 else 0) | (_IOCTL_DEV if version >= 5 else 0)
                | ((_handled(version) & ~_MAKE_NODES) if is_dir else 0))
    return _handled(version) & ~_MAKE_NODES & ~_IOCTL_DEV


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
        devices = [str(d) for d in p.get("devices", [])]
        filtered = bool(p.get("seccomp", False))
    except (ValueError, KeyError, TypeError) as e:
        raise SandboxError(0, f"unreadable sandbox policy ({type(e).__name__})") from None
    have = abi()
    if have < 1 or version > have:
        raise SandboxError(0, f"the policy needs Landlock ABI {version}, this kernel offers {have}")
    libc = _libc()
    attr = _RulesetAttr(_handled(version), 0, _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if version >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if version >= 6 else 8  # older kernels know only the first field
    fd = _check(libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0), "create_ruleset")
    try:
        for d, device in [(d, False) for d in dirs] + [(d, True) for d in devices]:
            try:
                dfd = os.open(d, os.O_PATH | os.O_CLOEXEC | (0 if device else os.O_DIRECTORY))
            except OSError:
                continue  # a path that does not exist grants nothing
            try:
                rule = _PathBeneath(_granted(version, device, os.path.isdir(d)), dfd)
                _check(libc.syscall(_SYS_ADD_RULE, fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0), f"add_rule {d}")
            finally:
                os.close(dfd)
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(libc.syscall(_SYS_RESTRICT_SELF, fd, 0), "restrict_self")
        if filtered:  # the gate found seccomp here: failing to install it fails the worker, as Landlock does
            _seccomp()
    finally:
        os.close(fd)


# ---- seccomp: what Landlock does not cover ------------------------------------------------------------
# Landlock confines files, ptrace and signals, not resource limits or inode flags. A worker could
# prlimit the gate (RLIMIT_CPU 1 kills it, RLIMIT_FSIZE 0 loses its records, RLIMIT_NOFILE 3 breaks its
# cleanup) or, as root, chattr +i the run directory. A small seccomp filter refuses those (EPERM):
# prlimit64 of any process but itself, and the ioctls that set inode flags.

_SECCOMP = {  # machine -> (AUDIT_ARCH, prlimit64, ioctl)
    "x86_64": (0xC000003E, 302, 16),
    "aarch64": (0xC00000B7, 261, 29),
}
_SET_FLAGS_IOCTLS = (0x40086602, 0x40046602, 0x401C5820)  # FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS, FS_IOC_FSSETXATTR
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_RET_ALLOW, _RET_EPERM = 0x7FFF0000, 0x00050000 | 1
_LD, _JEQ, _RET = 0x20, 0x15, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_RET|K


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def _seccomp_program(arch: int, prlimit: int, ioctl: int, me: int) -> list[tuple[int, int, int, int]]:
    """(code, jt, jf, k) rows; a jump counts the rows it skips. Another architecture's calls pass unfiltered."""
    n = len(_SET_FLAGS_IOCTLS)
    allow, deny = 9 + n, 10 + n  # the two return rows, last

    def to(row: int, target: int) -> int:
        return target - row - 1

    rows: list[tuple[int, int, int, int]] = [
        (_LD, 0, 0, 4),  # 0: arch
        (_JEQ, 0, to(1, allow), arch),  # 1
        (_LD, 0, 0, 0),  # 2: syscall number
        (_JEQ, 0, to(3, 7), prlimit),  # 3: not prlimit64 -> the ioctl check
        (_LD, 0, 0, 16),  # 4: pid (low 32 bits of args[0])
        (_JEQ, to(5, allow), 0, 0),  # 5: 0 is the caller
        (_JEQ, to(6, allow), to(6, deny), me),  # 6: so is its own pid; anyone else is refused
        (_JEQ, 0, to(7, allow), ioctl),  # 7: not ioctl -> allow
        (_LD, 0, 0, 24),  # 8: the request (low 32 bits of args[1])
    ]
    rows += [(_JEQ, to(9 + i, deny), 0, cmd) for i, cmd in enumerate(_SET_FLAGS_IOCTLS)]  # else: on to allow
    rows += [(_RET, 0, 0, _RET_ALLOW), (_RET, 0, 0, _RET_EPERM)]
    assert len(rows) == deny + 1
    return rows


def _seccomp() -> None:
    import platform

    arch = _SECCOMP.get(platform.machine())
    if arch is None:  # an architecture whose numbers are not written here: Landlock alone
        return
    rows = _seccomp_program(*arch, os.getpid())
    prog = (_SockFilter * len(rows))(*[_SockFilter(*r) for r in rows])
    fprog = _SockFprog(len(rows), ctypes.cast(prog, ctypes.POINTER(_SockFilter)))
    _check(_libc().prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


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
