"""The deployment table, the answer and `explorer frontier` on hand-made records and on the shipped demo results:
every bill, replica count and saving computed by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from explorer.analysis.recommend import answer
from explorer.analysis.report import build_report, load_inputs
from explorer.cli import main
from explorer.deployment.table import deployment_table, split
from explorer.deployment.workload import Workload
from explorer.hardware.catalog import load_catalog
from explorer.hardware.ceilings import DEFAULT_OVERHEAD
from explorer.records.files import atomic_write_text, write_record

DEVICE = "TestCPU (2 threads)"
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "demo_cpu"
ARCH = {
    "n_layers": 10,
    "hidden_size": 512,
    "n_kv_heads": 4,
    "head_dim": 64,
    "vocab_size": 32_000,
    "tied_embeddings": True,
}
HOURS = 720


def _record(cid: str, model: str, quant: str, acc: float, device_s: float, params: float = 1e8, **over) -> dict:
    return {
        "cell_id": cid, "model": model, "quant": quant, "quant_backend": "torch", "task": "arc_easy",
        "status": "ok", "metrics": [{"metric": "acc", "value": acc, "stderr": 0.05}], "n_docs": 10,
        "model_params": int(params), "tokens_in_per_query": 100.0, "tokens_out_per_query": 0.0,
        "weight_bytes": int(2 * params), "model_calls": 10, "device_s_per_query": device_s,
        "peak_mem_bytes": int(3 * params), "device_name": DEVICE, "device_kind": "cpu", "chance": 0.25,
        "provenance": "measured", "architecture": ARCH, **over,
    }  # fmt: skip


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    write_record(tmp_path, _record("a", "big", "bf16", 0.60, 0.1))
    write_record(tmp_path, _record("b", "small", "bf16", 0.55, 0.01, params=1e7))
    write_record(tmp_path, _record("c", "small", "int4", 0.30, 0.008, params=1e7))
    ceil = {"device_name": DEVICE, "dtype": "bfloat16", "matmul_flops": 1e12, "copy_bytes_per_s": 1e10}
    atomic_write_text(tmp_path / "ceilings" / "TestCPU_bfloat16.json", json.dumps(ceil))
    return tmp_path


def _table(results: Path, workload: Workload) -> pl.DataFrame:
    inputs = load_inputs(results, reported=False, cost_dirs=())  # the hand-made cells alone
    return deployment_table(inputs.evals, load_catalog(), workload, ceilings=inputs.ceilings, profiles=inputs.profiles)


def _row(table: pl.DataFrame, model: str, quant: str, hardware: str) -> dict:
    rows = table.filter((pl.col("model") == model) & (pl.col("quant") == quant) & (pl.col("hardware") == hardware))
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def test_measured_machine_at_its_price(results: Path) -> None:
    table = _table(results, Workload(measured_usd_per_hour=3.6, hardware=("L4",)))
    big = _row(table, "big", "bf16", DEVICE)
    assert big["cost_provenance"] == "measured" and big["replicas"] == 1
    assert big["monthly_usd"] == pytest.approx(3.6 * HOURS)
    assert big["effective_usd_per_query"] == pytest.approx(3.6 * HOURS / 300_000)
    assert big["marginal_usd_per_query"] == pytest.approx(0.1 * 3.6 / 3600)
    assert big["utilisation"] == pytest.approx(300_000 * 0.1 / (HOURS * 3600))
    # the baseline hardware is always compared: L4 asked for, H200 (the strongest GPU) added
    assert set(table["hardware"]) == {DEVICE, "L4", "H200"}


def test_projection_to_h100_by_hand(results: Path) -> None:
    big = _row(_table(results, Workload(hardware=("H100-SXM",))), "big", "bf16", "H100-SXM")
    # here: flops 2e8 x 100 = 2e10 at 1e12 = 0.02 s, bytes 2e8 at 1e10 = 0.02 s: efficiency 0.02 / 0.1 = 0.2
    compute, memory, launches = 2e10 / 989e12, 2e8 / 3350e9, 1.0 * 10  # 1 forward per query x 10 layers
    gpu = DEFAULT_OVERHEAD["gpu"]
    optimistic = max(compute, memory, launches * gpu.optimistic_s)
    conservative = max(optimistic, max(compute, memory) / 0.2, launches * gpu.conservative_s)
    assert big["service_s_per_query_optimistic"] == pytest.approx(optimistic)
    assert big["service_s_per_query"] == pytest.approx(conservative) == pytest.approx(10 / 25.5 / 32)
    assert big["cost_provenance"] == "projected" and big["service_source"] == f"projected from {DEVICE}"
    price = load_catalog().price("H100-SXM")["usd_per_hour"]
    assert big["monthly_usd"] == pytest.approx(price * HOURS) and big["replicas"] == 1
    assert big["energy_j_per_query"] is None  # measured elsewhere: not this hardware's energy


def test_latency_and_memory_exclude_with_their_reason(results: Path) -> None:
    table = _table(results, Workload(measured_usd_per_hour=1.0, latency_s=0.05, hardware=("c7i.large",)))
    served, excluded = split(table)
    big = _row(excluded, "big", "bf16", DEVICE)
    assert big["excluded_reason"] == "latency 0.1 s > target 0.05 s (optimistic 0.1 s)"
    assert _row(served, "small", "bf16", DEVICE)["latency_s"] == pytest.approx(0.01)
    write_record(results, _record("d", "huge", "bf16", 0.7, 0.001, params=2e9))  # 6 GB working set
    table = _table(results, Workload(hardware=("c7i.large",)))
    huge = _row(table, "huge", "bf16", "c7i.large")
    assert huge["excluded_reason"] == "needs 6.0 GB (weights + working memory), c7i.large has 4.3 GB"
    assert huge["need_bytes"] == 6e9 and huge["mem_bytes"] == 4 * 2**30


def test_the_answer_baseline_and_saving_by_hand(results: Path) -> None:
    low = Workload(measured_usd_per_hour=0.3, hardware=("L4",), queries_per_day=10_000)
    got = answer(_table(results, low), "H200", target_fraction=0.9)
    # 0.9 x 0.60 = 0.54: big (0.60) and small bf16 (0.55) qualify; at 10k/day every fleet is one replica, so
    # the $0.3/h machine is cheapest and, at equal bills, the more accurate configuration wins
    assert got["threshold"] == pytest.approx(0.54)
    assert (got["chosen"]["model"], got["chosen"]["hardware"]) == ("big", DEVICE)
    assert got["chosen"]["monthly_usd"] == pytest.approx(0.3 * HOURS)

    high = low.with_(queries_per_day=10_000_000, peak_to_mean=1.0)
    got = answer(_table(results, high), "H200", target_fraction=0.9)
    qps = 10_000_000 / 86_400
    gpu_s = 10 / 25.5 / 32  # 10 layers x the conservative per-layer launch cost, for both models
    small_here, big_here = math.ceil(qps * 0.01 / 0.8), math.ceil(qps * 0.1 / 0.8)
    assert (small_here, big_here, math.ceil(qps * gpu_s / 0.8)) == (2, 15, 2)
    chosen = got["chosen"]  # now the fleets differ: small on 2 replicas of the $0.3/h machine
    assert (chosen["model"], chosen["quant"], chosen["hardware"], chosen["replicas"]) == ("small", "bf16", DEVICE, 2)
    assert chosen["monthly_usd"] == pytest.approx(2 * 0.3 * HOURS)
    base = got["baseline"]  # the most accurate configuration on the strongest GPU
    h200 = load_catalog().price("H200")["usd_per_hour"]
    assert (base["model"], base["hardware"], base["replicas"]) == ("big", "H200", 2)
    assert base["monthly_usd"] == pytest.approx(2 * h200 * HOURS)
    assert got["saving_usd_per_month"] == pytest.approx(2 * h200 * HOURS - 2 * 0.3 * HOURS)
    assert got["saving_x"] == pytest.approx(h200 / 0.3)
    l4 = next(r for r in got["per_hardware"] if r["hardware"] == "L4")  # 2 replicas either way: big
    assert (l4["model"], l4["replicas"], l4["monthly_usd"]) == ("big", 2, pytest.approx(2 * 0.43 * HOURS))
    # at 100% only the most accurate qualifies
    assert answer(_table(results, high), "H200", target_fraction=1.0)["chosen"]["model"] == "big"
    # cost of pass: $ per correct answer = effective $ per query / accuracy
    per_correct = answer(_table(results, low), "H200", target_fraction=0.5, cost="usd_per_correct")["chosen"]
    assert per_correct["model"] == "big"
    assert per_correct["usd_per_correct"] == pytest.approx(0.3 * HOURS / 300_000 / 0.6)


def test_cli_json_is_the_same_table(results: Path, capsys) -> None:
    args = ["frontier", str(results), "--json", "--no-reported", "--measured-usd-per-hour", "0.5", "--hardware", "L4",
            "--queries-per-day", "20000", "--target", "0.9"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["workload"]["queries_per_day"] == 20_000 and doc["answer"]["chosen"]["model"] == "big"
    needed = {"model", "quant", "hardware", "replicas", "monthly_usd", "effective_usd_per_query",
              "marginal_usd_per_query", "utilisation", "accuracy", "cost_provenance"}  # fmt: skip
    assert doc["rows"] and all(needed <= set(r) for r in doc["rows"])
    table = _table(results, Workload(measured_usd_per_hour=0.5, hardware=("L4",), queries_per_day=20_000))
    served, excluded = split(table)
    assert len(doc["rows"]) == served.height and len(doc["excluded"]) == excluded.height
    for row in doc["rows"]:
        want = _row(table, row["model"], row["quant"], row["hardware"])
        assert row["monthly_usd"] == pytest.approx(want["monthly_usd"])
        assert row["utilisation"] == pytest.approx(want["utilisation"]) and row["accuracy"] == want["value"]


def test_cli_text_and_bad_input(results: Path, capsys) -> None:
    assert (
        main(["frontier", str(results), "--no-reported", "--hardware", "L4", "--provider", "gcp", "--task", "arc_easy"])
        == 0
    )
    out = capsys.readouterr().out
    assert "cheapest deployment per hardware" in out and "projected" in out and "saving:" in out
    assert f"{0.70683 * HOURS:.1f}" in out  # L4 at gcp's listed price, one replica all month
    for argv, message in (
        (["--hardware", "L5"], "unknown hardware 'L5' (did you mean 'L4'"),
        (["--task", "arc_esy"], "no task 'arc_esy' in the results (did you mean 'arc_easy'"),
        (["--cost-axis", "monthly"], "unknown cost axis 'monthly' (did you mean 'monthly_usd'"),
        (["--billing", "hourly"], "billing: unknown 'hourly'"),
    ):
        assert main(["frontier", str(results), "--no-reported", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_two_machines_outside_the_catalog_cannot_share_one_price(results: Path) -> None:
    write_record(results, {**_record("e", "big", "bf16", 0.61, 0.001), "device_name": "OtherCPU"})
    with pytest.raises(ValueError, match="rows come from 2 machines outside the catalog"):
        _table(results, Workload(measured_usd_per_hour=1.0))
    assert not _table(results, Workload(hardware=("L4",))).is_empty()  # catalog hardware: fine


def test_latest_run_wins(results: Path) -> None:
    write_record(results, {**_record("f", "big", "bf16", 0.7, 0.2), "started_at": "2099-01-01T00:00:00+00:00"})
    big = _table(results, Workload(measured_usd_per_hour=1.0, hardware=("L4",))).filter(
        (pl.col("model") == "big") & (pl.col("hardware") == DEVICE)
    )
    assert big.height == 1 and big["value"].item() == 0.7 and big["service_s_per_query"].item() == 0.2


def test_a_smaller_rerun_never_replaces_more_documents_and_few_shot_stays_apart(results: Path) -> None:
    later = "2099-01-01T00:00:00+00:00"
    write_record(results, {**_record("g", "big", "bf16", 0.9, 0.3), "n_docs": 5, "started_at": later})
    write_record(results, {**_record("h", "small", "bf16", 0.65, 0.02), "num_fewshot": 5, "started_at": later})
    table = _table(results, Workload(measured_usd_per_hour=1.0, hardware=("L4",))).filter(
        (pl.col("hardware") == DEVICE) & (pl.col("task") == "arc_easy")
    )
    big = table.filter(pl.col("model") == "big")
    assert big["value"].to_list() == [0.6]  # the 10-document run, not the later 5-document one
    small = table.filter((pl.col("model") == "small") & (pl.col("quant") == "bf16")).sort("value")
    assert small["value"].to_list() == [0.55, 0.65]  # 0-shot and 5-shot: two protocols, both kept


def test_nothing_beats_chance_gives_no_answer_and_says_why(results: Path) -> None:
    for cid, model in (("a", "big"), ("b", "small"), ("c", "small")):  # every accuracy below chance (0.25)
        write_record(results, _record(cid, model, "int4" if cid == "c" else "bf16", 0.2, 0.01))
    inputs = load_inputs(results, reported=False, cost_dirs=())
    report = build_report(inputs, load_catalog(), Workload(), task="arc_easy", chance_normalised=True)
    ans = report.answer
    assert ans["chosen"] is None and "no configuration beats chance on arc_easy" in ans["reason"]
    assert ans["best_accuracy"] == pytest.approx((0.2 - 0.25) / 0.75)
    assert all(p["reason"] == "nothing beats chance" for p in ans["per_hardware"])


def _shipped_by_hand(model: str, quant: str) -> tuple[float, float]:
    """(mean acc, mean device s per query) over the shipped records of one configuration, read as plain JSON."""
    recs = [json.loads(p.read_text()) for p in (SHIPPED / "records").glob("*.json")]
    mine = [r for r in recs if r["model"] == model and r["quant"] == quant and r["status"] == "ok"]
    acc = [next(m["value"] for m in r["metrics"] if m["metric"] == "acc") for r in mine]
    return sum(acc) / len(acc), sum(r["device_s_per_query"] for r in mine) / len(mine)


def test_shipped_demo_results_through_the_whole_pipeline() -> None:
    price = load_catalog().price("c7i.large", "aws")["usd_per_hour"]
    w = Workload(measured_usd_per_hour=price, queries_per_day=10_000)
    report = build_report(load_inputs(SHIPPED, reported=False), load_catalog(), w)
    chosen = report.answer["chosen"]
    acc, seconds = _shipped_by_hand("gemma3-270m", "gguf")
    # every option is 1 replica at 10k/day; the cheapest price is this machine's (tied with c7i.large), and at
    # that price the most accurate servable configuration wins: gemma's transformers levels score 4 BoolQ
    # passages per forward (2.4 s > the 2 s latency target here), llama.cpp one at a time (0.81 s)
    assert (chosen["model"], chosen["quant"], chosen["replicas"]) == ("gemma3-270m", "gguf", 1)
    here = report.excluded.filter(
        (pl.col("hardware") == chosen["hardware"]) & (pl.col("model") == "gemma3-270m") & (pl.col("task") == "__mean__")
    )
    for quant in ("bf16", "int8", "int4"):
        (reason,) = here.filter(pl.col("quant") == quant)["excluded_reason"].to_list()
        assert reason.startswith("boolq: latency") and "> target 2.0 s" in reason
    assert chosen["hardware"] == "AMD EPYC (2 threads)" and chosen["cost_provenance"] == "measured"
    assert chosen["value"] == pytest.approx(acc) and chosen["monthly_usd"] == pytest.approx(price * HOURS)
    assert chosen["utilisation"] == pytest.approx(300_000 * seconds / (HOURS * 3600))
    base = report.answer["baseline"]
    h200 = load_catalog().price("H200")["usd_per_hour"]
    assert base["hardware"] == "H200" and base["monthly_usd"] == pytest.approx(h200 * HOURS)
    assert report.answer["saving_usd_per_month"] == pytest.approx((h200 - price) * HOURS)
    reasons = report.excluded.filter(pl.col("hardware") == "c7i.large")["excluded_reason"].to_list()
    assert reasons and all("c7i.large has 4.3 GB" in r for r in reasons)


def test_demo_ends_with_ceilings_the_answer_and_a_chart(results: Path, capsys) -> None:
    from explorer.cli import _demo_frontier

    _demo_frontier(results)
    out = capsys.readouterr().out
    assert "priced like an aws c7i.large" in out and "saving:" in out
    assert (results / "frontier.png").stat().st_size > 10_000
    here = [p.name for p in (results / "ceilings").glob("*.json")]
    assert len(here) == 3  # the fixture's and this machine's bf16 + fp32
    assert main(["frontier", str(results), "--hardware", "L4"]) == 0  # what the demo suggests works


def test_projections_start_from_a_device_of_the_same_class(results: Path) -> None:
    # older than the CPU run, still the one to project onto GPUs from
    gpu = {**_record("g", "big", "bf16", 0.60, 0.002), "device_name": "NVIDIA A10G", "device_kind": "cuda",
           "started_at": "2000-01-01T00:00:00+00:00"}  # fmt: skip
    write_record(results, gpu)
    table = _table(results, Workload(hardware=("A10G", "L4", "c7i.large")))
    assert _row(table, "big", "bf16", "A10G")["cost_provenance"] == "measured"
    assert _row(table, "big", "bf16", "A10G")["service_s_per_query"] == pytest.approx(0.002)
    assert _row(table, "big", "bf16", "L4")["service_source"] == "projected from NVIDIA A10G"
    assert _row(table, "big", "bf16", "c7i.large")["service_source"] == f"projected from {DEVICE}"


def test_self_hosting_hardware_without_a_purchase_price_is_excluded_not_dropped(results: Path) -> None:
    w = Workload(billing="self-hosted", hardware=("A10G", "L4"), usd_per_kwh=0.1, lifetime_years=4.0)
    table = _table(results, w)
    a10g = _row(table, "big", "bf16", "A10G")  # sold only as an AWS instance: no capex_usd in the catalog
    assert a10g["monthly_usd"] is None and a10g["excluded_reason"] == "no capex_usd in the catalog to self-host it"
    l4 = _row(table, "big", "bf16", "L4")
    busy_s = 300_000 * l4["service_s_per_query"]
    idle_j = (HOURS * 3600 - busy_s) * 72 * 0.25  # no idle_w in the catalog: 25% of the 72 W TDP
    energy = (busy_s * 72 + idle_j) / 3.6e6 * 0.1
    assert l4["monthly_usd"] == pytest.approx(2500 / 48 + energy) and l4["excluded_reason"] is None


def test_fewer_prompt_tokens_never_go_below_the_launch_floor(results: Path) -> None:
    table = _table(results, Workload(prompt_tokens=1, measured_usd_per_hour=1.0, hardware=("H100-SXM",)))
    h100 = _row(table, "big", "bf16", "H100-SXM")
    # 1 forward per query x 10 layers: the weight read and the launches do not shrink with the prompt
    assert h100["service_s_per_query_optimistic"] >= 10 * DEFAULT_OVERHEAD["gpu"].optimistic_s
    assert h100["service_s_per_query"] == pytest.approx(10 * DEFAULT_OVERHEAD["gpu"].conservative_s)
    here = _row(table, "big", "bf16", DEVICE)  # 0.1 s measured for 100 tokens: scaled, floored at the launches
    assert here["service_s_per_query"] == pytest.approx(
        max(0.1 / 100, min(0.1, 10 * DEFAULT_OVERHEAD["cpu"].conservative_s))
    )
    assert here["cost_provenance"] == "projected" and here["energy_j_per_query"] is None


def test_a_configuration_missing_a_task_is_listed_as_excluded_from_the_mean(results: Path) -> None:
    write_record(results, {**_record("p", "big", "bf16", 0.7, 0.1), "task": "piqa"})
    table = _table(results, Workload(measured_usd_per_hour=1.0, hardware=("L4",)))
    small = table.filter((pl.col("model") == "small") & (pl.col("task") == "__mean__") & (pl.col("hardware") == "L4"))
    assert small.height == 2  # both quantizations, kept and excluded, not dropped
    assert set(small["excluded_reason"]) == {"not measured on every task (missing: piqa)"}
    big = _row(table.filter(pl.col("task") == "__mean__"), "big", "bf16", DEVICE)
    assert big["excluded_reason"] is None and big["value"] == pytest.approx(0.65)


def test_no_traffic_and_no_capacity_reasons_instead_of_crashes(results: Path, capsys) -> None:
    assert main(["frontier", str(results), "--no-reported", "--billing", "per-second", "--queries-per-day", "0",
                 "--hardware", "L4"]) == 0  # fmt: skip
    assert "n/a/query" in capsys.readouterr().out  # no queries: no cost per query, said so
    doc_args = ["frontier", str(results), "--no-reported", "--queries-per-day", "0", "--cost-axis",
                "effective_usd_per_query", "--json"]  # fmt: skip
    assert main(doc_args) == 0
    ans = json.loads(capsys.readouterr().out)["answer"]
    assert ans["chosen"] is None and "finite effective_usd_per_query" in ans["reason"] and ans["n_without_cost"] > 0


def test_per_hardware_says_when_what_reaches_the_target_does_not_fit(results: Path) -> None:
    write_record(results, _record("h", "huge", "bf16", 0.9, 0.01, params=2e9))  # 6 GB working set
    got = answer(_table(results, Workload(hardware=("c7i.large",))), "H200", target_fraction=0.9)
    c7i = next(r for r in got["per_hardware"] if r["hardware"] == "c7i.large")
    assert c7i["reason"].startswith("those reaching the target accuracy 0.810 are excluded: needs 6.0 GB")
