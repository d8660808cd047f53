"""Which runs belong together: ``--resume`` continues only the run it was started as, and ``report
--merge`` joins only the shards of one run.

A run's configuration is what decides its cases and verdicts: suite, spec and hypothesis versions,
seed, max_examples, clauses, dtypes, options (the baseline's path and a digest of its contents
among them), timeout, and the adapters (spec, name, declared library versions, and the dtypes and
clause support they declare). Records of two configurations mixed in one results file would be a report of
neither, so both refuse (``CompatError``, one line) instead of mixing. A merge also checks the shards:
``K/N`` of one N, each at most once; missing shards make the merged run incomplete, never complete.

Pure functions over run.json dicts (``conformance.records.read_meta``) and records; the CLI prints
the error and exits 2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

# The keys of run.json that make two runs the same run (besides the adapters and the shard).
CONFIG_KEYS = ("suite_version", "spec_version", "hypothesis", "seed", "max_examples", "clauses", "dtypes", "options",
               "timeout")
_SHARD = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")
_ABSENT = "<not recorded>"

Run = tuple[dict[str, Any], list[dict[str, Any]]]


class CompatError(UsageError):
    """Runs that do not belong together; one line saying which setting differs."""


def _show(v: Any) -> str:
    text = v if isinstance(v, str) and v == _ABSENT else json.dumps(v, sort_keys=True, ensure_ascii=True, default=repr)
    return text if len(text) <= 80 else text[:80] + "..."


def _versions(a: Any) -> Any:
    info = a.get("info") if isinstance(a, dict) else None
    return info.get("versions") if isinstance(info, dict) else None


def _declared(a: Any) -> Any:
    info = a.get("info") if isinstance(a, dict) else None
    if not isinstance(info, dict):
        return None
    dtypes = info.get("dtypes")  # an order is no declaration (a set's order differs from worker to worker)
    return {"dtypes": sorted(map(str, dtypes)) if isinstance(dtypes, list) else dtypes, "support": info.get("support")}


def adapter_identities(meta: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(spec, name) of each adapter of a run, in run order."""
    adapters = meta.get("adapters")
    if not isinstance(adapters, list):
        return []
    return [(a.get("spec"), a.get("name")) if isinstance(a, dict) else (None, None) for a in adapters]


def config_differences(a: dict[str, Any], b: dict[str, Any], with_shard: bool = False) -> list[str]:
    """What differs between the configurations of two runs, one phrase each ("seed 0 vs 1")."""
    out = []
    keys = (*CONFIG_KEYS, "shard") if with_shard else CONFIG_KEYS
    for key in keys:
        va, vb = a.get(key, _ABSENT), b.get(key, _ABSENT)
        if va != vb and isinstance(va, dict) and isinstance(vb, dict):  # name the setting that differs
            pinned = key == "options" and va.get("baseline_sha256") and vb.get("baseline_sha256")
            out += [f"{key}.{k} {_show(va.get(k, _ABSENT))} vs {_show(vb.get(k, _ABSENT))}"
                    for k in sorted({*va, *vb}, key=str) if va.get(k, _ABSENT) != vb.get(k, _ABSENT)
                    and not (pinned and k == "baseline")]  # the digest pins the contents; the path is relative
        elif va != vb:
            out.append(f"{key} {_show(va)} vs {_show(vb)}")
    ia, ib = adapter_identities(a), adapter_identities(b)
    if ia != ib:
        out.append(f"adapters {_show([n for _, n in ia])} vs {_show([n for _, n in ib])}"
                   if [n for _, n in ia] != [n for _, n in ib] else
                   f"adapter specs {_show([s for s, _ in ia])} vs {_show([s for s, _ in ib])}")
        return out
    for x, y in zip(a.get("adapters") or [], b.get("adapters") or []):
        vx, vy = _versions(x), _versions(y)
        if vx is not None and vy is not None and vx != vy:
            out.append(f"{x['name']} versions {_show(vx)} vs {_show(vy)}")
        dx, dy = _declared(x), _declared(y)  # what it admits decides what it owes a judged case
        if dx is not None and dy is not None and dx != dy:
            out.append(f"{x['name']} declares {_show(dx)} vs {_show(dy)}")
    return out


def _one_line(what: str, diffs: Sequence[str]) -> str:
    more = f" (and {len(diffs) - 1} more difference(s))" if len(diffs) > 1 else ""
    return f"{what}: {diffs[0]}{more}"


def check_resume_config(previous_meta: dict[str, Any], new_meta: dict[str, Any], specs: Sequence[str]) -> None:
    """``check_resume`` for what is known before any worker starts: the configuration, the shard, and the
    adapter specs as given (names and versions are checked once the workers have said them)."""
    prev = {k: v for k, v in previous_meta.items() if k != "adapters"}
    diffs = config_differences(prev, {k: v for k, v in new_meta.items() if k != "adapters"}, with_shard=True)
    before = [s for s, _ in adapter_identities(previous_meta)]
    if before and list(before) != list(specs):
        diffs.append(f"adapter specs {_show(before)} vs {_show(list(specs))}")
    _refuse_resume(diffs)


def check_resume(previous_meta: dict[str, Any], new_meta: dict[str, Any]) -> None:
    """CompatError unless the run being started has the configuration (and shard) of the one it continues."""
    _refuse_resume(config_differences(previous_meta, new_meta, with_shard=True))


def _refuse_resume(diffs: Sequence[str]) -> None:
    if diffs:
        raise CompatError(_one_line("--resume: this run does not continue the one in the directory "
                                    "(previous vs now)", diffs) + "; resume with the same options, or start afresh")


def parse_shard(value: Any) -> tuple[int, int] | None:
    """run.json's "shard" ("K/N" or null) -> (K, N) or None; ValueError for anything else."""
    if value is None:
        return None
    m = _SHARD.match(value) if isinstance(value, str) else None
    if m is None or int(m.group(1)) > int(m.group(2)):
        raise ValueError(f"shard {_show(value)} is not K/N with 1 <= K <= N")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class MergeInfo:
    """The shards a merge joins: ``total`` N, the K values ``present`` and ``missing``; ``complete`` when
    every shard is there and every run finished."""

    total: int
    present: tuple[int, ...]
    missing: tuple[int, ...]
    complete: bool

    def missing_labels(self) -> list[str]:
        return [f"{k}/{self.total}" for k in self.missing]


def check_merge(metas: Sequence[dict[str, Any]]) -> MergeInfo:
    """CompatError unless the runs are distinct shards of one configuration; missing shards are reported
    (``MergeInfo.missing``), duplicated or unsharded ones refused."""
    if not metas:
        raise CompatError("--merge: no runs to merge")
    for i, m in enumerate(metas[1:], 2):
        diffs = config_differences(metas[0], m)
        if diffs:
            raise CompatError(_one_line(f"--merge: run {i} does not belong with run 1 (run 1 vs run {i})", diffs))
    shards: list[tuple[int, int] | None] = []
    for i, m in enumerate(metas, 1):
        try:
            shards.append(parse_shard(m.get("shard")))
        except ValueError as e:
            raise CompatError(f"--merge: run {i}: {e}") from None
    done = all(m.get("complete") is True for m in metas)
    if len(metas) == 1 and shards[0] is None:
        return MergeInfo(1, (1,), (), done)
    unsharded = [i for i, s in enumerate(shards, 1) if s is None]
    if unsharded:
        raise CompatError(f"--merge: run {unsharded[0]} is not a shard (no --shard); merging it with other runs of "
                          "the same cases would count them twice")
    totals = sorted({s[1] for s in shards if s is not None})
    if len(totals) > 1:
        raise CompatError(f"--merge: the runs are shards of different splits ({', '.join(f'K/{n}' for n in totals)})")
    seen: dict[int, int] = {}
    for i, s in enumerate(shards, 1):
        assert s is not None
        if s[0] in seen:
            raise CompatError(f"--merge: shard {s[0]}/{s[1]} is given twice (runs {seen[s[0]]} and {i})")
        seen[s[0]] = i
    n = totals[0]
    missing = tuple(k for k in range(1, n + 1) if k not in seen)
    return MergeInfo(n, tuple(sorted(seen)), missing, done and not missing)


def _num(x: Any) -> float:
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else 0


def _merged_adapters(metas: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    adapters: dict[Any, dict[str, Any]] = {}
    for m in metas:
        for a in m.get("adapters") or []:
            if not isinstance(a, dict):
                continue
            prev = adapters.get(a.get("name"))
            if prev is None:
                adapters[a.get("name")] = dict(a)
                continue
            prev["cases_run"] = _num(prev.get("cases_run")) + _num(a.get("cases_run"))
            prev["seconds"] = round(_num(prev.get("seconds")) + _num(a.get("seconds")), 3)
            if a.get("compilations") is not None:
                prev["compilations"] = _num(prev.get("compilations")) + _num(a["compilations"])
    return list(adapters.values())


def merge_runs(runs: Sequence[Run]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Join the shards of one run: checked (``check_merge``), records put back in the unsharded order.
    A (case, adapter) recorded by two shards is refused; within one run the first record counts."""
    metas = [m for m, _ in runs]
    info = check_merge(metas)
    adapters = _merged_adapters(metas)
    order = {a.get("name"): i for i, a in enumerate(adapters)}
    seen: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for i, (_, recs) in enumerate(runs, 1):
        for r in recs:
            key = (r["case_id"], r["adapter"])
            if key in seen and seen[key][0] != i:
                raise CompatError(f"--merge: case {key[0]} on {key[1]} is recorded by runs {seen[key][0]} and {i}; "
                                  "shards never share a case")
            seen.setdefault(key, (i, r))
    records = sorted((r for _, r in seen.values()), key=lambda r: (r.get("seq", 0), order.get(r["adapter"], 0)))
    meta = dict(metas[0])
    meta.update({"adapters": adapters, "shard": None,
                 "cases": sum(_num(m.get("cases")) for m in metas),
                 "complete": info.complete,
                 "wall_seconds": max(_num(m.get("wall_seconds")) for m in metas),
                 "merged_from": len(metas), "missing_shards": info.missing_labels()})
    meta["gate"] = merged_verdict(metas, records, info.complete, info.missing_labels(), _count_problems(runs))
    return meta, records


def _count_problems(runs: Sequence[Run]) -> list[str]:
    """A shard whose results file holds other record counts than its run.json says it ran (records cut or
    added after the run) cannot stand for that shard."""
    out = []
    for m, recs in runs:
        said = m.get("cases")
        if not m.get("complete") or not isinstance(said, int) or isinstance(said, bool):
            continue  # an interrupted shard is refused on its own account
        held: dict[Any, int] = {}
        for r in recs:
            held[r.get("adapter")] = held.get(r.get("adapter"), 0) + 1
        for a in m.get("adapters") or []:  # every case has one record per adapter that ran
            if isinstance(a, dict) and a.get("available") and held.get(a.get("name"), 0) != said:
                out.append(f"shard {m.get('shard') or '?'}: its results file holds {held.get(a.get('name'), 0)} "
                           f"record(s) of {a.get('name')}, its run.json says the shard had {said} case(s): records "
                           "were changed after the run; rerun that shard")
    return out


NOTHING_JUDGED = "the run had no cases (an empty shard or case set), so nothing was judged"  # runner.judged_problems


def merged_verdict(metas: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]], complete: bool,
                   missing: Sequence[str], extra: Sequence[str] = ()) -> dict[str, Any]:
    """The gate verdict of the joined run, never one shard's: every shard's problems (an empty shard's
    "nothing judged" aside, when others judged), missing shards, and the joined records' verdicts."""
    from .errors import EXIT_NONCONFORMANT, EXIT_OK
    from .gate import BAD_VERDICTS
    from .runner import gaps_from_records

    problems: list[str] = list(extra)
    warnings: list[str] = []
    # Two problems are about the run as a whole, and a shard sees only its part of it: what an adapter
    # judged nothing of (recomputed below over the joined records), and a baseline entry that waived
    # nothing (XPASS: kept only where no shard's records failed under it, from each shard's counts).
    failed: dict[str, int] = {}
    counted = all(isinstance((m.get("gate") or {}).get("baseline_counts"), dict) for m in metas)
    xpass_lines: dict[str, str] = {}  # entry label -> its XPASS line
    for m in metas:
        g = m.get("gate") or {}
        label = m.get("shard") or "?"
        whole = {x.get("problem") for x in g.get("gaps") or [] if isinstance(x, dict)}
        counts = g.get("baseline_counts") if counted else {}
        for entry, c in (counts or {}).items():
            failed[entry] = failed.get(entry, 0) + int((c or {}).get("failed", 0) if isinstance(c, dict) else 0)
        shard_xpass = {f"XPASS: {e} passes now -- delete this entry from the baseline": e for e in (counts or {})}
        mine = {p: shard_xpass[p] for p in g.get("baseline_problems") or [] if p in shard_xpass}
        xpass_lines.update({e: p for p, e in mine.items()})
        problems += [f"shard {label}: {p}" for p in g.get("problems") or []
                     if not (records and p == NOTHING_JUDGED) and p not in whole and p not in mine]
        warnings += [f"shard {label}: {w}" for w in g.get("warnings") or []]
        if not g:
            problems.append(f"shard {label}: its run.json holds no gate verdict (the run did not finish)")
    problems += [line for entry, line in xpass_lines.items() if failed.get(entry, 0) == 0]
    declared = {str(a["name"]): list((a.get("info") or {}).get("dtypes") or [])
                for a in (metas[0].get("adapters") or []) if a.get("available") and a.get("info")} if metas else {}
    selected = metas[0].get("clauses") if metas and isinstance(metas[0].get("clauses"), list) else None
    problems += [g.problem for g in gaps_from_records(records, declared, selected)] if records else []
    if missing:
        problems.append(f"shard(s) {', '.join(missing)} missing: the merged run is incomplete")
    if not records:
        problems.append(NOTHING_JUDGED)
    if not complete and not missing:
        problems.append("a shard's run did not complete (interrupted): continue it with --resume, then merge again")
    bad = any(r.get("verdict") in BAD_VERDICTS for r in records)
    code = EXIT_NONCONFORMANT if bad or problems else EXIT_OK
    return {"exit_code": code, "problems": problems, "warnings": warnings}


def duplicate_adapter_names(names: Sequence[str], specs: Sequence[str] | None = None) -> str | None:
    """A one-line error when two adapters of one run share a name (records are keyed by name), else None."""
    where: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        where.setdefault(n, []).append(i)
    dups = {n: idx for n, idx in where.items() if len(idx) > 1}
    if not dups:
        return None
    name, idx = next(iter(dups.items()))
    by = f" (specs {', '.join(repr(specs[i]) for i in idx)})" if specs is not None and len(specs) == len(names) else ""
    more = f"; also {', '.join(repr(n) for n in list(dups)[1:])}" if len(dups) > 1 else ""
    return (f"adapter name {name!r} is used by {len(idx)} adapters{by}{more}; records are keyed by adapter name, "
            "so names must be unique in a run (give each its own name)")
