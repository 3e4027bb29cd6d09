"""The GPU device check, run through the same code path on the CPU with --quick sizes."""

from __future__ import annotations

import json
import tarfile

from explorer.launcher.device_check import run_device_check
from explorer.records.files import read_records
from explorer.records.store import load_profiles


def test_device_check_quick_on_cpu(tmp_path) -> None:
    out = tmp_path / "dc"
    manifest = run_device_check(out, device="cpu", quick=True)
    assert [s["status"] for s in manifest["steps"]] == ["ok", "ok", "ok"], manifest["steps"]
    ceil = json.loads((out / "ceilings" / "bfloat16.json").read_text())
    assert ceil["matmul_flops"] > 1e8 and ceil["provenance"] == "measured"
    prof = load_profiles(out)
    assert prof["batch_size"].to_list() == [1, 2] and set(prof["weights"]) == {"random"}
    assert prof["model_params"][0] == 134515008  # the real SmolLM2-135M architecture, random weights
    records = read_records(out)
    assert len(records) == 1 and records[0]["status"] == "ok" and records[0]["weights"] == "random"
    assert manifest["archive_bytes"] < 16 * 2**20
    with tarfile.open(manifest["archive"]) as tar:
        names = tar.getnames()
    assert "dc/manifest.json" in names and any(n.startswith("dc/profiles/") for n in names)
    assert json.loads((out / "manifest.json").read_text())["wall_s"] > 0
