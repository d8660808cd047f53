"""Typed views of what a run produces: one :class:`Record` per (case, adapter), and run events.

results.jsonl stays the interchange format (one JSON object a line, ``docs/gate.md``); these are
the objects a library caller programs against, so it reads ``record.verdict`` instead of
``record["verdict"]`` and a misspelt field is an AttributeError, not a silent ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

VERDICTS = ("PASS", "FAIL", "ERROR", "UNSUPPORTED", "XFAIL", "XPASS")


@dataclass(frozen=True)
class Record:
    """The verdict of one case on one implementation.

    Example::

        >>> r = Record.from_dict({"case_id": "UPD-1a2b3c4d5e6f", "adapter": "torch-cpu-single",
        ...                       "clauses": ["UPD-EPS"], "dtype": "float32", "verdict": "FAIL", "ratio": 3.1e4})
        >>> r.failed, r.charged
        (True, ('UPD-EPS',))
    """

    case_id: str
    adapter: str
    clauses: tuple[str, ...]
    dtype: str
    verdict: str
    family: str = ""
    kind: str = "steps"
    title: str = ""
    message: str = ""
    ratio: float | None = None
    bound: float | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    max_ulp: int | None = None
    worst: dict[str, Any] | None = None
    raised: str | None = None
    error_kind: str | None = None
    raw_verdict: str | None = None
    deviates: tuple[str, ...] = ()
    explained_by: tuple[str, ...] | None = None
    emulated: tuple[str, ...] = ()
    first_failing_step: int | None = None
    seconds: float = 0.0
    seq: int | None = None
    case_file: str | None = None
    replay: str | None = None
    baseline: str | None = None
    unsupported_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """FAIL, ERROR or XPASS: a verdict that fails the gate."""
        return self.verdict in ("FAIL", "ERROR", "XPASS")

    @property
    def charged(self) -> tuple[str, ...]:
        """The clauses a failure is counted under (its attribution), else the case's clauses."""
        return self.deviates or self.clauses

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        names = {f.name for f in fields(cls)} - {"extra"}
        kw = {k: d[k] for k in names if k in d}
        for k in ("clauses", "deviates", "emulated"):
            if k in kw:
                kw[k] = tuple(kw[k] or ())
        if kw.get("explained_by") is not None:
            kw["explained_by"] = tuple(kw["explained_by"])
        return cls(**kw, extra={k: v for k, v in d.items() if k not in names})

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for k in ("clauses", "deviates", "emulated", "explained_by"):
            if out[k] is not None:
                out[k] = list(out[k])
        return {**out, **self.extra}


@dataclass(frozen=True)
class Event:
    """Progress of a run, for ``gate.run(config, on_event=...)``.

    ``kind`` is one of ``phase`` (a stage begins: ``message`` names it, ``total`` counts its work),
    ``progress`` (``done`` of ``total`` finished: the generated clause x dtype streams while the phase is
    "generating cases", case-runs while it is "running cases"), ``note`` and ``warning`` (a line for a
    person). The records themselves are the run's result (``RunResult.records``), and ``results.jsonl``
    in ``--out`` grows as they are judged.

    Example::

        def show(ev: conformance.Event) -> None:
            if ev.kind in ("phase", "warning"):
                print(ev.kind, ev.message)

        conformance.run(conformance.RunConfig(adapters=["reference-f32"]), on_event=show)
    """

    kind: str
    message: str = ""
    done: int | None = None
    total: int | None = None
