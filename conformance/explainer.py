"""Failures explained beside the gate, in a second process of this package's own code.

Why: in a run with one adapter the gate's single core is the longest path. Explaining a FAIL -- the
reference and the error model rerun under every alternative reading of the spec, until one fits
(``compare.explanation``) -- is the largest part of its judging: torch-cpu-single fails 170 step cases
of the default run (eps placement), and explaining them cost the gate about as much as judging every
other answer. The worker leaves a core idle while it loads its library and once it has answered its
last case; the explainer uses it. What it computes is what the gate computes (the same function, on
the same case and outcome), so the records are identical with it and without it.

Trust: ``python -m conformance.explainer`` imports this package only -- no adapter, no code under
test. It receives cases the gate made and outcomes the gate has already validated, and answers with
clause IDs and reading texts, which the gate checks against its own catalogue before using them. If it
dies, answers nonsense or is not there, the gate explains the failure itself.

    >>> ex = Explainer.start()                                  # doctest: +SKIP
    >>> ex.submit(key, job.frame(), answer_wire); ex.poll()     # doctest: +SKIP
    [(key, (['UPD-EPS'], ['eps added after bias correction: ...']))]
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from typing import Any

from . import ipc

Found = tuple[list[str], list[str]] | None  # compare.explanation's answer


class Explainer:
    """The gate's handle on its explainer process: requests go out as they come, answers are read when
    the gate polls, never waited on."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdin is not None and popen.stdout is not None
        self.popen = popen
        self._wfd, self._rfd = popen.stdin.fileno(), popen.stdout.fileno()
        os.set_blocking(self._wfd, False)
        os.set_blocking(self._rfd, False)
        self._out = bytearray()
        self._reader = ipc.FrameReader()
        self.pending: set[int] = set()
        self.answered = 0  # explanations it gave (the rest, if it broke, the gate made)
        self.broken = False

    @classmethod
    def start(cls) -> Explainer | None:
        """A running explainer, or None where one cannot start (the gate then explains by itself)."""
        from .workers import THREAD_ENV, TOKEN_ENV

        env = {**{k: v for k, v in os.environ.items() if not k.startswith(TOKEN_ENV)}, **THREAD_ENV}
        try:
            popen = subprocess.Popen([sys.executable, "-m", "conformance.explainer"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True)
        except OSError:
            return None
        return cls(popen)

    def submit(self, key: int, case_frame: bytes, wire: Any) -> bool:
        """Ask for the explanation of ``wire`` (an answer's outcome the gate judged FAIL) on the case whose
        request frame the workers got (``workers.Job.frame``: sent as it is, not encoded again); False
        when the explainer is gone (explain it in the gate)."""
        if self.broken:
            return False
        try:
            self._out += case_frame + ipc.encode({"type": "explain", "key": key, "outcome": wire})
        except (TypeError, ValueError):
            return False
        self.pending.add(key)
        self._flush()
        return not self.broken

    def _flush(self) -> None:
        while self._out and not self.broken:
            try:
                n = os.write(self._wfd, self._out)
            except BlockingIOError:
                return
            except OSError:
                self.broken = True
                return
            del self._out[:n]

    def poll(self) -> list[tuple[int, Found]]:
        """Explanations that are back, as (key, found); once the explainer is broken, every pending key
        comes back once with ``None`` found and ``broken`` set (the caller explains those itself)."""
        self._flush()
        out: list[tuple[int, Found]] = []
        while not self.broken:
            data = ipc.read_ready(self._rfd)
            if data is None:
                break
            if not data:
                self.broken = True
                break
            try:
                messages = self._reader.feed(data)
            except ipc.ProtocolError:
                self.broken = True
                break
            for msg in messages:
                got = _checked(msg)
                if got is None or got[0] not in self.pending:
                    self.broken = True
                    break
                self.pending.discard(got[0])
                self.answered += 1
                out.append(got)
        return out

    def wait(self, timeout: float) -> None:
        """Until an answer is there to read (or ``timeout`` seconds): for a caller with nothing else to do."""
        if not self.broken:
            select.select([self._rfd], [], [], timeout)

    def close(self) -> None:
        for stream in (self.popen.stdin, self.popen.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        try:
            self.popen.kill()
            self.popen.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass


def _checked(msg: Any) -> tuple[int, Found] | None:
    """An explainer's answer as (key, found), or None when it is not one."""
    from .clauses import BY_ID

    if not isinstance(msg, dict) or msg.get("type") != "explained" or type(msg.get("key")) is not int:
        return None
    if msg.get("found") is None:
        return msg["key"], None
    found = msg["found"]
    if not (isinstance(found, list) and len(found) == 2 and all(isinstance(x, list) for x in found)):
        return None
    clauses, texts = found
    if not (clauses and all(isinstance(c, str) and c in BY_ID for c in clauses)
            and texts and all(isinstance(t, str) for t in texts)):
        return None
    return msg["key"], (clauses, texts)


def serve(read: Any, write: Any) -> None:
    """The explainer's loop: one answer per request -- a worker's "case" request, then the "explain" of
    an outcome on it -- in order, until the gate closes the pipe."""
    from . import protocol
    from .cases import trusted
    from .compare import Prepared, Ran, explanation
    from .expected import expected

    case_json = None
    while True:
        msg = ipc.read_frame(read)
        if msg is None:
            return
        if msg["type"] == "case":  # the case of the next explain
            case_json = msg["case"]
            continue
        case = trusted(case_json)
        out = protocol.outcome(msg["outcome"], case)
        assert isinstance(out, Ran)
        found = explanation(Prepared(case, expected(case)), out)
        write(ipc.encode({"type": "explained", "key": msg["key"],
                          "found": None if found is None else [found[0], found[1]]}))


def main() -> None:
    from .sandbox import not_dumpable

    not_dumpable()  # where the workers are not sandboxed, they could otherwise answer in its place
    out = sys.stdout.buffer

    def write(frame: bytes) -> None:
        out.write(frame)
        out.flush()

    serve(sys.stdin.buffer.read, write)


if __name__ == "__main__":
    main()
