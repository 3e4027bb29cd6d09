"""Record files: one JSON file per finished cell, written atomically; per-sample results beside it.

Layout of a results folder:
    records/<cell_id>.json      one per (model, quantization, task) cell; status ok | failed
    samples/<cell_id>.jsonl     per-document results of an ok cell (written before its record, which stores
                                their line count and sha256: explorer/records/integrity.py checks both)
    docs/<task>.jsonl           the text of the task's documents, shared by its cells (explorer/records/docs.py)
    logs/<job>.log              stdout/stderr of each worker process
    damaged/<timestamp>/        files `explorer check --repair` moved aside
Only the standard library here: the runner imports this on bare GPU nodes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def cell_id(key: dict[str, Any]) -> str:
    """Content hash of everything that changes a cell's result (canonical JSON, sha256, 16 hex)."""
    canonical = json.dumps({"schema": SCHEMA_VERSION, **key}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same folder + fsync + rename: readers never see a partial file."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`atomic_write_text` for bytes: exactly these bytes land on disk (what a checksum is taken of)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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


def docs_path(out_dir: str | Path, task: str) -> Path:
    """`docs/<task>.jsonl` ('/' in a task name becomes '_')."""
    return Path(out_dir) / "docs" / f"{task.replace('/', '_')}.jsonl"


@dataclass(frozen=True)
class SamplesFile:
    """A written samples file: its record stores `lines` and `sha256` (of the exact bytes written)."""

    path: Path
    lines: int
    sha256: str


def write_samples(out_dir: Path, cid: str, rows: Iterable[dict[str, Any]]) -> SamplesFile:
    """One JSON line per row, atomically; NaN/inf are refused (JSON has none), write them as null."""
    lines = [json.dumps(r, default=_json_default, allow_nan=False) + "\n" for r in rows]
    data = "".join(lines).encode("utf-8")
    path = samples_path(out_dir, cid)
    atomic_write_bytes(path, data)
    return SamplesFile(path, len(lines), hashlib.sha256(data).hexdigest())


def write_record(out_dir: Path, record: Any) -> Path:
    """The one writer of eval records: an `EvalRecord` (a dict is checked into one first: an unknown field or
    a newer schema is a RecordSchemaError) -> records/<cell_id>.json, atomically."""
    from explorer.records.schema import EvalRecord

    rec = record if isinstance(record, EvalRecord) else EvalRecord.from_dict(record)
    path = record_path(out_dir, rec.cell_id)
    atomic_write_text(path, json.dumps(rec.to_dict(), indent=1, sort_keys=True, default=_json_default))
    return path


def write_profile(out_dir: Path, record: Any) -> Path:
    """The one writer of serving profiles: a `ProfileRecord` (or a dict checked into one) ->
    profiles/<profile_id>.json, atomically (also each partial ladder, status 'partial')."""
    from explorer.records.schema import ProfileRecord

    rec = record if isinstance(record, ProfileRecord) else ProfileRecord.from_dict(record)
    path = Path(out_dir) / "profiles" / f"{rec.profile_id}.json"
    atomic_write_text(path, json.dumps(rec.to_dict(), indent=1, default=_json_default))
    return path


def write_ceilings(out_dir: Path, record: Any, name: str | None = None) -> Path:
    """The one writer of device ceilings: a `CeilingsRecord` (or a dict checked into one) ->
    ceilings/<name or dtype>.json."""
    from explorer.records.schema import CeilingsRecord

    rec = record if isinstance(record, CeilingsRecord) else CeilingsRecord.from_dict(record)
    path = Path(out_dir) / "ceilings" / f"{name or rec.dtype}.json"
    atomic_write_text(path, json.dumps(rec.to_dict(), indent=1, default=_json_default))
    return path


def read_records(out_dir: Path) -> list[dict[str, Any]]:
    """The good records of a folder (explorer/records/integrity.py: a damaged record, or an ok one whose samples
    do not match it, is left out, so a sweep re-runs its cell; `integrity.check_folder` also says which and why).
    Temp files of writers are never read."""
    from explorer.records.integrity import check_folder

    return check_folder(Path(out_dir))[0]


def finished_ids(out_dir: Path, include_failed: bool = False) -> set[str]:
    """Cell ids with a record (status ok, or any status when include_failed)."""
    return {r["cell_id"] for r in read_records(out_dir) if include_failed or r.get("status") == "ok"}


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
