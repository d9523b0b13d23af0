#!/usr/bin/env python3
"""Merges the results of one `run.sh`: lineaged's own figures (the JSON of
`lineage-bench run --json`, optional), MLMD's and MLflow's, into one markdown
table and one JSON file.

lineaged's figures are scenario 3 of crates/lineage-bench/src/scenarios.rs:
each query in process against the replayed graph, as the domain answer (p50
and p99) and with the protobuf answer the server sends, as the bytes it
writes (p50 and p99), in the view a client would ask for: full
for GetEntity, basic for lists and subgraphs (the server's defaults). Older
results, which had only the p50 of the built answer, are still read.
Its load figure is scenario 1 (durable ingest from NATS: stored, applied,
acknowledged) and scenario 2 (replay of the log into the graph).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SYSTEM = "lineage (in process)"


def lineage_rows(report: dict) -> tuple[list[dict], list[dict]]:
    """Scenario-3 rows as (system, figure, p50, p99, entities), and load rows.
    Tolerates changes in scenarios.rs: what it cannot parse it leaves out."""
    rows: dict[str, dict] = {}
    loads = []
    for r in report.get("rows", []):
        scenario, figure = r.get("scenario", ""), r.get("figure", "")
        if scenario.startswith("3"):
            m = re.match(r"^(.*) p99 \((\d+) entities\)$", figure)
            if m:
                rows.setdefault(m.group(1), {})["p99"] = r["value"]
                rows[m.group(1)]["entities"] = int(m.group(2))
                continue
            # "written as sent" since answers are written from the graph;
            # "built and encoded" before.
            m = re.match(r"^(.*) p(50|99), (basic|full) answer "
                         r"(?:written as sent|built and encoded)$", figure)
            if m:
                name, quantile, view = m.group(1), m.group(2), m.group(3)
                if view == ("full" if name.startswith("GetEntity") else "basic"):
                    entry = rows.setdefault(name, {})
                    entry[f"p{quantile}_proto"] = r["value"]
                    entry["view"] = view
                    if quantile == "50":
                        entry["p50"] = r.get("baseline")
                continue
            # Results written before the encoded rows existed.
            m = re.match(r"^(.*) p50, with protobuf answer$", figure)
            if m:
                rows.setdefault(m.group(1), {})["p50_proto"] = r["value"]
                rows[m.group(1)]["p50"] = r.get("baseline")
        elif scenario.startswith("1") or scenario.startswith("2"):
            if r.get("unit") == "events/s":
                loads.append({"system": "lineage", "figure": f"{scenario}: {figure}",
                              "events_per_s": r["value"], "events": report.get("events")})
        elif scenario.startswith("4") and figure in ("mixed p50", "mixed p99"):
            rows.setdefault("gRPC mixed queries (4 clients)", {})[figure.split()[-1]] = r["value"]
    out = []
    for figure, v in rows.items():
        out.append({"system": SYSTEM if not figure.startswith("gRPC") else "lineage (gRPC, loopback)",
                    "figure": figure, "p50_us": v.get("p50"), "p99_us": v.get("p99"),
                    "entities": v.get("entities", ""), "note": "domain answer"})
        if "p50_proto" in v:
            view = v.get("view")
            out.append({"system": SYSTEM,
                        "figure": f"{figure}, with protobuf answer"
                                  + (f" ({view} view, as sent)" if view else ""),
                        "p50_us": v["p50_proto"], "p99_us": v.get("p99_proto"),
                        "entities": v.get("entities", ""),
                        "note": "written as sent" if view else "p50 only (built, not encoded)"})
    return out, loads


# question, lineage figure (prefix), MLMD figure (prefix), MLflow figure (prefix)
SIDE_BY_SIDE = [
    ("GetEntity (run)", "GetEntity (run)",
     "GetEntity (run): get_execution_by_type_and_name", "GetEntity (run): get_run"),
    ("RunsUsingDataset, hot, page of 100", "RunsUsingDataset (hot, page of 100)",
     "RunsUsingDataset (hot, page of 100): get_executions filter_query",
     "RunsUsingDataset (hot, page of 100): search_runs"),
    ("RunsUsingDataset, cold", "RunsUsingDataset (cold, page of 100)",
     "RunsUsingDataset (cold, page of 100): events", "RunsUsingDataset (cold, page of 100): search_runs"),
    ("Provenance of a model version, depth 4", "Provenance of a model version (depth 4)",
     "Provenance of a model version (max_num_hops 4", None),
    ("Provenance of a model version, full", "Provenance of a model version (full)",
     "Provenance of a model version (full", None),
    ("TraceModel", "TraceModel", "Provenance of a model version (full", "TraceModel, 1 level"),
    ("Impact of the hot dataset version, depth 4", "Impact of a popular dataset version (depth 4",
     "Impact of the hot dataset version (max_num_hops 4", "Impact, 2 levels"),
    ("Impact of the hot dataset version, full", "Impact of a popular dataset version (full",
     "Impact of the hot dataset version (full", None),
]


def side_by_side(rows: list[dict]) -> list[str]:
    """One line per question: lineaged (domain p50 / p99, then p50 / p99 with
    the protobuf answer), MLMD and MLflow (p50 / p99), entities in brackets."""
    def find(system_prefix: str, figure_prefix: str | None, exclude: str = "\0") -> dict | None:
        if figure_prefix is None:
            return None
        for r in rows:
            if (r["system"].startswith(system_prefix) and r["figure"].startswith(figure_prefix)
                    and exclude not in r["figure"]):
                return r
        return None

    def cell(r: dict | None, missing: str = "no equivalent") -> str:
        if r is None or r.get("p50_us") is None:
            return missing
        return f"{common.fmt_us(r['p50_us'])} / {common.fmt_us(r['p99_us'])} [{r['entities']}]"

    def proto_cell(r: dict | None) -> str:
        if r is None:
            return "n/a"
        p99 = common.fmt_us(r["p99_us"]) if r.get("p99_us") is not None else "n/a"
        return f"{common.fmt_us(r['p50_us'])} / {p99}"

    def partial(figure: str | None) -> str:
        if figure and "1 level" in figure:
            return ": 1 level only"
        if figure and "2 levels" in figure:
            return ": 2 levels only (runs, model versions)"
        return ""

    out = ["| question | lineage in process: p50 / p99 [entities] | lineage with protobuf answer: p50 / p99 "
           "| MLMD: p50 / p99 [entities] | MLflow: p50 / p99 [entities] |",
           "|---|---|---|---|---|"]
    for question, ours, mlmd, mlf in SIDE_BY_SIDE:
        domain = find("lineage (in process)", ours, exclude="with protobuf")
        proto = next((r for r in rows if r["system"].startswith("lineage (in process)")
                      and r["figure"].startswith(ours) and "with protobuf" in r["figure"]), None)
        out.append(f"| {question} | {cell(domain, 'n/a')} | "
                   f"{proto_cell(proto)} | "
                   f"{cell(find('MLMD', mlmd))} | {cell(find('MLflow', mlf))}{partial(mlf)} |")
    return out


def print_tables(events: int, rows: list[dict], loads: list[dict], notes: list[str]) -> None:
    print(f"\n## Peers at {events} events\n")
    common.print_rows(rows)
    print("\nSide by side:\n")
    print("\n".join(side_by_side(rows)))
    print("\n| system | load | events | events/s |\n|---|---|---|---|")
    for load_row in loads:
        capped = " (capped subset)" if load_row.get("capped_subset") else ""
        print(f"| {load_row['system']} | {load_row['figure']}{capped} | {load_row['events']} | "
              f"{load_row['events_per_s']:.0f} |")
    print()
    for note in notes:
        print(f"- {note}")


def merge(events: int, lineage: dict | None, mlmd: dict | None,
          mlf: dict | None) -> tuple[list[dict], list[dict], list[str]]:
    """The rows, loads and notes of one run's raw figures."""
    rows, loads, notes = [], [], []
    if lineage:
        lrows, lloads = lineage_rows(lineage)
        rows += lrows
        loads += lloads
        notes += [f"lineage-bench: {n}" for n in lineage.get("notes", [])]
        if not any(p and p.get("second_backlog") for p in (mlmd, mlf)):
            notes.append("lineage's scenario-3 graph also holds scenario 5's second backlog "
                         f"({events // 2} events, seed 7, same dataset names) and the peers' "
                         "graphs do not: entity counts differ (SECOND_BACKLOG=1 loads it into the peers)")
    for peer in (mlmd, mlf):
        if not peer:
            continue
        rows += peer["rows"]
        loads.append({"system": peer["system"], "figure": "load (client API, one transaction per call)",
                      "events_per_s": peer["load_events_per_s"], "events": peer["events_loaded"],
                      "seconds": peer["load_seconds"], "capped_subset": peer["capped_subset"]})
        if peer["capped_subset"]:
            notes.append(f"{peer['system']}: CAPPED: loaded only the first {peer['events_loaded']} of "
                         f"{events} events; its queries ran on that subset "
                         f"(facts {json.dumps(peer['facts'])})")
        notes.append(f"{peer['system']}: load average {peer['loadavg_start'][0]:.1f} at the start, "
                     f"{peer['loadavg_end'][0]:.1f} at the end, on {peer['cpus']} CPUs")
        for part in peer.get("load_parts", [])[1:]:
            if part["events_loaded"]:
                notes.append(f"{peer['system']}: then loaded the {part['part']}: {part['events_loaded']} "
                             f"events in {part['seconds']:.1f} s" + (" (capped)" if part["capped"] else ""))
            else:
                notes.append(f"{peer['system']}: the {part['part']} was NOT loaded (load capped)")
        notes.append(f"{peer['system']}: hot {peer['facts']['hot_dataset']} "
                     f"({peer['facts']['hot_dataset_runs']} runs), cold {peer['facts']['cold_dataset']}, "
                     f"model {peer['facts']['model']}, run {peer['facts']['run']}")

    return rows, loads, notes


def write_results(out: str, events: int, rows: list[dict], loads: list[dict], notes: list[str],
                  lineage: dict | None, mlmd: dict | None, mlf: dict | None) -> None:
    common.write_json(out, {
        "events": events,
        "rows": rows,
        "loads": loads,
        "notes": notes,
        "side_by_side": side_by_side(rows),
        "lineage": lineage,
        "mlmd": mlmd,
        "mlflow": mlf,
    })


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int)
    ap.add_argument("--lineage")
    ap.add_argument("--mlmd")
    ap.add_argument("--mlflow")
    ap.add_argument("--out")
    ap.add_argument("--from-results", help="re-print the tables of a results-<N>.json")
    args = ap.parse_args()
    if args.from_results:
        with open(args.from_results, encoding="utf-8") as f:
            saved = json.load(f)
        events = saved["events"]
        if any(saved.get(k) for k in ("lineage", "mlmd", "mlflow")):
            # Merged again from the raw figures, so that a change here
            # (such as which rows of lineaged's report are used) applies.
            rows, loads, notes = merge(events, saved.get("lineage"), saved.get("mlmd"),
                                       saved.get("mlflow"))
        else:
            rows, loads, notes = saved["rows"], saved["loads"], saved["notes"]
        print_tables(events, rows, loads, notes)
        if args.out:
            write_results(args.out, events, rows, loads, notes, saved.get("lineage"),
                          saved.get("mlmd"), saved.get("mlflow"))
        return 0
    if args.events is None or not args.out:
        ap.error("--events and --out are required (unless --from-results)")

    def load(path):
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        return None

    lineage, mlmd, mlf = load(args.lineage), load(args.mlmd), load(args.mlflow)
    rows, loads, notes = merge(args.events, lineage, mlmd, mlf)
    print_tables(args.events, rows, loads, notes)
    write_results(args.out, args.events, rows, loads, notes, lineage, mlmd, mlf)
    print(f"\nJSON written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
