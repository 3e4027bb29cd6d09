"""Typed records (explorer/records/schema.py): one writer, one reader, schema versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.records import files, integrity
from explorer.records.schema import RECORD_SCHEMA, EvalRecord, ProfileRecord, RecordSchemaError, field_kinds
from explorer.records.store import EVAL_SCHEMA, load_evals

FAILED = {"cell_id": "c1", "status": "failed", "model": "m", "quant": "bf16", "task": "t", "error": "boom"}


def test_the_writer_stamps_the_schema_and_refuses_unknown_fields(tmp_path: Path) -> None:
    files.write_record(tmp_path, FAILED)
    written = json.loads(files.record_path(tmp_path, "c1").read_text())
    assert written["record_schema"] == RECORD_SCHEMA and written["error"] == "boom"
    assert EvalRecord.from_dict(written) == EvalRecord(**FAILED)
    with pytest.raises(
        RecordSchemaError, match=r"EvalRecord: unknown field 'peak_mem_byte' \(did you mean 'peak_mem_bytes'"
    ):
        files.write_record(tmp_path, {**FAILED, "peak_mem_byte": 1})


def test_a_record_of_a_newer_schema_is_not_used_and_says_why(tmp_path: Path) -> None:
    files.write_record(tmp_path, FAILED)
    path = files.record_path(tmp_path, "c2")
    path.write_text(json.dumps({**FAILED, "cell_id": "c2", "record_schema": RECORD_SCHEMA + 1}))
    good, damaged = integrity.check_folder(tmp_path)
    assert [r["cell_id"] for r in good] == ["c1"]
    newer = f"record schema {RECORD_SCHEMA + 1} is newer than this explorer reads ({RECORD_SCHEMA})"
    assert [d.reason for d in damaged] == [f"{newer}: upgrade llm-cost-explorer"]


def test_a_record_without_a_version_is_read_as_version_1(tmp_path: Path) -> None:
    files.record_path(tmp_path, "c1").parent.mkdir(parents=True)
    files.record_path(tmp_path, "c1").write_text(json.dumps(FAILED))  # written before versions were stored
    evals = load_evals(tmp_path)
    assert evals["record_schema"].to_list() == [None] and evals["error"].to_list() == ["boom"]


def test_types_come_from_the_record_types() -> None:
    kinds = field_kinds(EvalRecord)
    assert kinds["peak_mem_bytes"] == "int" and kinds["device_s_per_query"] == "num" and kinds["metrics"] == "list"
    assert kinds == integrity.RECORD_FIELDS and field_kinds(ProfileRecord) == integrity.PROFILE_FIELDS
    assert str(EVAL_SCHEMA["peak_mem_bytes"]) == "Int64" and str(EVAL_SCHEMA["versions"]) == "String"
