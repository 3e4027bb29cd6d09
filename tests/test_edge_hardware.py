"""A device one buys and cannot rent (the Raspberry Pi 5 catalog entry): the catalog takes it without a rental
price, rental billing lists it as excluded with the reason, self-hosted billing prices it (bill by hand)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from explorer.analysis.report import load_inputs
from explorer.deployment.table import deployment_table
from explorer.deployment.workload import Workload
from explorer.hardware.catalog import CatalogError, load_catalog
from explorer.records.files import atomic_write_text, write_record

PI = "raspberry-pi-5-16gb"
DEVICE = "TestCPU (2 threads)"


def test_the_board_has_a_purchase_price_and_no_rental_price() -> None:
    catalog = load_catalog()
    pi = catalog.get(PI)
    assert (pi["kind"], pi["capex_usd"], pi["tdp_w"], pi["idle_w"]) == ("cpu", 120.0, 12.0, 4.5)
    assert pi["mem_bw_bytes_per_s"] == pytest.approx(4267e6 * 4, rel=2e-3) and pi["mem_bytes"] == 16 * 2**30
    assert pi["peak_fp32_flops"] == pytest.approx(4 * 2.4e9 * 2 * 4 * 2, rel=2e-3) and pi["peak_bf16_flops"] is None
    assert not catalog.rentable(PI) and catalog.rentable("c7g.xlarge")
    with pytest.raises(CatalogError, match="has no rental price in the catalog: it is bought"):
        catalog.price(PI)
    assert "github.com/geerlingguy/sbc-reviews/issues/21" in pi["note"]  # where tdp_w comes from


def test_an_entry_with_neither_a_rental_nor_a_purchase_price_is_refused(tmp_path: Path) -> None:
    doc = (Path(load_catalog().path)).read_text()
    bad = tmp_path / "hw.yaml"
    bad.write_text(doc.replace("    capex_usd: 120\n", ""))
    with pytest.raises(CatalogError, match=rf"entry '{PI}' \(#\d+\): field 'prices': must be a non-empty list.*capex"):
        load_catalog(bad)


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    record = {
        "cell_id": "a", "model": "small", "quant": "gguf", "quant_backend": "llama.cpp", "task": "arc_easy",
        "status": "ok", "metrics": [{"metric": "acc", "value": 0.5, "stderr": 0.05}], "n_docs": 10,
        "model_params": 10**8, "tokens_in_per_query": 100.0, "tokens_out_per_query": 0.0, "weight_bytes": 6 * 10**7,
        "model_calls": 10, "device_s_per_query": 0.05, "peak_mem_bytes": 2 * 10**8, "device_name": DEVICE,
        "device_kind": "cpu", "chance": 0.25, "provenance": "measured",
        "architecture": {"n_layers": 10, "hidden_size": 512, "n_kv_heads": 4, "head_dim": 64, "vocab_size": 32_000,
                         "tied_embeddings": True},
    }  # fmt: skip
    write_record(tmp_path, record)
    ceil = {"device_name": DEVICE, "dtype": "bfloat16", "matmul_flops": 1e12, "copy_bytes_per_s": 1e10}
    atomic_write_text(tmp_path / "ceilings" / "TestCPU_bfloat16.json", json.dumps(ceil))
    return tmp_path


def _pi_row(results: Path, workload: Workload) -> dict:
    inputs = load_inputs(results, reported=False, cost_dirs=())
    table = deployment_table(inputs.evals, load_catalog(), workload, ceilings=inputs.ceilings, profiles=inputs.profiles)
    rows = table.filter((pl.col("hardware") == PI) & (pl.col("task") == "arc_easy"))
    assert rows.height == 1
    return rows.row(0, named=True)


def test_rental_billing_shows_the_board_excluded_with_its_reason(results: Path) -> None:
    row = _pi_row(results, Workload(hardware=("c7g.xlarge", PI)))
    assert row["usd_per_hour"] is None and row["monthly_usd"] is None
    assert row["price_source"] == "bought at $120 (reported); no rental price"
    assert row["excluded_reason"].startswith("no rental price: a device one buys (choose self-hosted billing")
    assert row["service_source"] == f"projected from {DEVICE}" and row["service_s_per_query"] > 0


def test_self_hosted_billing_prices_the_board_by_hand(results: Path) -> None:
    w = Workload(billing="self-hosted", hardware=(PI,), queries_per_day=20_000, usd_per_kwh=0.2, lifetime_years=3.0)
    row = _pi_row(results, w)
    s = row["service_s_per_query"]
    replicas = max(1, math.ceil(20_000 / 86_400 * 2.0 * s / 0.8 - 1e-9))  # peak = 2 x mean, 80% ceiling
    busy_s = 20_000 * 30 * s
    owned_s = replicas * 720 * 3600
    capex = replicas * 120 / 36
    energy = (busy_s * 12.0 + (owned_s - busy_s) * 4.5) / 3.6e6 * 0.2  # busy at tdp_w, idle at idle_w
    assert row["excluded_reason"] is None and row["replicas"] == replicas
    assert row["monthly_usd"] == pytest.approx(capex + energy)
    assert row["effective_usd_per_query"] == pytest.approx((capex + energy) / (20_000 * 30))
    assert row["energy_provenance"] == "busy: projected (TDP x busy s); idle: catalog idle_w"
