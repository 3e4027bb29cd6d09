"""Typed records, one type per kind, with units in field names and a schema version (standard library only).

- `EvalRecord`: one (model, level, task) cell -> records/<cell_id>.json (worker; the launcher for a dead worker);
- `ProfileRecord`: one serving-profile ladder -> profiles/<profile_id>.json;
- `CeilingsRecord`: the device's matmul and copy roofs in one dtype -> ceilings/<dtype>.json.
They are written by one writer each (explorer/records/files.py) and read by one reader (explorer/records/integrity.py
checks each field's type against these dataclasses; explorer/records/store.py makes the Polars tables).

Record schema versions: 1 = records written before 2026-12 (no `record_schema` field; device time bracketed the
forward only; CPU peak memory `peak_rss_delta`); 2 = device time includes lm-eval's log-softmax and CPU peak memory
is weights + the task's working set (explorer/runner/trackers.py). Version 1 is read as it is; a version newer
than `RECORD_SCHEMA` is refused with a line saying to upgrade.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

RECORD_SCHEMA = 2


class RecordSchemaError(ValueError):
    """A record this explorer cannot read (newer schema, unknown field): one line naming what to do."""


def schema_version(data: dict[str, Any]) -> int:
    """The record's schema version (1 for records written before versions were stored); a newer one than this
    explorer reads raises RecordSchemaError."""
    version = data.get("record_schema", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordSchemaError(f"record_schema {version!r} is not a positive integer")
    if version > RECORD_SCHEMA:
        raise RecordSchemaError(
            f"record schema {version} is newer than this explorer reads ({RECORD_SCHEMA}): upgrade llm-cost-explorer"
        )
    return version


class _Record:
    """What every record type shares: `to_dict` (what is written) and `from_dict` (what is read)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The typed record of a dict; an unknown field or a newer schema version is a RecordSchemaError."""
        from explorer.hints import did_you_mean

        schema_version(data)
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        unknown = [k for k in data if k not in names]
        if unknown:
            hint = did_you_mean(unknown[0], names)
            raise RecordSchemaError(f"{cls.__name__}: unknown field {unknown[0]!r}{hint}")
        return cls(**data)


@dataclass(kw_only=True)
class _LoadedModel(_Record):
    """The fields of every record of a loaded model: what was loaded, how, on what, and by which versions."""

    key: dict | None = None
    error: str | None = None
    model_ref: str | None = None
    device_kind: str | None = None
    device_name: str | None = None
    provenance: str | None = None  # measured
    weights: str | None = None  # real | random
    versions: dict | None = None
    quant_backend: str | None = None
    quant_settings: dict | None = None
    compute_dtype: str | None = None
    model_params: int | None = None
    weight_bytes: int | None = None
    model_rss_bytes: int | None = None
    load_s: float | None = None
    quantize_s: float | None = None
    architecture: dict | None = None
    tokenizer: str | None = None
    record_schema: int = RECORD_SCHEMA


@dataclass
class EvalRecord(_LoadedModel):
    """One cell: lm-eval's metrics and what the trackers measured (docs/ARCHITECTURE.md, "Measurements")."""

    cell_id: str
    status: str  # ok | failed
    model: str
    quant: str
    task: str
    started_at: str | None = None
    run_id: str | None = None
    model_source: dict | None = None
    task_source: str | None = None
    lm_eval_task: str | None = None
    include_path: list | None = None
    num_fewshot: int | None = None
    limit: int | None = None
    batch_size: int | None = None
    device: str | None = None
    lm_eval_settings: dict | None = None
    metrics: list | None = None  # [{metric, value, stderr}]
    samples_error: str | None = None
    samples_lines: int | None = None
    samples_sha256: str | None = None
    n_docs: int | None = None
    chance: float | None = None
    output_type: str | None = None
    device_s: float | None = None
    device_s_per_query: float | None = None
    tokens_in_per_query: float | None = None
    tokens_out_per_query: float | None = None
    padded_tokens_per_query: float | None = None
    tokens_read_per_query: float | None = None
    model_calls: int | None = None
    forward_passes: int | None = None
    peak_mem_bytes: int | None = None
    peak_mem_kind: str | None = None
    energy_j: float | None = None
    energy_j_per_query: float | None = None
    wall_s: float | None = None


@dataclass
class ProfileRecord(_LoadedModel):
    """A serving-profile ladder of one model at one level: one row per batch size (explorer/runner/profile.py)."""

    profile_id: str
    status: str  # ok | partial | failed
    model: str
    quant: str
    rows: list = field(default_factory=list)


@dataclass
class CeilingsRecord(_Record):
    """Matmul FLOP/s and copy bytes/s of one device in one dtype (explorer/runner/ceilings.py)."""

    device_name: str
    device_kind: str
    dtype: str
    matmul_n: int
    matmul_sizes: list
    matmul_flops: float
    matmul_cv: float
    copy_bytes: int
    copy_bytes_per_s: float
    copy_cv: float
    repeats: int
    threads: int
    provenance: str = "measured"
    record_schema: int = RECORD_SCHEMA


_KIND_OF = {str: "str", int: "int", float: "num", dict: "dict", list: "list", bool: "bool"}


def field_kinds(cls: type) -> dict[str, str]:
    """Each field's kind (str | int | num | dict | list | bool) from the dataclass's annotations: the readers'
    type checks and the Polars columns come from here."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)] if _is_union(hint) else [hint]
        out[f.name] = _KIND_OF[typing.get_origin(args[0]) or args[0]]
    return out


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
