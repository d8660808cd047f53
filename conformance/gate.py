"""The gate as a library call: ``run(RunConfig(...)) -> RunResult``; the CLI is a thin shell around it.

Everything ``adam-conformance run`` does happens here -- check the inputs, start the workers,
generate cases, run and judge them, apply the baseline, shrink new failures, write the records and
reports -- and progress is reported through ``on_event`` instead of printed. The exit code obeys
one contract (``docs/gate.md``): 0 only when every requested adapter was available and judged
cases of every clause family its declaration admits, and every verdict is PASS, XFAIL or
UNSUPPORTED; code under test never runs in this process, so it can neither pick the exit code
nor touch the records it is computed from.

Example::

    import conformance
    result = conformance.run(conformance.RunConfig(adapters=["reference-f32"], out="reports/mine",
                                                   clauses="UPD-*", dtypes="float32"))
    print(result.exit_code, result.counts())
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, sandbox
from . import baseline as bl
from .cases import Case, CaseFormatError, load
from .clauses import SPEC, SPEC_VERSION, select
from .corpus import corpus_cases
from .dtypes import parse_dtypes
from .errors import EXIT_INTERRUPTED, EXIT_NONCONFORMANT, EXIT_OK, OutputPathError, UsageError
from .explainer import Explainer
from .model import Event, Record
from .records import META, RESULTS, RecordWriter, atomic_write, hold_interrupt, write_json
from .workers import DEFAULT_LOAD_TIMEOUT, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, Limits, new_token

if TYPE_CHECKING:  # the runner (and the adapters' base it imports) loads only when a run starts
    from .runner import Gap

OnEvent = Callable[[Event], None]
BAD_VERDICTS = ("FAIL", "ERROR", "XPASS")
CACHE_ENV = "ADAM_CONFORMANCE_CASE_CACHE"  # where generated case sets are kept when --cache-dir is not given
JAX_CACHE_ENV = "ADAM_CONFORMANCE_JAX_CACHE"  # JAX's persistent compilation cache for the optax workers
MAX_EXAMPLES = 100_000  # cases per (clause, dtype) stream: beyond, generation alone would take hours
EXPLAINER_MIN = 400  # (step case, adapter) pairs from which a run explains its FAILs in a second process:
# below, starting one (~0.3 s of CPU) costs more than explaining in the gate


@dataclass(frozen=True)
class RunConfig:
    """What to run. Strings are parsed as on the command line (``clauses="UPD-*,DEC-L2"``).

    ``adapters`` empty means every built-in adapter; an adapter that cannot run here fails the run
    unless ``allow_unavailable`` (then it is skipped and said so). One string is one adapter. A field
    of the wrong type is a ``UsageError`` with one line, as a bad flag is on the command line.

    Example::

        cfg = conformance.RunConfig(adapters=["torch:mypkg.optim:MyAdam", "reference"], out="reports/mine",
                                    clauses="UPD-*,DEC-L2", dtypes="float32,float16", baseline="known.toml")
    """

    adapters: Sequence[str] = ()
    out: Path | str = Path("reports/latest")
    seed: int | None = None  # None: 0, or a fresh seed with explore
    max_examples: int = 6
    clauses: str | Sequence[str] | None = None  # None: every clause; "" or [] is an error, as on the CLI
    dtypes: str | Sequence[str] | None = None  # None: every dtype
    timeout: float = DEFAULT_TIMEOUT
    load_timeout: float = DEFAULT_LOAD_TIMEOUT
    memory_limit_mb: int = DEFAULT_MEMORY_MB
    jobs: int = 1
    shard: tuple[int, int] | None = None
    resume: bool = False
    baseline: Path | str | None = None
    update_baseline: Path | str | None = None
    allow_unavailable: bool = False
    explore: bool = False
    corpus: bool = True
    shrink: bool = True
    hypothesis_shrink: bool = False
    summary_md: Path | str | None = None
    cache_dir: Path | str | None = None  # None: $ADAM_CONFORMANCE_CASE_CACHE, else casecache.default_dir()
    case_cache: bool = True  # False: generate every time, read and write no cache
    jax_cache: Path | str | None = None
    writable: Sequence[Path | str] = ()  # directories the sandboxed workers may write (conformance.sandbox)
    sandbox: bool = True  # False: workers run unconfined (a warning says so; run.json records it)


@dataclass
class RunResult:
    """What a run found. ``exit_code`` follows the gate's contract. The failing records are in ``records``
    (``r.failed``); ``problems`` holds the other reasons a run is not green (an adapter not judged, a
    baseline entry that passes now or regressed, a rewritten results file); ``why()`` gives both.

    Example::

        result = conformance.run(conformance.RunConfig(adapters=["torch-cpu-single"], clauses="UPD-*"))
        failing = [r for r in result.records if r.failed]   # typed Records, in case order
        print(result.exit_code, len(failing), result.meta["sandbox"])
        print("\n".join(result.why()))                      # empty when result.ok
    """

    exit_code: int
    records: list[Record]
    meta: dict[str, Any]
    out: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    baseline_problems: list[str] = field(default_factory=list)  # those of ``problems`` the baseline's entries
    # gave (XPASS, NOT WAIVED, REGRESSION): told apart by identity, never by how their text begins
    gaps: list[Gap] = field(default_factory=list)  # those of ``problems`` that say what an adapter
    # judged nothing of (a family, a dtype, a family in a dtype), with that scope as fields

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def counts(self) -> dict[str, int]:
        """Records per verdict, e.g. ``{"PASS": 540, "XFAIL": 12}``."""
        return dict(Counter(r.verdict for r in self.records))

    def why(self) -> list[str]:
        """One line per reason the run is not green: failing records grouped by adapter, charged clauses
        and verdict (``torch-cpu-single UPD-EPS: 3 FAIL case(s)``), then ``problems``; empty when green."""
        groups = Counter((r.adapter, ",".join(r.charged), r.verdict) for r in self.records if r.failed)
        lines = [f"{a} {c}: {n} {v} case(s)" for (a, c, v), n in sorted(groups.items())]
        if self.exit_code == EXIT_INTERRUPTED:
            lines.append("interrupted: the run did not finish (continue it with --resume)")
        return lines + list(self.problems)


# ---- checking the inputs before any work ---------------------------------------------------------

def _split(x: str | Sequence[str]) -> str:
    return x if isinstance(x, str) else ",".join(x)


def _stat(path: Path | str, what: str, follow: bool = True,
          error: type[UsageError] = OutputPathError) -> os.stat_result | None:
    """The status of a path the user named; None where nothing is there (or a file stands where one of its
    directories should). Any other OSError -- a name longer than the system allows, a loop of symbolic
    links, a directory that cannot be searched -- is that option's one line, never a traceback."""
    try:
        return os.stat(path) if follow else os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        why = (e.strerror or type(e).__name__).lower()
        raise error(f"{what} {path}: {why}") from None
    except ValueError as e:  # an embedded NUL (a Python caller's path)
        raise error(f"{what} {path!r}: {e}") from None


_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def _kind(st: os.stat_result) -> str:
    """What a path that is neither a regular file nor a directory is, for an error line."""
    return next((word for test, word in _KINDS if test(st.st_mode)), "not a regular file")


def _is_dir(path: Path | str, what: str) -> bool:
    st = _stat(path, what)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _writable_dir(path: Path, what: str) -> None:
    """``path`` is (or can be made) a writable directory; nothing is created here."""
    st = _stat(path, what)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        kind = "a file" if stat.S_ISREG(st.st_mode) else _kind(st)
        raise OutputPathError(f"{what} {path} is {kind}, not a directory")
    probe = path
    while (st := _stat(probe, what)) is None:
        if probe.parent == probe:
            break
        probe = probe.parent
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{what} {path}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {path} cannot be written (permission denied on {probe})")


def _writable(cfg: RunConfig) -> list[tuple[str, Path]]:
    """(flag, directory) the sandboxed workers may write besides their scratch: --writable, and JAX's
    persistent cache (--jax-cache or $ADAM_CONFORMANCE_JAX_CACHE), which the optax workers write."""
    named = [("--writable", Path(d)) for d in cfg.writable]
    jax_cache = cfg.jax_cache if cfg.jax_cache is not None else os.environ.get(JAX_CACHE_ENV)
    if jax_cache:
        named.append(("--jax-cache" if cfg.jax_cache is not None else f"${JAX_CACHE_ENV}", Path(jax_cache)))
    return named


def _check_writable(cfg: RunConfig, out: Path) -> None:
    """No file the gate keeps is where a sandboxed worker may write: not beneath /dev/shm (every worker
    may write it: ``sandbox.SHARED``) nor beneath or above a --writable directory or the JAX cache, and
    not reached through a symbolic link that lives in one of those (a worker could repoint it mid-run).

    Otherwise code under test could rewrite what this run or the next one reads: the case cache (cases
    dropped, the header count fixed), the baseline (a catch-all waiver), the records in --out, or the
    code the gate imports (a ``sitecustomize`` planted in an import-path entry that does not exist yet,
    or in a zip file, runs in the next gate process). A --writable directory must also be a real
    directory."""
    import conformance

    given: list[tuple[str, Path]] = [("--out", out), ("the working directory", Path.cwd()),
                                     ("this package", Path(conformance.__file__).parent.parent)]
    entries = [*sys.path, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]  # the workers' path as well
    given += [("the import path", Path(d)) for d in dict.fromkeys(entries) if d]  # existing or not, dir or zip
    files: dict[str, Path] = {}  # a file the gate reads or writes: its directory must be out of the workers' reach
    for name in ("baseline", "update_baseline", "summary_md"):
        if getattr(cfg, name) is not None:
            flag = f"--{name.replace('_', '-')}"
            files[flag] = Path(getattr(cfg, name))
            given.append((flag, files[flag].parent if str(files[flag].parent) else Path(".")))
    if cfg.case_cache:
        from .casecache import default_dir

        cache = cfg.cache_dir if cfg.cache_dir is not None else os.environ.get(CACHE_ENV) or default_dir()
        given.append(("the case cache", Path(cache)))
    guarded = [(label, path.resolve()) for label, path in given]
    roots = [(f"{shared}, which every sandboxed worker may write", Path(shared).resolve()) for shared in sandbox.SHARED]
    for shared in sandbox.SHARED:
        r = Path(shared).resolve()
        for label, path in guarded:
            if path == r or r in path.parents:
                shown = files[label].resolve() if label in files else path
                raise UsageError(f"{label} {shown} is in {shared}, which every sandboxed worker may "
                                 "write: code under test could rewrite what the gate reads; give a path outside it")
    for what, d in _writable(cfg):
        _writable_dir(d, what)
        r = d.resolve()
        roots.append((f"{what} {d}", r))
        for label, path in guarded:
            if path == r or r in path.parents or path in r.parents:
                raise UsageError(f"{what} {d} overlaps {label} ({path}): the workers could rewrite what the gate "
                                 "reads or imports; name a directory of their own")
    for label, path in [*given, *((flag, f) for flag, f in files.items())]:
        for link in _links(path):
            where = next((name for name, r in roots if link.parent == r or r in link.parent.parents), None)
            if where is not None:
                raise UsageError(f"{label} {path} goes through the symbolic link {link}, in {where}: code under "
                                 "test could point it elsewhere during the run; give the path without it")


def _links(path: Path, limit: int = 40) -> list[Path]:
    """The symbolic links met while the system resolves ``path``, each as the link's own path (in a directory
    already resolved), following every link in every target: ``a -> /dev/shm/b -> c`` gives a and b."""
    todo = list(Path(os.path.join(os.getcwd(), path)).parts)
    cur, found = Path(todo.pop(0)), []
    while todo and len(found) < limit:
        name = todo.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            cur = cur.parent
            continue
        nxt = cur / name
        try:
            is_link = stat.S_ISLNK(os.lstat(nxt).st_mode)
        except OSError:  # nothing there (yet): the rest is taken as written
            cur = nxt
            continue
        if not is_link:
            cur = nxt
            continue
        found.append(nxt)
        try:
            target = Path(os.readlink(nxt))
        except OSError:
            break
        if target.is_absolute():
            cur, todo = Path(target.anchor), [*target.parts[1:], *todo]
        else:
            todo = [*target.parts, *todo]
    return found


def _regular_or_absent(path: Path, what: str) -> os.stat_result | None:
    """An output file's status (None: nothing there yet); a directory, FIFO, device or symbolic link there is
    refused -- a FIFO would hang the run, and renaming a new file into place would replace the device or
    the link instead of writing what it names."""
    st = _stat(path, what, follow=False)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{what} {path} is a directory; give a file path")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputPathError(f"{what} {path}: not a regular file ({_kind(st)}); give the path of a regular file")
    return st


def _writable_file(path: Path, what: str) -> None:
    """``path`` can be written as a file: nothing or a regular file there (``_regular_or_absent``), in a
    writable directory; nothing is created here."""
    st = _regular_or_absent(path, what)
    parent = path.parent if str(path.parent) else Path(".")
    if not _is_dir(parent, what):
        why = "is a file, not a directory" if _stat(parent, what) is not None else "does not exist"
        raise OutputPathError(f"{what} {path}: {parent} {why}")
    if not os.access(parent, os.W_OK) or (st is not None and not os.access(path, os.W_OK)):
        raise OutputPathError(f"{what} {path} cannot be written (permission denied)")
    try:  # os.access says yes to root, and knows nothing of /proc or a read-only mount: try it
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as e:
        raise OutputPathError(f"{what} {path} cannot be written ({e.strerror or type(e).__name__})") from None


def _same_file(a: Path | str, b: Path | str) -> bool:
    """Whether two paths name one file: the same inode where both exist, else the same resolved path."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):  # already refused by the checks before, were it the user's path
        return False


def _check_distinct(outputs: Sequence[tuple[str, Path | str | None]], baseline: Path | str | None) -> None:
    """Each file a run writes (--update-baseline, the Markdown summary) is a file of its own: two outputs in
    one file overwrite each other, and the summary appended to the --baseline file corrupts the baseline.
    --update-baseline naming the --baseline file is allowed: that updates the baseline in place."""
    named = [(flag, p) for flag, p in outputs if p is not None]
    for i, (flag_a, a) in enumerate(named):
        for flag_b, b in named[i + 1:]:
            if _same_file(a, b):
                raise UsageError(f"{flag_a} {a} and {flag_b} {b} are the same file: one output would overwrite the "
                                 "other; give each its own path")
    if baseline is not None:
        for flag, p in named:
            if flag != "--update-baseline" and _same_file(p, baseline):
                raise UsageError(f"{flag} {p} is the --baseline file {baseline}: the Markdown summary would be "
                                 "appended to the baseline; give the summary a path of its own")


def _check_adapter_specs(specs: Sequence[str]) -> None:
    from . import registry

    for s in specs:
        if not isinstance(s, str) or not s.strip():
            raise UsageError(f"--adapter {s!r}: empty adapter name")
        try:
            registry.check_syntax(s)
        except ValueError as e:
            raise UsageError(str(e)) from None


def _check_findable(specs: Sequence[str]) -> None:
    """A run refuses a user module that is nowhere on the path before it touches --out (nothing imported)."""
    from . import registry

    for s in specs:
        registry.check_findable(s)


def _all_builtins() -> list[str]:
    """What a run without --adapter requests: the built-ins (installed plugins are run by name)."""
    from . import registry

    return list(registry.builtin_names())


@dataclass
class _Plan:
    cfg: RunConfig
    out: Path
    specs: list[str]
    clauses: tuple[str, ...]
    dtypes: tuple[str, ...]
    entries: list[bl.Entry]
    seed: int
    options: dict[str, Any]
    previous_meta: dict[str, Any] = field(default_factory=dict)
    previous_records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, record)


def _given_seed(cfg: RunConfig) -> int:
    return 0 if cfg.seed is None else cfg.seed


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _normalized(cfg: RunConfig) -> RunConfig:
    """The config with its types checked (a Python caller's mistakes get the CLI's one-line errors, never a
    TypeError from deep inside); one string where a list is expected is read as a list of one."""
    def path_or_none(name: str) -> None:
        v = getattr(cfg, name)
        if v is not None and not isinstance(v, (str, os.PathLike)):
            raise UsageError(f"RunConfig.{name} must be a path (str or Path) or None, got {type(v).__name__}")
        if v is not None:
            not_empty(name, v)

    def not_empty(name: str, v: Any) -> None:  # Path("") is the working directory: never what was meant
        if isinstance(v, str) and not v.strip():
            raise UsageError(f"RunConfig.{name} is an empty path; give a path (as on the command line, an empty "
                             "path is never the working directory)")

    def strings(name: str, paths: bool = False) -> tuple[Any, ...]:
        v = getattr(cfg, name)
        one = (str, os.PathLike) if paths else (str,)
        if isinstance(v, one):
            return (v,)
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, one) for x in v):
            kind = "paths" if paths else "strings"
            raise UsageError(f"RunConfig.{name} must be a list of {kind}, got {type(v).__name__} {v!r:.60}")
        return tuple(v)

    if not isinstance(cfg.out, (str, os.PathLike)):
        raise UsageError(f"RunConfig.out must be a path (str or Path), got {type(cfg.out).__name__}")
    not_empty("out", cfg.out)
    for name in ("baseline", "update_baseline", "summary_md", "cache_dir", "jax_cache"):
        path_or_none(name)
    selection: dict[str, str] = {}
    for name in ("clauses", "dtypes"):
        v = getattr(cfg, name)
        if v is None:  # the default: every clause / every dtype
            selection[name] = ""
            continue
        if not isinstance(v, str):
            strings(name)
        if not _split(v).replace(",", "").strip():  # "", [], ",": selects nothing, not "everything"
            raise UsageError(f"--{name} {_split(v)!r} is empty: it selects no {name[:-1]}; name at least one (or leave "
                             "it out for all)")
        selection[name] = v
    if cfg.seed is not None and (not _is_int(cfg.seed) or cfg.seed < 0):
        raise UsageError(f"seed must be a whole number >= 0, got {cfg.seed!r}")
    if not _is_int(cfg.max_examples) or not 1 <= cfg.max_examples <= MAX_EXAMPLES:
        raise UsageError(f"max_examples must be a whole number from 1 to {MAX_EXAMPLES}, got {cfg.max_examples!r}")
    if not _is_int(cfg.jobs) or not 1 <= cfg.jobs <= 256:
        raise UsageError(f"jobs must be a whole number from 1 to 256, got {cfg.jobs!r}")
    if cfg.shard is not None:
        s = cfg.shard
        if not (isinstance(s, tuple) and len(s) == 2 and all(_is_int(x) for x in s) and 1 <= s[0] <= s[1]):
            raise UsageError(f"shard must be (K, N) with 1 <= K <= N, got {s!r}")
    for name in ("resume", "allow_unavailable", "explore", "corpus", "shrink", "hypothesis_shrink", "case_cache",
                 "sandbox"):
        if not isinstance(getattr(cfg, name), bool):
            raise UsageError(f"RunConfig.{name} must be True or False, got {getattr(cfg, name)!r}")
    for w in strings("writable", paths=True):
        not_empty("writable", w)
    return replace(cfg, adapters=strings("adapters"), writable=strings("writable", paths=True), **selection)


def plan(cfg: RunConfig) -> _Plan:
    """Validate everything a run needs; raises a ConformanceError (one line) before any work is done."""
    cfg = _normalized(cfg)
    try:
        clauses = tuple(c.id for c in select(_split(cfg.clauses)))
        dtypes = tuple(parse_dtypes(_split(cfg.dtypes)))
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not clauses:
        raise UsageError(f"--clauses {_split(cfg.clauses)!r} selects no clause; see `adam-conformance clauses`")
    for name, v in (("timeout", cfg.timeout), ("load timeout", cfg.load_timeout)):
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
            raise UsageError(f"{name} must be a finite number of seconds > 0, got {v!r}")
    if not (_is_int(cfg.memory_limit_mb) and cfg.memory_limit_mb > 0):
        raise UsageError(f"memory limit must be a whole number of MiB > 0, got {cfg.memory_limit_mb!r}")
    if not (isinstance(cfg.jobs, int) and cfg.jobs >= 1) or not (isinstance(cfg.max_examples, int)
                                                                 and cfg.max_examples >= 1):
        raise UsageError("jobs and max_examples must be whole numbers >= 1")
    if not cfg.case_cache and cfg.cache_dir is not None:  # one of them would be ignored without a word
        raise UsageError(f"--no-case-cache and --cache-dir {cfg.cache_dir} contradict each other (no case cache, and "
                         "a case cache in that directory); give one of them")
    explicit = list(dict.fromkeys(cfg.adapters))
    _check_adapter_specs(explicit)
    _check_findable(explicit)
    specs = explicit or _all_builtins()
    out = Path(cfg.out)
    _writable_dir(out, "--out")
    if cfg.resume:
        if _stat(out / RESULTS, "--resume") is None:
            raise UsageError(f"--resume: {out} holds no {RESULTS} to continue")
    _check_out(out, cfg.resume)
    if cfg.case_cache and cfg.cache_dir is not None:
        _writable_dir(Path(cfg.cache_dir), "--cache-dir")
    elif cfg.case_cache and os.environ.get(CACHE_ENV, "").strip():
        _writable_dir(Path(os.environ[CACHE_ENV]), f"${CACHE_ENV}")
    env_summary = os.environ.get("GITHUB_STEP_SUMMARY")  # a mistake there is named by the variable
    summary = (("--summary-md", cfg.summary_md) if cfg.summary_md is not None
               else ("$GITHUB_STEP_SUMMARY", env_summary or None))
    for flag, path in (("--update-baseline", cfg.update_baseline), summary):
        if path is None:
            continue
        _stat(path, flag)  # a name too long, a loop of links: this flag's one line (before resolving it)
        if run_file_of(path, out):
            raise OutputPathError(f"{flag} {path} is one of the files the run writes in --out {out}; give a path "
                                  "outside the run's own files")
        _writable_file(Path(path), flag)
    entries: list[bl.Entry] = []
    digest = None
    if cfg.baseline is not None:
        try:
            entries = bl.load(Path(cfg.baseline))
            # what the waivers said, not only where they lay: shards or a resume under other entries are
            # another configuration (conformance.compat)
            digest = hashlib.sha256(Path(cfg.baseline).read_bytes()).hexdigest()[:16]
        except bl.BaselineError as e:
            raise UsageError(str(e)) from None
        except OSError as e:
            raise UsageError(f"--baseline {cfg.baseline} cannot be read ({e.strerror or type(e).__name__})") from None
    _check_writable(cfg, out)
    _check_distinct([("--update-baseline", cfg.update_baseline), summary], cfg.baseline)
    seed = cfg.seed
    if seed is None:  # explore searches afresh unless a seed is given (to replay a search); the gate uses 0
        seed = int(time.time() * 1000) % (2**31) if cfg.explore else 0
    options = {"baseline": _relative(Path(cfg.baseline)) if cfg.baseline else None, "baseline_sha256": digest,
               "explore": cfg.explore, "corpus": cfg.corpus, "allow_unavailable": cfg.allow_unavailable}
    p = _Plan(cfg, out, specs, clauses, dtypes, entries, seed, options)
    if cfg.resume:  # what can be checked before any work: the configuration, the specs, the records file
        p.previous_meta = _previous_meta(out)
        from . import compat

        new = {**_config_meta(p), "spec_version": SPEC_VERSION, "hypothesis": _versions()["hypothesis"]}
        compat.check_resume_config(p.previous_meta, new, specs)  # a CompatError is a UsageError: exit 2
        p.previous_records = _previous_records(out)
    return p


def _previous_meta(out: Path) -> dict[str, Any]:
    from .records import read_meta

    try:
        return read_meta(out / META)
    except ValueError as e:
        raise UsageError(f"--resume: {e}; rerun without --resume") from None


def _check_resume(p: _Plan, handles: Sequence[Any]) -> None:
    """The run being started must be the one it continues (same options, seed, adapters and versions)."""
    from . import compat

    new = {**_config_meta(p), "spec_version": SPEC_VERSION, "hypothesis": _versions()["hypothesis"],
           "adapters": [h.meta() for h in handles]}
    try:
        compat.check_resume(p.previous_meta, new)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _config_meta(p: _Plan) -> dict[str, Any]:
    return {"suite_version": __version__, "seed": p.seed, "max_examples": p.cfg.max_examples,
            "clauses": list(p.clauses), "dtypes": list(p.dtypes), "options": p.options,
            "shard": None if p.cfg.shard is None else f"{p.cfg.shard[0]}/{p.cfg.shard[1]}",
            "timeout": p.cfg.timeout}


# ---- the run -------------------------------------------------------------------------------------

def _emit(on_event: OnEvent | None, kind: str, message: str = "", **kw: Any) -> None:
    if on_event is not None:
        on_event(Event(kind, message, **kw))


def _cases(p: _Plan, on_event: OnEvent | None = None) -> list[Case]:
    from .generate import generate, streams

    found: dict[str, Case] = {}
    if p.cfg.corpus:
        for c in corpus_cases():
            if set(c.clauses) & set(p.clauses) and c.dtype in p.dtypes:
                found.setdefault(c.id, c)
    from .casecache import default_dir

    kwargs: dict[str, Any] = {}
    if p.cfg.case_cache:  # on by default: a case set depends only on what its key covers (casecache)
        cache = p.cfg.cache_dir if p.cfg.cache_dir is not None else os.environ.get(CACHE_ENV) or default_dir()
        kwargs["cache_dir"] = Path(cache)
    total = streams(p.clauses, p.dtypes)
    _emit(on_event, "phase", "generating cases", total=total)
    kwargs["progress"] = lambda n: _emit(on_event, "progress", done=n, total=total)
    for c in generate(p.clauses, p.dtypes, p.seed, p.cfg.max_examples, **kwargs):
        found.setdefault(c.id, c)
    return list(found.values())


def _relative(path: Path) -> str:
    """A path as reports may show it: relative to the working directory, never absolute."""
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover -- another drive
        return path.name


RUN_FILES = (RESULTS, META, "summary.json", "summary.md", "junit.xml", "report.html")
RUN_DIRS = ("failures", "minimal", "new-corpus", "logs")


def run_file_of(path: Path | str, out: Path) -> bool:
    """Whether ``path`` is one of the files a run in ``out`` writes (its records, metadata, reports, case
    files): writing anything else there would destroy the run."""
    r, o = Path(path).resolve(), out.resolve()
    return (r.parent == o and r.name in RUN_FILES) or any(o / d == r or o / d in r.parents for d in RUN_DIRS)


def _check_out(out: Path, resume: bool) -> None:
    """A new run replaces only a previous, finished run: never files that are not the gate's, and never an
    interrupted run's records (that is what --resume is for)."""
    if resume or not out.is_dir():
        return
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as e:
        raise OutputPathError(f"--out {out} cannot be read ({e.strerror})") from None
    if not entries:
        return
    odd = [n for n in RUN_FILES if os.path.lexists(out / n) and not (out / n).is_file()]
    if odd:
        raise OutputPathError(f"--out {out}: {odd[0]} there is not a regular file (a FIFO, device, link or directory); "
                              "a run writes its own files: give an empty or new directory")
    if not (out / META).exists() and not (out / RESULTS).exists():
        foreign = [n for n in entries if n not in RUN_FILES + RUN_DIRS]
        if foreign:
            shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            raise OutputPathError(f"--out {out} is not empty and holds no run ({shown}); a run replaces what it "
                                  "finds there: give an empty or new directory")
        return
    try:
        complete = (out / META).exists() and bool(json.loads((out / META).read_text()).get("complete"))
    except (OSError, ValueError, AttributeError):
        complete = False
    if not complete and (out / RESULTS).exists() and (out / RESULTS).stat().st_size:
        raise OutputPathError(f"--out {out} holds an interrupted run: continue it with --resume, or delete it (or "
                              "give another --out) to start afresh")


def _prepare_out(out: Path, resume: bool, stage: str = "all") -> None:
    """Clear a previous run from ``out``. ``stage="logs"``: only ``logs/`` (the new workers write there as
    they start); ``"rest"``: everything else, once the new run's adapters are loaded and accepted -- so a
    run refused or interrupted before it judges anything leaves the previous run's records as they were."""
    if resume:
        return
    files = () if stage == "logs" else RUN_FILES
    dirs = {"all": RUN_DIRS, "logs": ("logs",), "rest": tuple(d for d in RUN_DIRS if d != "logs")}[stage]
    for name in files:
        (out / name).unlink(missing_ok=True)
    for d in dirs:
        shutil.rmtree(out / d, ignore_errors=True)


def run(config: RunConfig, on_event: OnEvent | None = None) -> RunResult:
    """Run the gate. Raises a ``ConformanceError`` for bad input (before any work); never for code under test.

    Example::

        result = conformance.run(conformance.RunConfig(adapters=["reference-f32"], out="reports/mine"))
        if not result.ok:
            print(result.exit_code, result.problems)

    Ctrl-C or SIGTERM (in the main thread) ends the run with ``EXIT_INTERRUPTED`` and the finished
    records on disk. Once either arrives the run can no longer be green, even where Python drops the
    KeyboardInterrupt (raised inside a garbage-collector callback, say).
    """
    latch = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        def on_signal(signum: int, frame: Any) -> None:
            latch.set()
            if not hold_interrupt():  # records being written: raised when the batch is on disk and counted
                raise KeyboardInterrupt

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        return _run(config, on_event, latch)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(config: RunConfig, on_event: OnEvent | None, latch: threading.Event) -> RunResult:
    from . import runner

    if not isinstance(config, RunConfig):
        raise UsageError(f"run() takes a conformance.RunConfig, got {type(config).__name__}: build one with "
                         "RunConfig(adapters=[...], out=...)")
    if on_event is not None and not callable(on_event):
        raise UsageError(f"on_event must be a callable taking one conformance.Event (kind, message, done, total) "
                         f"or None, got {type(on_event).__name__}")
    p = plan(config)
    cfg = p.cfg
    try:
        p.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # os.access cannot tell (root, /proc, a read-only mount): creating it can
        raise OutputPathError(f"--out {p.out} cannot be created ({e.strerror or type(e).__name__})") from None
    _prepare_out(p.out, cfg.resume, "logs")
    cleared = cfg.resume  # the previous run is replaced only once this one's adapters are accepted
    if cfg.explore:
        _emit(on_event, "note", f"explore: seed {p.seed}, as given" if cfg.seed is not None else
              f"explore: fresh seed {p.seed} (replay this search with --seed {p.seed})")
    t0 = time.monotonic()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    token = new_token()
    writable = [str(d.resolve()) for _, d in _writable(cfg)]
    for d in writable:  # a sandboxed worker can write beneath these, but cannot create them
        Path(d).mkdir(parents=True, exist_ok=True)
    limits = Limits(float(cfg.timeout), float(cfg.load_timeout), int(cfg.memory_limit_mb), writable=tuple(writable),
                    sandbox=cfg.sandbox)
    saved_env = os.environ.get(JAX_CACHE_ENV)
    if cfg.jax_cache is not None:  # read by the optax workers before anything compiles (docs/adapters.md)
        os.environ[JAX_CACHE_ENV] = str(Path(cfg.jax_cache).resolve())
    _emit(on_event, "phase", "starting adapter workers", total=len(p.specs))
    handles, dispatcher = runner.start(p.specs, cfg.jobs, limits, p.out / "logs", token)
    problems: list[str] = []
    warnings: list[str] = []
    complete = False
    records: list[dict[str, Any]] = []
    timing: dict[str, Any] = {}
    cases: list[Case] = []
    all_cases: list[Case] = []
    judged: dict[tuple[str, str], dict[str, Any]] = {}
    explainer: Explainer | None = None
    writing = False  # results.jsonl is the gate's from here on
    lost: str | None = None  # why the run's own files could not be written (a full disk), if they could not
    try:
        g0 = time.monotonic()
        if not cfg.explore:  # generation overlaps the workers' start (they import their libraries meanwhile)
            all_cases = _cases(p, on_event)
        timing["generation_seconds"] = round(time.monotonic() - g0, 3)
        # While the workers finish starting, the gate prepares what judging needs (reference + bounds), and
        # every adapter that is up starts on its cases without waiting for the slowest to start.
        cases = runner.select_shard(all_cases, cfg.shard)
        if cfg.resume and not cfg.explore:  # before any case is sent: the file is as it was
            _check_previous_cases(p.out, p.previous_records, cases)
        previous = [r for _, r in p.previous_records]
        skip = {(r["case_id"], r["adapter"]) for r in previous}
        expectations = runner.Expectations(cases)
        sends = runner.Submissions(cases, skip)
        steps = sum(1 for c in cases if c.kind != "construct") * len(handles)
        if not cfg.explore and steps >= EXPLAINER_MIN:  # it imports while the workers do (docs/performance.md)
            explainer = Explainer.start()

        def idle() -> bool:  # prepare cases; once all are, import the report libraries (in a thread: the
            if expectations.step():  # workers' answers must not wait on an import)
                return True
            _warm_reports()
            return False

        runner.wait_described(handles, idle, None if cfg.explore else sends)
        timing["start_wait_seconds"] = round(time.monotonic() - g0 - timing["generation_seconds"], 3)
        handles, problems, warnings = _screen(handles, cfg, on_event, p.entries)
        _note_dtypes_away(handles, p.dtypes, on_event)
        if not cfg.sandbox or sandbox.abi() <= 0:
            warnings.append(f"workers are not sandboxed ({_sandbox_line(cfg)})")
            _emit(on_event, "warning", warnings[-1])
        if cfg.resume:
            _check_resume(p, handles)
        else:  # a run killed before its end still says what it was, so --resume can check it continues it
            _prepare_out(p.out, False, "rest")
            cleared = True
            write_json(p.out / META, _meta(p, handles, 0, False, time.monotonic() - t0, timing))
        if cfg.explore:
            from .explore import explore

            def run_one(case: Case) -> list[tuple[str, Any]]:
                outs = [(h.name, runner.run_in_worker(h, case, cfg.timeout)) for h in handles]
                return [(n, o) for n, o in outs if o is not None]

            _emit(on_event, "phase", "exploring (targeted search)")
            all_cases = explore(p.clauses, p.dtypes, p.seed, cfg.max_examples, run_one)
            timing["generation_seconds"] = round(time.monotonic() - g0, 3)
            cases = runner.select_shard(all_cases, cfg.shard)
            expectations = runner.Expectations(cases)
            sends = runner.Submissions(cases, skip)
        seq = {c.id: i for i, c in enumerate(all_cases)}
        spec_of = {h.name: h.spec for h in handles}
        total = len(cases) * len(handles)
        done = 0

        def on_record(rec: dict[str, Any], case: Case) -> None:
            rec["seq"] = seq[case.id]
            if rec["verdict"] in ("FAIL", "ERROR"):
                _save_failure(p.out, rec, case, spec_of[rec["adapter"]])
                judged[(rec["case_id"], rec["adapter"])] = dict(rec)  # before the baseline: for recharging
            bl.apply(p.entries, rec)

        def progress(n: int) -> None:
            nonlocal done
            done += n
            _emit(on_event, "progress", done=done, total=total)

        tracer = _tracer()
        _warm_reports()
        run = runner.Runner(handles, on_record, progress, tracer, explainer)
        _emit(on_event, "phase", "running cases", total=total)
        try:
            with RecordWriter(p.out, append=cfg.resume) as writer:
                writing = True
                run.run(cases, writer, skip, expectations, sends)
            complete = True
        except KeyboardInterrupt:
            _emit(on_event, "warning", "interrupted: finished records are in results.jsonl; continue with --resume")
        except OSError as e:  # the disk filled (a worker can fill it) or went away: the run ends, judged so far
            lost = _write_failure(e)
            _emit(on_event, "warning", lost)
        records = previous + run.records
        timing.update({"judge_seconds": round(run.timing.judge_seconds, 3),
                       "prepare_seconds": round(run.timing.prepare_seconds, 3),
                       "write_seconds": round(run.timing.write_seconds, 3),
                       "wait_seconds": round(run.timing.wait_seconds, 3),
                       "ipc_seconds": round(dispatcher.ipc_seconds, 3),
                       "explainer_answers": None if explainer is None else explainer.answered})
        if p.entries:
            bl.recount(p.entries, records)
        if complete and cfg.shrink and any(r.get("case_file") for r in records):
            _emit(on_event, "phase", "shrinking failing cases")
            _shrink_failures(p.out, records, handles, cfg, on_event)
    except KeyboardInterrupt:
        _emit(on_event, "warning", "interrupted")
        complete = False
    except OSError as e:  # shrinking wrote the failing cases onto a full disk, say
        lost, complete = _write_failure(e), False
        _emit(on_event, "warning", lost)
    finally:
        if explainer is not None:
            explainer.close()
        dispatcher.close(token)
        if cfg.jax_cache is not None:
            if saved_env is None:
                os.environ.pop(JAX_CACHE_ENV, None)
            else:
                os.environ[JAX_CACHE_ENV] = saved_env
    wall = time.monotonic() - t0
    if not cleared:  # stopped while the workers started: nothing was judged, the previous run stays
        meta = _meta(p, handles, 0, False, wall, timing)
        code = EXIT_INTERRUPTED if lost is None else EXIT_NONCONFORMANT
        problems += [lost] if lost is not None else []
        meta["gate"] = {"exit_code": code, "problems": problems, "warnings": warnings}
        return RunResult(code, [], meta, p.out, problems, warnings)
    # Workers (and whatever they started) are gone: nothing can touch the files from here on.
    tampered = writing and lost is None and not runner.check_file(p.out, records)
    if tampered:
        problems.append(f"{RESULTS} was modified while the run held it (code under test?); it was rewritten "
                        "from the gate's own records")
        with RecordWriter(p.out) as w:
            w.write_many(records)
    if complete and _recharge(records, judged, p.entries):
        with RecordWriter(p.out) as w:  # the run's final attribution replaces the per-case one
            w.write_many(records)
    meta = _meta(p, handles, len(cases), complete, wall, timing)
    meta["started"] = started
    meta["cases_per_second"] = round(len(records) / wall, 2) if wall > 0 else None
    gate_fails, warns = bl.problems(p.entries, meta) if p.entries else ([], [])
    warnings += warns
    problems += gate_fails
    gaps: list[Gap] = []
    if complete:
        problems += runner.coverage_problems(all_cases, p.clauses, p.dtypes)
        problems += runner.judged_problems(handles, cases, records, p.clauses)
        gaps = runner.judged_gaps(handles, cases, records, p.clauses) if cases else []
    if cfg.explore:
        n_new = _save_new_corpus(p.out, records)
        _emit(on_event, "note", f"explore: {n_new} new failing case(s) in {_relative(p.out / 'new-corpus')}; copy "
                                "them into conformance/corpus/ to replay them in every gate run")
    bad = [r for r in records if r["verdict"] in BAD_VERDICTS]
    if latch.is_set() and complete:  # the interrupt was swallowed somewhere: the run still did not finish as asked
        complete = False
        meta["complete"] = False
        warnings.append("interrupted (Ctrl-C or SIGTERM): finished records are in results.jsonl (--resume)")
    if lost is not None:
        problems.append(lost)
    exit_code = EXIT_INTERRUPTED if not complete and lost is None else \
        (EXIT_NONCONFORMANT if bad or problems else EXIT_OK)
    meta["gate"] = {"exit_code": exit_code, "problems": problems, "warnings": warnings,
                    "baseline_problems": gate_fails, "gaps": [g.to_dict() for g in gaps],
                    # per entry, the records it matched and the failures it waived (or saw regress): a merge
                    # of shards decides an XPASS from these, over the whole run
                    "baseline_counts": {e.label(): {"matched": e.matched, "failed": e.failed} for e in p.entries}}
    try:
        write_json(p.out / META, meta)
    except OSError as e:
        problems.append(_write_failure(e, META))
        meta["gate"]["exit_code"] = exit_code = EXIT_NONCONFORMANT
        return RunResult(exit_code, [Record.from_dict(r) for r in records], meta, p.out, problems, warnings,
                         gate_fails, gaps)
    write_reports(p.out, meta, records, problems, warnings, _summary_md(cfg))
    if cfg.update_baseline is not None and not complete:  # partial records would drop the entries not reached
        warnings.append(f"the baseline was not written to {cfg.update_baseline}: the run did not finish (resume it "
                        "with --resume; the baseline is written when it completes)")
    elif cfg.update_baseline is not None:
        try:
            atomic_write(Path(cfg.update_baseline), _baseline_text(records, meta))
            _emit(on_event, "note", f"baseline written to {_relative(Path(cfg.update_baseline))}")
        except OSError as e:
            warnings.append(f"could not write the baseline to {cfg.update_baseline}: {e.strerror}")
    return RunResult(exit_code, [Record.from_dict(r) for r in records], meta, p.out, problems, warnings, gate_fails,
                     gaps)


def _write_failure(e: OSError, what: str | None = None) -> str:
    """The problem a run that could not write its own files ends with (never green: the records are partial)."""
    name = what or getattr(e, "filename", None) or RESULTS
    shown = _relative(Path(name)) if what is None else name
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (f"the run could not write {shown} ({e.strerror or e}), so what it wrote is incomplete; free space "
                "and run again")
    return f"the run stopped on {type(e).__name__} ({e.strerror or e}: {shown}), so what it wrote is incomplete"


def _recharge(records: list[dict[str, Any]], judged: dict[tuple[str, str], dict[str, Any]],
              entries: list[bl.Entry]) -> bool:
    """Charge an unexplained failure of a multi-clause case to the clauses that also fail on their own
    (``features.recharge``, over the whole run), then apply the baseline again. True if anything moved."""
    from .features import recharge

    if not judged:
        return False
    moved = False
    again = {(r["case_id"], r["adapter"]): r for r in recharge(list(judged.values())) if r.get("recharged_from")}
    for i, r in enumerate(records):
        new = again.get((r["case_id"], r["adapter"]))
        if new is None:
            continue
        bl.apply(entries, new)
        records[i] = new
        moved = True
    if moved and entries:
        bl.recount(entries, records)
    return moved


def _warm_reports() -> None:
    """Import the report libraries (pandas, matplotlib, jinja2: about a second) in a daemon thread while
    the run waits on its workers, instead of after the verdict, when everybody waits on the reports: as
    soon as every case is prepared while the workers start (the gate is idle then), else when the run
    begins."""
    def load() -> None:
        try:
            from .report import html, render  # noqa: F401
        except Exception:  # the reports import them again and say what is wrong
            pass

    global _WARM
    if _WARM is not None and _WARM.is_alive():  # already importing (a later call finds them imported)
        return
    _WARM = threading.Thread(target=load, name="warm-reports", daemon=True)
    _WARM.start()


_WARM: threading.Thread | None = None


def _tracer() -> Callable[..., Any]:
    from .report.trace import trace  # the per-step picture of a failure's worst element

    return trace


def _baseline_text(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    return bl.from_records(records, meta)


def _summary_md(cfg: RunConfig) -> Path | None:
    if cfg.summary_md is not None:
        return Path(cfg.summary_md)
    env = os.environ.get("GITHUB_STEP_SUMMARY")
    return Path(env) if env else None


LOADER_PREFIXES = ("torch:", "optax:")  # the generic loaders name an adapter by its spec


def _screen(handles: list[Any], cfg: RunConfig, on_event: OnEvent | None, entries: Sequence[bl.Entry] = ()
            ) -> tuple[list[Any], list[str], list[str]]:
    """Adapters that take part; why the run cannot be green because of the others.

    A name keys the records and the baseline, and an adapter that is not built in (a file, a module, an
    installed plugin) chooses its own, in its worker. So it may neither take a registered adapter's name,
    nor one that a baseline pattern written for other registered adapters also matches (``torch-cpu-evil``,
    or ``torch-cpu-*`` itself, against ``torch-cpu-*``): either would hand it their waivers."""
    problems: list[str] = []
    warnings: list[str] = []
    keep = []
    names: dict[str, str] = {}
    from . import registry

    registered = set(registry.names())
    builtin = set(registry.builtin_names())
    for h in handles:
        if h.name in registered and h.spec != h.name:  # it would take that adapter's baseline waivers
            raise UsageError(f"--adapter {h.spec} calls itself {h.name!r}, the name of a registered adapter; names "
                             "key the records and the baseline, so an adapter may not take another's: give it its "
                             "own `name`")
        if h.spec not in builtin:  # a file, a module or an installed plugin: its own class chose the name
            if h.name != h.spec and h.name.startswith(LOADER_PREFIXES):
                raise UsageError(f"--adapter {h.spec} calls itself {h.name!r}; names beginning "
                                 f"{' or '.join(LOADER_PREFIXES)} are the generic loaders' (`--adapter torch:MOD:CLS` "
                                 "is named so), and baselines name them: give it its own `name`")
            others = registered - {h.name}
            for e in entries:  # no exception for a name equal to the pattern: `torch-cpu-*` matches `torch-cpu-*`
                if fnmatchcase(h.name, e.adapter) and any(fnmatchcase(n, e.adapter) for n in others):
                    raise UsageError(f"--adapter {h.spec} calls itself {h.name!r}, which {e.label()} in the baseline "
                                     f"also matches, a pattern that names registered adapters; it would take their "
                                     "waivers: give it a name outside that pattern, or name it in the entry exactly")
        if h.load_error:
            problems.append(f"{h.spec}: {h.described.get('reason')} -- every case is an ERROR")
            _emit(on_event, "warning", problems[-1])
            keep.append(h)
            continue
        if not h.available:
            why = f"{h.name} cannot run here: {h.described.get('reason') or 'not available'}"
            if cfg.allow_unavailable:
                warnings.append(f"skipped {why}")
                _emit(on_event, "note", f"skipping {why}")
            else:
                problems.append(f"{why} (it was requested; pass --allow-unavailable to skip adapters that cannot run)")
                _emit(on_event, "warning", problems[-1])
            continue
        if h.name in names:
            raise UsageError(f"two adapters are both named {h.name!r} ({names[h.name]} and {h.spec}); adapter names "
                             "must be unique in a run")
        names[h.name] = h.spec
        keep.append(h)
    if not keep and not problems:  # every adapter skipped (--allow-unavailable): nothing judged is not green
        problems.append("no requested adapter can run here, so nothing was judged; see `adam-conformance list`")
        _emit(on_event, "warning", problems[-1])
    return keep, problems, warnings


def _note_dtypes_away(handles: Sequence[Any], dtypes: Sequence[str], on_event: OnEvent | None) -> None:
    """Say which requested dtype an adapter declared away, with its reason (its notes, by dtype) or without."""
    for h in handles:
        info = h.info()
        if info is None:
            continue
        for d in dtypes:
            if d not in info.dtypes:
                _emit(on_event, "note", f"{h.name} does not run {d}: {info.notes.get(d) or 'no reason given'}")


def _previous_records(out: Path) -> list[tuple[int, dict[str, Any]]]:
    """The records a resumed run continues, with their line numbers; one per (case, adapter)."""
    from .records import numbered_unique

    try:
        return numbered_unique(out / RESULTS)
    except ValueError as e:
        raise UsageError(f"--resume: {e}") from None


def _check_previous_cases(out: Path, previous: Sequence[tuple[int, dict[str, Any]]], cases: Sequence[Case]) -> None:
    """A resumed run's earlier records are records of its own cases: one of another case (an edit, or another
    run's line) would be kept, and counted, though this run never ran it."""
    ids = {c.id for c in cases}
    for n, r in previous:
        if r["case_id"] not in ids:
            raise UsageError(f"--resume: {out / RESULTS}:{n}: case {r['case_id']} on {r['adapter']} is not a case of "
                             "this run (its seed, clauses, dtypes, shard and examples give other cases); the file was "
                             "changed after the run: start afresh without --resume")


def _save_failure(out: Path, rec: dict[str, Any], case: Case, spec: str) -> None:
    path = out / "failures" / f"{case.id}.json"
    if not path.exists():  # written while the run goes on: no fsync each (results.jsonl is the durable record)
        atomic_write(path, case.dumps() + "\n", durable=False)
    rec["case_file"] = f"failures/{case.id}.json"
    rec["replay"] = f"adam-conformance replay {_relative(path)} --adapter {spec}"


def _save_new_corpus(out: Path, records: list[dict[str, Any]]) -> int:
    """Explore mode: failing cases not yet in the committed corpus, ready to be pinned there."""
    known = {c.id for c in corpus_cases()}
    n = 0
    for r in records:
        if r.get("case_file") and r["case_id"] not in known:
            dst = out / "new-corpus" / Path(r["case_file"]).name
            if not dst.exists():
                atomic_write(dst, (out / r["case_file"]).read_text())
                n += 1
    return n


def _shrink_failures(out: Path, records: list[dict[str, Any]], handles: Sequence[Any], cfg: RunConfig,
                     on_event: OnEvent | None) -> None:
    """Replace each saved failing case by a smaller one that still fails the same way."""
    from .shrink import shrink_case

    by_name = {h.name: h for h in handles if h.available}
    if cfg.hypothesis_shrink:
        _hypothesis_examples(out, records, by_name, cfg, on_event)
    done: set[str] = set()
    todo = [r for r in records if r.get("case_file") and r["verdict"] in ("FAIL", "ERROR")
            and r.get("error_kind") not in ("timeout", "crashed", "memory", "load")]
    for r in todo:
        if r["case_id"] in done or r["adapter"] not in by_name:
            continue
        done.add(r["case_id"])
        path = out / r["case_file"]
        try:
            case = load(path)
        except CaseFormatError:
            continue
        small = shrink_case(case, r, by_name[r["adapter"]], cfg.timeout)
        if small is not None and small.id != case.id:
            text = json.loads(small.dumps())
            text["shrunk_from"] = case.id
            atomic_write(path, json.dumps(text, indent=1) + "\n")


def _hypothesis_examples(out: Path, records: list[dict[str, Any]], by_name: dict[str, Any], cfg: RunConfig,
                         on_event: OnEvent | None) -> None:
    """One hypothesis-shrunk failing case per (adapter, charged clause), saved under minimal/."""
    from .shrink import hypothesis_minimal

    seen: set[tuple[str, str]] = set()
    for r in records:
        charged = ",".join(r.get("deviates") or r["clauses"])
        key = (r["adapter"], charged)
        if (not r.get("case_file") or r["verdict"] not in ("FAIL", "ERROR") or key in seen
                or r["adapter"] not in by_name or r.get("kind") != "steps"):
            continue
        seen.add(key)
        _emit(on_event, "phase", f"hypothesis shrinking {r['adapter']} {charged}")
        small = hypothesis_minimal(load(out / r["case_file"]), r, by_name[r["adapter"]], cfg.timeout, _given_seed(cfg))
        if small is not None:
            path = out / "minimal" / f"{small.id}.json"
            atomic_write(path, small.dumps() + "\n")
            _emit(on_event, "note", f"minimal failing case for {r['adapter']} {charged}: adam-conformance replay "
                                    f"{_relative(path)} --adapter {by_name[r['adapter']].spec}")


def _sandbox_line(cfg: RunConfig) -> str:
    if not cfg.sandbox:
        return "off: --no-sandbox; code under test runs as your user and could reach this run's files"
    return sandbox.describe()


def _versions() -> dict[str, str]:
    import hypothesis
    import numpy

    return {"hypothesis": hypothesis.__version__, "numpy": numpy.__version__}


def _meta(p: _Plan, handles: Sequence[Any], n_cases: int, complete: bool, wall: float,
          timing: dict[str, Any]) -> dict[str, Any]:
    from .runner import environment

    own = sum(h.seconds for h in handles)
    return {
        "suite": "adam-conformance", "suite_version": __version__, "spec": SPEC, "spec_version": SPEC_VERSION,
        **_config_meta(p), "cases": n_cases, "complete": complete, "wall_seconds": round(wall, 2),
        "environment": {**environment(), **_versions()}, "hypothesis": _versions()["hypothesis"],
        "baseline": p.options["baseline"],
        "adapters": [h.meta() for h in handles], "sandbox": _sandbox_line(p.cfg),
        "generation_seconds": timing.get("generation_seconds"),
        "timing": {**timing, "implementations_seconds": round(own, 3)},
    }


def write_reports(out: Path, meta: dict[str, Any], records: list[dict[str, Any]], problems: list[str],
                  warnings: list[str], extra_md: Path | None = None) -> None:
    """summary.json, summary.md, junit.xml and report.html from the records held in memory (the Markdown
    is also appended to ``extra_md``, e.g. $GITHUB_STEP_SUMMARY)."""
    from .report import render

    if _WARM is not None:  # the report libraries are imported by that thread: let it finish first
        _WARM.join(30)
    try:
        render.write_all(out, meta, records, problems, warnings, extra_md)
    except Exception as e:  # a report that cannot be drawn must not cost the records or change the verdict
        warnings.append(f"writing the reports failed ({type(e).__name__}: {str(e)[:200]}); the verdict stands and "
                        f"results.jsonl and run.json are complete: `adam-conformance report {out} --format html "
                        f"--out {out / 'report.html'}` draws the page again")
