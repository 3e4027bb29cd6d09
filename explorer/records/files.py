"""Record files: one JSON file per finished cell, written atomically; per-sample results beside it.

Layout of a results folder:
    records/<cell_id>.json      one per (model, quantization, task) cell; status ok | failed
    samples/<cell_id>.jsonl     per-document results of an ok cell (written before its record)
    logs/<job>.log              stdout/stderr of each worker process
Only the standard library here: the runner imports this on bare GPU nodes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def cell_id(key: dict[str, Any]) -> str:
    """Content hash of everything that changes a cell's result (canonical JSON, sha256, 16 hex)."""
    canonical = json.dumps({"schema": SCHEMA_VERSION, **key}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same folder + fsync + rename: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_path(out_dir: Path, cid: str) -> Path:
    return Path(out_dir) / "records" / f"{cid}.json"


def samples_path(out_dir: Path, cid: str) -> Path:
    return Path(out_dir) / "samples" / f"{cid}.jsonl"


def write_samples(out_dir: Path, cid: str, rows: Iterable[dict[str, Any]]) -> Path:
    path = samples_path(out_dir, cid)
    atomic_write_text(path, "".join(json.dumps(r, default=_json_default) + "\n" for r in rows))
    return path


def write_record(out_dir: Path, record: dict[str, Any]) -> Path:
    path = record_path(out_dir, record["cell_id"])
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True, default=_json_default))
    return path


def read_records(out_dir: Path) -> list[dict[str, Any]]:
    """All finished records (temp files and unreadable files are skipped, never half-read)."""
    folder = Path(out_dir) / "records"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def finished_ids(out_dir: Path, include_failed: bool = False) -> set[str]:
    """Cell ids with a record (status ok, or any status when include_failed)."""
    return {r["cell_id"] for r in read_records(out_dir) if include_failed or r.get("status") == "ok"}


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
