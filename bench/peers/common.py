"""Shared by the peer benchmarks: reading the workload, de-duplicating it,
finding the entities the queries ask about, and timing.

The workload is what `lineage-bench workload --events N` writes: one
lineage.v1.Event per line in the proto3 JSON mapping (snake_case fields,
exactly one payload key). The peers load it in file order (the publish order,
with its duplicates and local reordering), skipping repeated event ids as
lineaged does.

The facts (which dataset version is hot, which is cold, which model version
and which run are asked about) are recomputed here from the events, by the
same rules as `WorkloadFacts` in crates/lineage-bench/src/workload.rs:

- hot dataset version: the most used (workspace, dataset, version), ties to
  the last in (workspace index, dataset, version) order (Rust's
  `Iterator::max_by_key` keeps the last maximum);
- cold dataset version: the first in that order used by exactly one run;
- model version: the first registration generated (smallest event id);
- run: the first training run generated (smallest event id, not a sweep).

"Used" counts distinct runs whose RunInputsDeclared is in the file; the Rust
generator counts before de-duplicating a run's inputs and includes events it
generated past the requested size, so on a tie at the top the two could pick
different versions (the script prints what it picked).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

# Workspace order of workload.rs (its BTreeMap keys use these indexes).
WORKSPACES = ["credit-lender", "agri-yield", "insurer-fraud", "retail-demand"]

PAYLOAD_KEYS = (
    "experiment_created",
    "run_started",
    "run_finished",
    "params_logged",
    "metrics_logged",
    "tags_set",
    "dataset_version_registered",
    "run_inputs_declared",
    "artifact_logged",
    "model_registered",
    "model_stage_changed",
    "model_deployed",
    "entity_flagged",
)


def payload_of(event: dict) -> tuple[str, dict]:
    for key in PAYLOAD_KEYS:
        if key in event:
            return key, event[key]
    return "unknown", {}


def read_events(path: str, limit: int | None = None) -> list[dict]:
    """The first `limit` lines (all when None), parsed, duplicates kept."""
    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if limit is not None and len(events) >= limit:
                break
            line = line.strip()
            if line:
                events.append(json.loads(line))
    return events


def with_id_prefix(event: dict, prefix: str) -> dict:
    """The event as `WorkloadSpec { id_prefix: prefix, .. }` would have
    generated it: workload.rs prefixes event ids, run and sweep ids, and
    model names, and nothing else (not datasets, experiments or endpoints),
    and the prefix does not change any random draw. `lineage-bench
    workload` has no prefix flag, so the peers apply it here."""
    out = dict(event)
    out["event_id"] = prefix + event["event_id"]
    kind, p = payload_of(event)
    p = json.loads(json.dumps(p))
    for key in ("run_id", "parent_run_id", "source_run_id", "produced_by_run_id"):
        if p.get(key):
            p[key] = prefix + p[key]
    if kind == "run_started" and p.get("name"):
        p["name"] = prefix + p["name"]
    if kind in ("model_registered", "model_stage_changed", "model_deployed") and p.get("model"):
        p["model"] = prefix + p["model"]
    for ref in p.get("artifacts", []) if kind == "run_inputs_declared" else []:
        ref["run_id"] = prefix + ref["run_id"]
    for ref in p.get("models", []) if kind == "run_inputs_declared" else []:
        ref["model"] = prefix + ref["model"]
    if kind == "artifact_logged" and p.get("uri", "").startswith("s3://artifacts/"):
        p["uri"] = "s3://artifacts/" + prefix + p["uri"][len("s3://artifacts/"):]
    out[kind] = p
    return out


def unique(events: list[dict]) -> Iterator[dict]:
    """Events in file order, each (workspace, event_id) once: the first stands."""
    seen: set[tuple[str, str]] = set()
    for event in events:
        key = (event.get("workspace", ""), event["event_id"])
        if key in seen:
            continue
        seen.add(key)
        yield event


def event_time(event: dict) -> tuple[str, str]:
    """The order scalar state is folded by: event time, ties by event id.
    `occurred_at` is RFC 3339 with a fixed offset in this workload, so the
    string orders like the time."""
    return (event.get("occurred_at", ""), event["event_id"])


def millis(ts: str) -> int:
    """RFC 3339 (as the proto3 JSON mapping writes a Timestamp) to epoch ms."""
    return int(dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def _ws_index(ws: str) -> int:
    return WORKSPACES.index(ws) if ws in WORKSPACES else len(WORKSPACES)


def _num(s: str) -> tuple[int, str]:
    return (int(s), s) if s.isdigit() else (1 << 62, s)


@dataclass
class Facts:
    hot_dataset: tuple[str, str, str] | None = None
    hot_uses: int = 0
    cold_dataset: tuple[str, str, str] | None = None
    model: tuple[str, str, str] | None = None
    run: tuple[str, str] | None = None
    unique_events: int = 0
    events: int = 0
    uses: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "hot_dataset": "/".join(self.hot_dataset) if self.hot_dataset else None,
            "hot_dataset_runs": self.hot_uses,
            "cold_dataset": "/".join(self.cold_dataset) if self.cold_dataset else None,
            "model": "/".join(self.model) if self.model else None,
            "run": "/".join(self.run) if self.run else None,
            "events": self.events,
            "unique_events": self.unique_events,
        }


def facts(events: list[dict]) -> Facts:
    out = Facts(events=len(events))
    runs_of: dict[tuple[str, str, str], set[str]] = {}
    first_model = None
    first_run = None
    for event in unique(events):
        out.unique_events += 1
        ws = event["workspace"]
        kind, p = payload_of(event)
        if kind == "run_inputs_declared":
            for ref in p.get("datasets", []):
                runs_of.setdefault((ws, ref["dataset"], ref["version"]), set()).add(p["run_id"])
        elif kind == "model_registered":
            if first_model is None or event["event_id"] < first_model[0]:
                first_model = (event["event_id"], (ws, p["model"], p["version"]))
        elif kind == "run_started" and not p.get("run_id", "").startswith("sweep-"):
            if first_run is None or event["event_id"] < first_run[0]:
                first_run = (event["event_id"], (ws, p["run_id"]))
    order = sorted(runs_of, key=lambda k: (_ws_index(k[0]), k[1], _num(k[2])))
    best = -1
    for key in order:
        uses = len(runs_of[key])
        if uses >= best:  # `>=`: the last maximum, as max_by_key
            best, out.hot_dataset = uses, key
        if uses == 1 and out.cold_dataset is None:
            out.cold_dataset = key
    out.hot_uses = max(best, 0)
    out.model = first_model[1] if first_model else None
    out.run = first_run[1] if first_run else None
    out.uses = {k: len(v) for k, v in runs_of.items()}
    return out


def load_parts(parts: list[tuple[str, list[dict]]], apply: Callable[[dict], None],
               tag: str, max_load_seconds: float | None = None,
               finish: Callable[[], None] | None = None) -> list[dict]:
    """Feeds each part's events to `apply` in file order, skipping repeated
    (workspace, event_id) across all parts, and times each part. After
    `max_load_seconds` (checked every 1000 events) the load stops: the rest
    of that part and the later parts are not loaded, and the stats say so.
    `finish` (applying what a loader still holds) is timed with the last
    part loaded."""
    seen: set[tuple[str, str]] = set()
    stats = []
    began = time.perf_counter()
    stopped = False
    for name, events in parts:
        part = {"part": name, "events_in_file": len(events), "events_loaded": 0, "unique": 0,
                "duplicates_skipped": 0, "seconds": 0.0, "capped": stopped}
        stats.append(part)
        if stopped:
            continue
        started = time.perf_counter()
        for i, event in enumerate(events):
            key = (event["workspace"], event["event_id"])
            if key in seen:
                part["duplicates_skipped"] += 1
            else:
                seen.add(key)
                apply(event)
                part["unique"] += 1
            part["events_loaded"] = i + 1
            if (i + 1) % 1000 == 0:
                el = time.perf_counter() - started
                if (i + 1) % 5000 == 0:
                    log(f"[{tag}] {name}: loaded {i + 1}/{len(events)} in {el:.1f} s "
                        f"({(i + 1) / el:.0f} events/s)")
                if max_load_seconds is not None and time.perf_counter() - began > max_load_seconds:
                    log(f"[{tag}] {name}: stopping the load after {i + 1} events "
                        f"(--max-load-seconds {max_load_seconds:.0f} reached)")
                    part["capped"] = stopped = True
                    break
        if finish is not None and (stopped or name == parts[-1][0]):
            finish()
        part["seconds"] = time.perf_counter() - started
        part["events_per_s"] = part["events_loaded"] / part["seconds"] if part["seconds"] else None
        log(f"[{tag}] {name}: loaded {part['events_loaded']} events ({part['unique']} unique, "
            f"{part['duplicates_skipped']} duplicates skipped) in {part['seconds']:.1f} s"
            + (f" = {part['events_per_s']:.0f} events/s" if part["events_per_s"] else ""))
    return stats


def loaded_facts(parts: list[tuple[str, list[dict]]], stats: list[dict]) -> tuple[Facts, dict]:
    """The facts of the first part as loaded (what scenario 3 asks about),
    and the runs per dataset version over everything loaded (what a correct
    answer returns)."""
    loaded = [events[:s["events_loaded"]] for (_, events), s in zip(parts, stats)]
    first = facts(loaded[0])
    everything = facts([e for part in loaded for e in part]) if len(loaded) > 1 else first
    return first, everything.uses


def load_summary(stats: list[dict]) -> dict:
    first = stats[0]
    return {
        "events_loaded": first["events_loaded"],
        "capped_subset": any(s["capped"] for s in stats),
        "unique_events": first["unique"],
        "duplicates_skipped": first["duplicates_skipped"],
        "load_seconds": first["seconds"],
        "load_events_per_s": first.get("events_per_s"),
        "load_parts": stats,
    }


def second_backlog(path: str | None) -> list[dict]:
    """The second backlog of scenario 5 (`workload --events N/2 --seed 7`),
    with the `b-` prefix scenarios.rs gives it."""
    if not path:
        return []
    return [with_id_prefix(e, "b-") for e in read_events(path)]


@dataclass
class Timing:
    samples_ns: list[int]
    result: Any

    def quantile_us(self, q: float) -> float:
        """Same rule as crates/lineage-bench/src/measure.rs."""
        s = sorted(self.samples_ns)
        if not s:
            return float("nan")
        return s[round((len(s) - 1) * q)] / 1000.0


def repeat(operation: Callable[[], Any], budget_s: float = 2.0, min_runs: int = 20,
           max_runs: int = 2000, warmup: int = 5) -> Timing:
    """Runs `operation` for about `budget_s` seconds: at least `min_runs`
    and at most `max_runs` timed repetitions, after `warmup` untimed ones.
    Every loop is bounded by `max_runs`."""
    result = None
    for _ in range(warmup):
        result = operation()
    samples: list[int] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() < deadline):
        started = time.perf_counter_ns()
        result = operation()
        samples.append(time.perf_counter_ns() - started)
    return Timing(samples, result)


def row(system: str, figure: str, timing: Timing | None, entities: Any, note: str = "",
        **extra) -> dict:
    out = {
        "system": system,
        "figure": figure,
        "p50_us": timing.quantile_us(0.5) if timing else None,
        "p99_us": timing.quantile_us(0.99) if timing else None,
        "reps": len(timing.samples_ns) if timing else 0,
        "entities": entities,
        "note": note,
    }
    out.update(extra)
    return out


def fmt_us(v: float | None) -> str:
    if v is None or v != v:
        return "n/a"
    if v >= 10_000:
        return f"{v / 1000:.1f} ms"
    if v >= 100:
        return f"{v:.0f} µs"
    if v >= 1:
        return f"{v:.2f} µs"
    return f"{v:.3f} µs"


def print_rows(rows: list[dict], out=sys.stdout) -> None:
    print("| system | figure | p50 | p99 | entities |", file=out)
    print("|---|---|---|---|---|", file=out)
    for r in rows:
        print(f"| {r['system']} | {r['figure']} | {fmt_us(r['p50_us'])} | "
              f"{fmt_us(r['p99_us'])} | {r['entities']} |", file=out)


def write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
