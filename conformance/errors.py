"""One exception tree for the gate's users, with the exit code each one maps to.

Everything a user can get wrong -- a flag, a case file, a baseline, an adapter spelling, a results
file -- raises a subclass of :class:`ConformanceError` whose message is one line saying what to fix.
The CLI prints that line and exits with :attr:`ConformanceError.exit_code`; library callers catch
the base class. Faults of the code under test are never exceptions here: they are ERROR records.
"""

from __future__ import annotations

EXIT_OK = 0  # every requested implementation was judged and conformed (or matched the baseline)
EXIT_NONCONFORMANT = 1  # a FAIL, ERROR, XPASS, regression, unjudged or unavailable adapter, tampering
EXIT_USAGE = 2  # the run could not start: bad flag, unknown adapter, malformed case/baseline/results file
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C / SIGTERM; finished records are kept (continue with --resume)


class ConformanceError(Exception):
    """A user mistake, said in one line; the run does no work (or keeps what it had) and exits 2.

    Example::

        try:
            conformance.run(conformance.RunConfig(adapters=["no-such-adapter"]))
        except conformance.ConformanceError as e:
            print(e)            # one line that says what to fix
            sys.exit(e.exit_code)
    """

    exit_code = EXIT_USAGE


class UsageError(ConformanceError, ValueError):
    """A bad option or combination of options."""


class OutputPathError(UsageError):
    """An --out, --update-baseline or report path that cannot be written."""
