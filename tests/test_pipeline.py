"""Analysis glue and the frontier CLI on hand-made records: measured vs projected costs, by hand."""

from __future__ import annotations

import json

import polars as pl
import pytest

from explorer.analysis.hardware import load_catalog
from explorer.analysis.pipeline import cost_table, frontier_report, read_ceilings
from explorer.records.files import atomic_write_text, write_record
from explorer.records.store import load_evals


def _record(cid: str, model: str, quant: str, acc: float, device_s: float, params: float = 1e8) -> dict:
    return {
        "cell_id": cid,
        "model": model,
        "quant": quant,
        "quant_backend": "torch",
        "task": "arc_easy",
        "status": "ok",
        "metrics": [{"metric": "acc", "value": acc, "stderr": 0.05}],
        "n_docs": 10,
        "model_params": int(params),
        "tokens_in_per_query": 100.0,
        "tokens_out_per_query": 0.0,
        "weight_bytes": int(2 * params),
        "model_calls": 10,
        "device_s_per_query": device_s,
        "device_name": "TestCPU (2 threads)",
        "chance": 0.25,
        "provenance": "measured",
    }


@pytest.fixture()
def results(tmp_path):
    write_record(tmp_path, _record("a", "big", "bf16", 0.60, 0.1))
    write_record(tmp_path, _record("b", "small", "bf16", 0.55, 0.01, params=1e7))
    write_record(tmp_path, _record("c", "small", "int4", 0.30, 0.008, params=1e7))
    ceil = {"device_name": "TestCPU (2 threads)", "dtype": "bfloat16", "matmul_flops": 1e12, "copy_bytes_per_s": 1e10}
    atomic_write_text(tmp_path / "ceilings" / "TestCPU_bfloat16.json", json.dumps(ceil))
    return tmp_path


def test_measured_costs_at_a_given_price(results) -> None:
    table = cost_table(load_evals(results), load_catalog(), usd_per_hour=3.6)
    big = table.filter(pl.col("model") == "big").row(0, named=True)
    assert big["usd_per_query"] == pytest.approx(0.1 * 3.6 / 3600)
    assert big["usd_per_1k_queries"] == pytest.approx(0.1)
    assert big["monthly_usd"] == pytest.approx(0.0001 * 10_000 * 30)
    assert set(table["cost_provenance"]) == {"measured"}


def test_projection_to_h100_by_hand(results) -> None:
    catalog = load_catalog()
    ceilings = read_ceilings(results)
    assert list(ceilings) == ["TestCPU (2 threads)"]
    assert ceilings["TestCPU (2 threads)"]["matmul_flops"]["bf16"] == 1e12
    assert ceilings["TestCPU (2 threads)"]["copy_bytes_per_s"] == 1e10
    table = cost_table(load_evals(results), catalog, hardware="H100-SXM", ceilings=ceilings)
    big = table.filter(pl.col("model") == "big").row(0, named=True)
    # flops 2e8 x 100 = 2e10 -> 0.02 s at 1e12; bytes 2e8 x 1 pass -> 0.02 s at 1e10: efficiency 0.02 / 0.1
    assert big["efficiency"] == pytest.approx(0.2)
    h100 = catalog.get("H100-SXM")
    floor = max(2e10 / h100["peak_bf16_flops"], 2e8 / h100["mem_bw_bytes_per_s"])
    assert big["device_s_per_query"] == pytest.approx(floor / 0.2)
    price = catalog.price("H100-SXM")["usd_per_hour"]
    assert big["usd_per_query"] == pytest.approx(floor / 0.2 * price / 3600)
    assert set(table["cost_provenance"]) == {"projected"} and set(table["hardware"]) == {"H100-SXM"}


def test_projection_needs_ceilings(results) -> None:
    with pytest.raises(ValueError, match="measure the ceilings"):
        cost_table(load_evals(results), load_catalog(), hardware="L4")
    with pytest.raises(ValueError, match="did you mean"):
        cost_table(load_evals(results), load_catalog(), hardware="H100-SMX", ceilings=read_ceilings(results))


def test_other_devices_need_their_own_ceilings(results) -> None:
    write_record(results, {**_record("d", "big", "bf16", 0.61, 0.001), "device_name": "OtherGPU"})
    evals = load_evals(results)
    with pytest.raises(ValueError, match="'OtherGPU' must be projected to H100-SXM: measure the ceilings"):
        cost_table(evals, load_catalog(), hardware="H100-SXM", ceilings=read_ceilings(results))
    with pytest.raises(ValueError, match="rows come from 2 machines"):
        cost_table(evals, load_catalog(), usd_per_hour=1.0)


def test_latest_run_wins(results) -> None:
    write_record(results, {**_record("e", "big", "bf16", 0.7, 0.2), "started_at": "2099-01-01T00:00:00+00:00"})
    table = cost_table(load_evals(results), load_catalog(), usd_per_hour=1.0)
    big = table.filter(pl.col("model") == "big")
    assert big.height == 1 and big["value"].item() == 0.7


def test_report_and_cli(results, capsys) -> None:
    table = cost_table(load_evals(results), load_catalog(), usd_per_hour=1.0)
    report = frontier_report(table, target_fraction=0.9)
    assert report["per_task"].filter(pl.col("on_frontier"))["model"].to_list() == ["small", "small", "big"]
    rec = report["recommendation"]
    assert rec["chosen"]["model"] == "small" and rec["chosen"]["quant"] == "bf16"
    assert rec["savings_x"] == pytest.approx(10.0)

    from explorer.cli import main

    assert main(["frontier", str(results), "--hardware", "L4", "--price-provider", "gcp", "--task", "arc_easy"]) == 0
    out = capsys.readouterr().out
    assert "hardware: L4" in out and "projected" in out and "cheapest at >= 90% of best on arc_easy" in out


def test_one_configuration_measured_on_two_machines_projects_once(results) -> None:
    other = {
        **_record("f", "big", "bf16", 0.62, 0.05),
        "device_name": "OtherCPU",
        "started_at": "2099-01-01T00:00:00+00:00",
    }
    write_record(results, other)
    ceil = {"device_name": "OtherCPU", "dtype": "bfloat16", "matmul_flops": 2e12, "copy_bytes_per_s": 2e10}
    atomic_write_text(results / "ceilings" / "OtherCPU_bfloat16.json", json.dumps(ceil))
    table = cost_table(load_evals(results), load_catalog(), hardware="L4", ceilings=read_ceilings(results))
    big = table.filter(pl.col("model") == "big")
    assert big.height == 1 and big["value"].item() == 0.62  # the latest measurement wins
    assert frontier_report(table)["recommendation"]["n_configs"] == 3


def test_demo_ends_with_the_frontier_and_a_chart(results, capsys) -> None:
    from explorer.cli import _demo_frontier

    _demo_frontier(results)
    out = capsys.readouterr().out
    assert "priced like an aws c7i.large" in out and "cheapest at >= 90% of best on arc_easy" in out
    assert (results / "frontier.png").stat().st_size > 10_000
