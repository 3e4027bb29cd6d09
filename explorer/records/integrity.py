"""One integrity check for every result file: readers use only what passes it, `explorer check` lists the rest.

A record `records/<cell_id>.json` is good when:
- it is UTF-8 text that parses as a JSON object;
- it has `cell_id` (equal to its file name), `status` (ok | failed), `model`, `quant`, `task` (strings); a failed
  record has its `error` (string); an ok record has `metrics` (a non-empty list of {metric: str, value: number
  or null, stderr: number or null}) and `n_docs` (an integer >= 0);
- every other field the evals table reads (`RECORD_FIELDS`, kept equal to `store.EVAL_SCHEMA` by a test) has
  its type or is null;
- ok: its samples were written (an old record with `samples_error` set was marked ok although they were not).

The samples `samples/<cell_id>.jsonl` of an ok record:
- records written since `samples_lines` / `samples_sha256` exist: the file must exist, have exactly
  `samples_lines` lines, every line a JSON object of the sample schema (`SAMPLE_FIELDS`; its `cell_id` the
  record's), no NaN/Infinity, and the sha256 of its bytes must be the record's;
- older records (no checksum): the file, when present, must have n_docs x (number of distinct `filter` values in
  it, at least 1) lines, each valid as above. A file that lost exactly the lines of whole filters, or a line
  changed into another valid one, cannot be told from a good one there. An old record with no samples file is
  accepted (no per-document results): hand-made folders and the shipped cost folder data/random_cpu, whose
  samples are not shipped, are such.

A profile `profiles/<profile_id>.json` is good when it parses as a JSON object with `profile_id` (its file name),
`model`, `quant` (strings), `status` (ok | failed | partial: a profile in progress or killed keeps its rows so far)
and `rows` a list of objects with an integer `batch_size`.

`repair` moves each damaged file (a record with its samples) into `damaged/<UTC timestamp>/`, keeping the
sub-folder, so the next sweep re-runs those cells. Only the standard library: the runner imports this.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.hints import did_you_mean
from explorer.records import files
from explorer.records.schema import EvalRecord, ProfileRecord, RecordSchemaError, field_kinds, schema_version


@dataclass(frozen=True)
class Damage:
    """A result file that is not used, and why (one line)."""

    path: str
    reason: str


# the type of every record field (str | int | num | bool | dict | list), from the typed records; null is always allowed
RECORD_FIELDS: dict[str, str] = field_kinds(EvalRecord)
PROFILE_FIELDS: dict[str, str] = field_kinds(ProfileRecord)
ARCH_FIELDS = {"n_layers": "int", "hidden_size": "int", "n_kv_heads": "int", "head_dim": "int", "vocab_size": "int"}
ARCH_FIELDS["tied_embeddings"] = "bool"
SAMPLE_FIELDS = {"cell_id": "str", "task": "str", "doc_id": "int", "doc_hash": "str", "filter": "str"}
SAMPLE_FIELDS |= {"target": "str", "correct": "num", "pred": "str", "confidence": "num", "logliks": "nums"}
_SAMPLE_REQUIRED = ("cell_id", "task", "doc_id")
_REQUIRED = ("cell_id", "status", "model", "quant", "task")
_STATUSES = ("ok", "failed")
_KIND_WORDS = {"str": "a string", "int": "an integer", "num": "a number", "bool": "true/false", "dict": "an object"}
_KIND_WORDS |= {"nums": "a list of numbers", "list": "a list"}


def _is(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "dict":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "nums":
        return isinstance(value, list) and all(v is None or _is("num", v) for v in value)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and (kind == "num" or isinstance(value, int))


def _type_error(what: str, data: dict[str, Any], kinds: dict[str, str]) -> str | None:
    """'<what> field 'x' is str, should be an integer' for the first field of the wrong type, or None."""
    for name, kind in kinds.items():
        if not _is(kind, data.get(name)):
            return f"{what} field {name!r} is {type(data[name]).__name__}, should be {_KIND_WORDS[kind]}"
    return None


def _parse_object(path: Path, what: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return None, f"{what} is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"{what} is not valid JSON (truncated?): {exc.msg} at line {exc.lineno} column {exc.colno}"
    except OSError as exc:
        return None, f"cannot read the {what}: {exc.strerror or exc}"
    if not isinstance(data, dict):
        kind = {list: "list", str: "string", bool: "true/false", type(None): "null"}.get(type(data), "number")
        return None, f"{what} is a JSON {kind}, not an object"
    return data, None


def _record_error(rec: dict[str, Any], stem: str) -> str | None:
    """What is wrong with a parsed record itself (not its samples), or None."""
    try:
        schema_version(rec)
    except RecordSchemaError as exc:
        return str(exc)
    missing = [k for k in _REQUIRED if rec.get(k) is None]
    if missing:
        return f"record lacks {', '.join(missing)}"
    arch = rec.get("architecture") or {}
    wrong = _type_error("record", rec, RECORD_FIELDS) or _type_error("architecture", arch, ARCH_FIELDS)
    if wrong:
        return wrong
    if rec["cell_id"] != stem:
        return f"record's cell_id {rec['cell_id']!r} does not match its file name {stem!r}"
    if rec["status"] not in _STATUSES:
        return f"record status {rec['status']!r} is not ok or failed{did_you_mean(rec['status'], _STATUSES)}"
    if rec["status"] == "failed":
        return None if isinstance(rec.get("error"), str) else "failed record has no error (string)"
    metrics = rec.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        return "ok record has no metrics (a non-empty list)"
    for m in metrics:
        if not isinstance(m, dict) or not isinstance(m.get("metric"), str):
            return f"ok record has a metric that is not {{metric, value, stderr}}: {str(m)[:60]}"
        if not (_is("num", m.get("value")) and _is("num", m.get("stderr"))):
            return f"metric {m['metric']!r} has a value or stderr that is not a number"
    if rec.get("n_docs") is None or rec["n_docs"] < 0:
        return "ok record has no n_docs (an integer >= 0)"
    if rec.get("samples_error"):
        return f"the record says ok but its samples were not written: {rec['samples_error']}"
    return None


class _NonFinite(ValueError):
    """NaN / Infinity in a line: Python's json reads them, JSON (and Polars) does not."""


def _no_constant(name: str) -> Any:
    raise _NonFinite(name)


def _lines_error(lines: list[bytes], cid: str) -> tuple[str | None, set[str]]:
    """The first bad samples line (1-based) and why, and the filters seen."""
    filters: set[str] = set()
    for n, raw in enumerate(lines, 1):
        try:
            row = json.loads(raw, parse_constant=_no_constant)
        except _NonFinite as exc:
            return f"samples line {n} has {exc}, which is not JSON (null is)", filters
        except (ValueError, UnicodeDecodeError) as exc:
            return f"samples line {n} is not valid JSON (truncated?): {str(exc)[:80]}", filters
        if not isinstance(row, dict):
            return f"samples line {n} is not a JSON object", filters
        missing = [k for k in _SAMPLE_REQUIRED if row.get(k) is None]
        what = f"samples line {n}"
        wrong = f"{what} lacks {', '.join(missing)}" if missing else _type_error(what, row, SAMPLE_FIELDS)
        if wrong:
            return wrong, filters
        if row["cell_id"] != cid:
            return f"samples line {n} belongs to cell {row['cell_id']!r}, not {cid!r}", filters
        filters.add(row.get("filter") or "none")
    return None, filters


_SAMPLES_CACHE: dict[tuple, str | None] = {}  # (path, size, mtime, what the record says) -> reason


def _samples_error(path: Path, rec: dict[str, Any]) -> str | None:
    """Why the samples of an ok record do not match it, or None (see the module text)."""
    new = rec.get("samples_lines") is not None or rec.get("samples_sha256") is not None
    try:
        st = path.stat()
    except OSError:
        return f"samples file {path.name} is missing" if new else None
    key = (str(path), st.st_size, st.st_mtime_ns, rec.get("samples_lines"), rec.get("samples_sha256"), rec["n_docs"])
    if key not in _SAMPLES_CACHE:
        if len(_SAMPLES_CACHE) > 50_000:
            _SAMPLES_CACHE.clear()
        _SAMPLES_CACHE[key] = _read_samples_error(path, rec, new)
    return _SAMPLES_CACHE[key]


def _read_samples_error(path: Path, rec: dict[str, Any], new: bool) -> str | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read samples file {path.name}: {exc.strerror or exc}"
    lines = data.splitlines()
    if new and rec.get("samples_lines") is not None and len(lines) != rec["samples_lines"]:
        return f"samples has {len(lines)} lines, the record says {rec['samples_lines']}"
    bad, filters = _lines_error(lines, rec["cell_id"])
    if bad:
        return bad
    if new and rec.get("samples_sha256") is not None:
        if hashlib.sha256(data).hexdigest() != rec["samples_sha256"]:
            return "samples checksum does not match the record's (the file changed after it was written)"
        return None
    n_filters = max(1, len(filters))
    expected = rec["n_docs"] * n_filters
    if len(lines) != expected:
        return f"samples has {len(lines)} lines, the record says {expected} ({n_filters} filters x n_docs)"
    return None


def _check(out_dir: Path, record_path: Path) -> tuple[dict[str, Any] | None, Damage | None]:
    rec, why = _parse_object(record_path, "record")
    if rec is not None:
        why = _record_error(rec, record_path.stem)
    if why:
        return None, Damage(str(record_path), why)
    if rec["status"] == "ok":  # type: ignore[index]
        spath = files.samples_path(out_dir, record_path.stem)
        why = _samples_error(spath, rec)  # type: ignore[arg-type]
        if why:
            return None, Damage(str(spath), why)
    return rec, None


def check_record(out_dir: Path, record_path: Path) -> Damage | None:
    """Why this record (and, when ok, its samples) cannot be used, or None when it is good."""
    return _check(Path(out_dir), Path(record_path))[1]


def check_folder(out_dir: Path, cell_ids: Any = None) -> tuple[list[dict[str, Any]], list[Damage]]:
    """(the good records, the damaged ones) of a results folder, or of the cells `cell_ids` only (a click in
    the app reads one cell's samples: it checks that cell, not the folder); temp files of writers are not
    records."""
    folder = Path(out_dir) / "records"
    good, damaged = [], []
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if cell_ids is not None:
        wanted = set(cell_ids)
        paths = [p for p in paths if p.stem in wanted]
    for path in paths:
        rec, damage = _check(Path(out_dir), path)
        if damage is not None:
            damaged.append(damage)
        elif rec is not None:
            good.append(rec)
    return good, damaged


def _profile_error(rec: dict[str, Any], stem: str) -> str | None:
    try:
        schema_version(rec)
    except RecordSchemaError as exc:
        return str(exc)
    missing = [k for k in ("profile_id", "model", "quant", "status") if rec.get(k) is None]
    if missing:
        return f"profile lacks {', '.join(missing)}"
    if rec["profile_id"] != stem:
        return f"profile's profile_id {rec['profile_id']!r} does not match its file name {stem!r}"
    statuses = ("ok", "failed", "partial")
    if rec["status"] not in statuses:
        return f"profile status {rec['status']!r} is not ok, failed or partial{did_you_mean(rec['status'], statuses)}"
    rows = rec.get("rows", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) and _is("int", r.get("batch_size")) for r in rows):
        return "profile rows are not a list of objects with an integer batch_size"
    return _type_error("profile", rec, PROFILE_FIELDS)


def check_profiles(out_dir: Path) -> tuple[list[dict[str, Any]], list[Damage]]:
    """(the good serving profiles, the damaged ones) of a results folder."""
    folder = Path(out_dir) / "profiles"
    good, damaged = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        rec, why = _parse_object(path, "profile")
        why = why or _profile_error(rec, path.stem)  # type: ignore[arg-type]
        if why:
            damaged.append(Damage(str(path), why))
        else:
            good.append(rec)
    return good, damaged


def all_damage(out_dir: Path) -> list[Damage]:
    """Every damaged result file of a folder: records, their samples, profiles."""
    return check_folder(out_dir)[1] + check_profiles(out_dir)[1]


def damage_lines(out_dir: Path) -> list[str]:
    """One warning line per damaged file, for `table` / `frontier` / the app."""
    return [damage_line(d) for d in all_damage(Path(out_dir))]


def damage_line(d: Damage) -> str:
    return f"damaged, not used: {d.path}: {d.reason}"


def repair(out_dir: Path, damages: list[Damage]) -> list[Path]:
    """Move each damaged file (a record and its samples together) into out_dir/damaged/<UTC timestamp>/;
    returns the new paths. The next sweep re-runs those cells."""
    out_dir = Path(out_dir)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = out_dir / "damaged" / stamp
    n = 1
    while dest.exists():
        n += 1
        dest = out_dir / "damaged" / f"{stamp}-{n}"
    moved: list[Path] = []
    for damage in damages:
        path = Path(damage.path)
        if path.parent.name == "profiles":
            targets = [out_dir / "profiles" / path.name]
        else:  # a record or its samples: the cell goes as a whole
            cid = path.name.removesuffix(".jsonl").removesuffix(".json")
            targets = [files.record_path(out_dir, cid), files.samples_path(out_dir, cid)]
        for src in targets:
            if src.is_file():
                new = dest / src.parent.name / src.name
                new.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(src), str(new))
                moved.append(new)
    _SAMPLES_CACHE.clear()
    return moved
