"""Write docs/<task>.jsonl (each document's question, choices and gold answer as text: explorer/records/docs.py)
for a results folder whose cells ran before the worker wrote them, such as the shipped data/demo_cpu.

The tasks load as a sweep loads them (explorer/tasks `prepare_tasks` on the benchmark data dir, then lm-eval's
TaskManager.load as `simple_evaluate` calls it); the documents come from lm-eval's own task objects (doc_iterator,
doc_to_text / doc_to_choice / doc_to_target). Nothing is written unless every task passes: the same task source
kind and data fingerprint as the records, the same lm-eval version, and for every sample row of every ok cell
the document at its doc_id has its doc_hash (lm-eval's hash) and its target. Run from the repository root:
    .venv/bin/python scripts/backfill_docs.py [RESULTS_DIR (data/demo_cpu)] [--data-dir DIR (../shared/benchmarks)]
Exit 0 when written, 1 with one `refused: ...` line per problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from explorer.records.docs import doc_row, write_docs
from explorer.records.files import docs_path, read_records
from explorer.records.store import load_samples


def lm_eval_doc_hash(doc: Any) -> str:
    """lm-eval's doc_hash of a document (lm_eval/evaluator.py: the logged samples' `doc_hash`)."""
    from lm_eval.utils import handle_non_serializable, hash_string

    return hash_string(json.dumps(doc, indent=2, default=handle_non_serializable, ensure_ascii=False))


def source_problems(task: str, records: list[dict[str, Any]], prepared: Any, lm_eval_version: str) -> list[str]:
    """Why the prepared task may hold other documents or prompts than the records' cells used ([] when none)."""
    kind = prepared.sources[task].split(":", 1)[0]
    fingerprint = prepared.fingerprints[task]
    problems = []
    for rec in records:
        cid = rec["cell_id"]
        if (rec.get("task_source") or "").split(":", 1)[0] != kind:
            problems.append(f"{task}: cell {cid} task_source {rec.get('task_source')!r}, the data here is {kind!r}")
        elif (rec.get("key") or {}).get("task_fingerprint", "") != fingerprint:
            problems.append(
                f"{task}: cell {cid} task fingerprint {str((rec.get('key') or {}).get('task_fingerprint'))[:16]}, "
                f"the data dir's is {fingerprint[:16]}: other documents"
            )
        elif (rec.get("versions") or {}).get("lm_eval") != lm_eval_version:
            problems.append(
                f"{task}: cell {cid} ran lm-eval {rec['versions'].get('lm_eval')}, this is {lm_eval_version}"
            )
    return problems


def task_rows(task_obj: Any, task: str, records: list[dict[str, Any]], out_dir: Path) -> tuple[list, list[str]]:
    """(docs rows of every document the cells' samples name, problems): each sample row's doc_id must hold a
    document with the row's doc_hash and target."""
    limits = [rec.get("limit") for rec in records]
    limit = None if None in limits else max(limits)
    docs = dict(task_obj.doc_iterator(limit=limit))  # lm-eval's own iterator: the documents a cell evaluates
    samples = load_samples(out_dir, [rec["cell_id"] for rec in records])
    rows: dict[int, dict[str, Any]] = {}
    problems: list[str] = []
    for s in samples.iter_rows(named=True):
        where = f"{task}: cell {s['cell_id']} doc_id {s['doc_id']}"
        doc = docs.get(s["doc_id"])
        if doc is None:
            problems.append(f"{where}: no such document in the first {limit} of the task")
            continue
        doc_hash = lm_eval_doc_hash(doc)
        if doc_hash != s["doc_hash"]:
            problems.append(f"{where}: doc_hash {str(s['doc_hash'])[:12]}, the document here has {doc_hash[:12]}")
        elif str(task_obj.doc_to_target(doc)) != s["target"]:
            problems.append(f"{where}: target {s['target']!r}, lm-eval gives {task_obj.doc_to_target(doc)!r}")
        elif s["doc_id"] not in rows:
            rows[s["doc_id"]] = doc_row(task_obj, task, s["doc_id"], doc_hash, doc)
    if samples.is_empty():
        problems.append(f"{task}: no sample rows in the ok cells")
    return list(rows.values()), problems


def backfill(out_dir: Path, data_dir: Path | None) -> tuple[dict[str, int], list[str]]:
    """({task: documents written}, problems); writes nothing when there is a problem."""
    from explorer.paths import sub_cache
    from explorer.tasks.offline import prepare_tasks, task_manager

    by_task: dict[str, list[dict[str, Any]]] = {}
    for rec in read_records(out_dir):
        if rec["status"] == "ok":
            by_task.setdefault(rec["task"], []).append(rec)
    if not by_task:
        return {}, [f"{out_dir}: no ok records"]
    prepared = prepare_tasks(sorted(by_task), data_dir, sub_cache("tasks"))
    if prepared.all_local:  # as the sweep runs local tasks: nothing comes from the hub
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    version = metadata.version("lm_eval")
    problems = [p for task, recs in sorted(by_task.items()) for p in source_problems(task, recs, prepared, version)]
    if problems:
        return {}, problems
    tm = task_manager(prepared.include_path)
    rows, counts = [], {}
    for task, recs in sorted(by_task.items()):
        name = prepared.lm_eval_names[task]
        task_obj = tm.load([name])["tasks"][name]  # as simple_evaluate loads it
        found, bad = task_rows(task_obj, task, recs, out_dir)
        rows, problems, counts[task] = rows + found, problems + bad, len(found)
    if problems:
        return {}, problems
    write_docs(out_dir, rows)
    return counts, []


def main(argv: list[str] | None = None) -> int:
    from explorer.tasks.offline import find_data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="?", default="data/demo_cpu", help="results folder (default data/demo_cpu)")
    parser.add_argument("--data-dir", help="benchmark data dir (default: EXPLORER_DATA_DIR, else ../shared/benchmarks)")
    args = parser.parse_args(argv)
    out_dir = Path(args.results)
    counts, problems = backfill(out_dir, find_data_dir(args.data_dir))
    for line in problems[:20]:
        print(f"refused: {line}", file=sys.stderr)
    if len(problems) > 20:
        print(f"refused: ... and {len(problems) - 20} more", file=sys.stderr)
    for task, n in counts.items():
        print(f"{docs_path(out_dir, task)}: {n} documents, every sample row's doc_hash and target verified")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
