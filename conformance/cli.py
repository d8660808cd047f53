"""``adam-conformance``: clauses, list, run, replay, report.

Exit codes a CI can trust: 0 conformant (or matching the baseline), 1 nonconformance (FAIL, ERROR,
XPASS, regression), 2 the run could not start (bad flag, unknown adapter, malformed file) -- with
one line saying what to fix, never a traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from . import __version__
from .errors import EXIT_INTERRUPTED, EXIT_NONCONFORMANT, EXIT_OK, EXIT_USAGE, ConformanceError, UsageError

__all__ = ["EXIT_INTERRUPTED", "EXIT_NONCONFORMANT", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {v}")
    return v


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None


def _timeout(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got {text!r}")
    return v


def _path(text: str) -> Path:
    """A path flag's value; an empty one (Path("") reads as ".", the working directory) is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path")
    return Path(text)


def _selection(text: str) -> str:
    """A --clauses / --dtypes list given on purpose: an empty one (an unset CI variable) is an error, not
    "everything" -- leave the flag out for that."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty; leave the flag out to select everything")
    return text


def _shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="adam-conformance", description="Check an Adam optimizer against the mindspore.nn.Adam spec.")
    p.add_argument("--version", action="version", version=f"adam-conformance {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    c = sub.add_parser("clauses", help="print the clause catalog")
    c.add_argument("--format", choices=("table", "md", "json"), default="table")

    ls = sub.add_parser("list", help="adapters, whether they can run here, and what they declare")
    ls.add_argument("--adapter", action="append", default=[], metavar="A",
                    help="load this adapter spec in a worker and show what it declares; exit 1 if it cannot run here")
    ls.add_argument("--details", action="store_true",
                    help="load every adapter in a worker (slow: imports each backend) and show what it declares")
    ls.add_argument("--load-timeout", type=_timeout, default=120.0, metavar="SECONDS")

    r = sub.add_parser("run", help="generate cases, run adapters, judge, write reports")
    r.add_argument("--adapter", action="append", default=[], metavar="A",
                   help="adapter name, torch:MOD:CLS, optax:MOD:FN, FILE.py:NAME or MOD:NAME (repeatable); "
                        "default: every built-in adapter that can run here")
    r.add_argument("--out", type=_path, default=Path("reports/latest"), metavar="DIR",
                   help="the run directory (default reports/latest): records, run.json, reports, failing cases; "
                        "it must be new, empty or an earlier run's")
    r.add_argument("--seed", type=_seed, default=None,
                   help="the run's seed (default 0; with --explore, a fresh one unless given)")
    r.add_argument("--max-examples", type=_positive_int, default=6, metavar="N",
                   help="cases per clause and dtype (default 6)")
    r.add_argument("--clauses", type=_selection, default=None, metavar="PATTERNS",
                   help="comma-separated globs, e.g. 'UPD-*,DEC-L2'")
    r.add_argument("--dtypes", type=_selection, default=None, metavar="LIST",
                   help="comma-separated, e.g. float32,float64")
    r.add_argument("--timeout", type=_timeout, default=300.0, metavar="SECONDS", help="per case (default 300)")
    r.add_argument("--load-timeout", type=_timeout, default=120.0, metavar="SECONDS",
                   help="for a worker to import and describe its adapter (default 120)")
    r.add_argument("--memory-limit-mb", type=_positive_int, default=6144, metavar="MIB",
                   help="per worker resident memory; past it the worker is replaced and the case is an ERROR "
                        "(default 6144)")
    r.add_argument("--allow-unavailable", action="store_true",
                   help="skip requested adapters that cannot run here instead of failing the run")
    r.add_argument("--cache-dir", type=_path, default=None, metavar="DIR",
                   help="keep and reuse generated case sets in DIR, keyed by everything they depend on "
                        "(default $ADAM_CONFORMANCE_CASE_CACHE, else ~/.cache/adam-conformance/cases)")
    r.add_argument("--no-case-cache", dest="case_cache", action="store_false",
                   help="generate the cases every time; read and write no case cache")
    r.add_argument("--jax-cache", type=_path, default=None, metavar="DIR",
                   help="JAX's persistent compilation cache for the optax workers (a second run compiles "
                        "nothing; or $ADAM_CONFORMANCE_JAX_CACHE)")
    r.add_argument("--writable", type=_path, action="append", default=[], metavar="DIR",
                   help="a directory the sandboxed workers may write besides their scratch directory (repeatable; "
                        "never one holding --out or the case cache)")
    r.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                   help="run the workers unconfined (they can then write this run's files; run.json says so)")
    r.add_argument("-j", "--jobs", type=_positive_int, default=1, metavar="N",
                   help="worker processes per adapter (default 1)")
    r.add_argument("--shard", type=_shard, default=None, metavar="K/N", help="run the K-th of N disjoint parts")
    r.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    r.add_argument("--baseline", type=_path, default=None, metavar="FILE", help="known deviations (TOML)")
    r.add_argument("--update-baseline", type=_path, default=None, metavar="FILE",
                   help="write the run's deviations as a baseline")
    r.add_argument("--explore", action="store_true",
                   help="search with fresh randomness and hypothesis.target; save new failures for the corpus")
    r.add_argument("--no-corpus", action="store_true", help="skip the committed regression corpus")
    r.add_argument("--no-shrink", action="store_true", help="save failing cases without shrinking them")
    r.add_argument("--hypothesis-shrink", action="store_true",
                   help="also let hypothesis search and shrink one failing case per adapter and clause (slower)")
    r.add_argument("--summary-md", type=_path, default=None, metavar="PATH",
                   help="also write the Markdown summary here (default: $GITHUB_STEP_SUMMARY when set)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")

    rp = sub.add_parser("replay", help="rerun one case file and print the step-by-step diff")
    rp.add_argument("case", type=_path)
    rp.add_argument("--adapter", required=True, action="append", metavar="A",
                    help="the adapter to replay the case on (one)")
    rp.add_argument("--all-steps", action="store_true", help="print every step, not only the failing ones")
    rp.add_argument("--timeout", type=_timeout, default=300.0, metavar="SECONDS")
    rp.add_argument("--load-timeout", type=_timeout, default=120.0, metavar="SECONDS")

    st = sub.add_parser("selftest", help="run the gate over a zoo of faulty and faithful Adams: kill rate, margins")
    st.add_argument("--max-examples", type=_positive_int, default=3, metavar="N",
                    help="cases per clause and dtype in each gate run (default 3)")
    st.add_argument("--seed", type=_seed, default=0, help="the gate runs' seed (default 0)")

    rep = sub.add_parser("report", help="render (and merge) earlier runs")
    rep.add_argument("dirs", nargs="+", type=_path, metavar="DIR")
    rep.add_argument("--format", choices=("md", "html", "json"), default=None,
                     help="default: the one --out's name ends in (.md, .html, .json), else md")
    rep.add_argument("--merge", action="store_true",
                     help="join shard outputs into one run: with --out DIR (a directory, or any name not ending in "
                          ".md/.html/.json) a run directory, and the exit code is the joined run's verdict; "
                          "without --out the joined report on stdout")
    rep.add_argument("--out", type=_path, default=None, metavar="PATH",
                     help="write here instead of stdout (missing parent directories are created)")
    rep.add_argument("--title", default="Adam conformance")
    return p


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _kept(args: argparse.Namespace | None) -> str:
    """What an interrupted command left: a run's finished records only where there are some."""
    out = getattr(args, "out", None) if getattr(args, "command", None) == "run" else None
    try:
        if out is not None and (Path(out) / "results.jsonl").stat().st_size > 0:
            return f"; finished records are in {Path(out) / 'results.jsonl'} (continue with --resume)"
    except OSError:
        pass
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args: argparse.Namespace | None = None
    try:
        previous = signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        args = parser.parse_args(argv)
        if not args.command:  # one line on stderr, as for any other usage error
            raise UsageError("a command is required (clauses, list, run, replay, report, selftest): see "
                             f"`{parser.prog} --help`")
        from . import commands

        handler = getattr(commands, f"cmd_{args.command}")
        return int(handler(args))
    except ConformanceError as e:
        print(f"adam-conformance: error: {_one_line(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"adam-conformance: interrupted{_kept(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `adam-conformance clauses | head`: the reader left; that is not an error
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_OK
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def entry() -> None:
    """The ``adam-conformance`` command: ``main()``, then out of the process without tearing it down.

    Why: once ``main`` has returned, every file is written and closed (atomic writes) and the workers
    are gone; what is left is the interpreter freeing every object the run made -- cases, reference
    trajectories, records, the report libraries: 0.2-0.3 s of a one-adapter run's 5 s, on one core,
    that every CI job would wait on. The standard streams are flushed first. An exception out of
    ``main`` (a bug: it catches ours) leaves the usual way, traceback and all; ``main()`` itself, for
    callers in Python, returns normally."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more can reach it anyway
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    # Run the imported module's entry, not this __main__ copy's: commands raise conformance.cli's
    # UsageError, which only that module's main catches.
    from conformance.cli import entry as _entry

    _entry()
