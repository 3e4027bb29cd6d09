"""What a stakeholder reads off the frontier chart and the headline, with hand-computed values: costs in human
units, stderr bars, frontier points within noise joined, the recommended and baseline points ringed and named, and
the headline sentence (never "1x cheaper")."""

from __future__ import annotations

import polars as pl

from explorer.analysis.headline import headline, noise_groups, settings, settings_line, within_noise
from explorer.charts.frontier import chart_data, frontier_chart
from explorer.deployment.workload import Workload

ROWS = pl.DataFrame(
    {
        "model": ["small", "mid", "big", "huge"],
        "quant": ["int4", "int8", "bf16", "bf16"],
        "hardware": ["c7i.large", "L4", "H100-SXM", "H100-SXM"],
        "provider": ["aws", "aws", "runpod", "runpod"],
        "task": ["arc_easy"] * 4,
        "value": [0.50, 0.70, 0.74, 0.90],
        "stderr": [0.05, 0.02, 0.02, 0.01],
        "monthly_usd": [64.0, 300.0, 1500.0, 5000.0],
        "effective_usd_per_query": [2e-7, 1e-6, 5e-6, 1.6e-5],
        "latency_s": [0.25, 0.05, 0.02, 0.04],
        "cost_provenance": ["measured", "projected", "projected", "projected"],
        "replicas": [1, 1, 1, 2],
    }
)


def test_within_noise_by_hand() -> None:
    # 0.70 vs 0.74, stderr 0.02 each: 1.96 x sqrt(0.0008) = 0.0554 >= 0.04 -> within; 0.74 vs 0.90: 0.16 > 0.044
    assert within_noise({"value": 0.70, "stderr": 0.02}, {"value": 0.74, "stderr": 0.02})
    assert not within_noise({"value": 0.74, "stderr": 0.02}, {"value": 0.90, "stderr": 0.01})
    assert not within_noise({"value": 0.7, "stderr": None}, {"value": 0.71, "stderr": None})
    groups = noise_groups(ROWS.with_columns(pl.lit(True).alias("on_frontier")))
    assert groups["noise_group"].to_list() == [0, 1, 1, 2] and groups["noise_group_size"].to_list() == [1, 2, 2, 1]


def test_chart_rows_units_error_bars_roles() -> None:
    rec, base = ROWS.row(1, named=True), ROWS.row(3, named=True)
    rows = chart_data(ROWS, cost="effective_usd_per_query", roles={"recommended": rec, "baseline": base})
    assert rows["usd_per_million_queries"].round(9).to_list() == [0.2, 1.0, 5.0, 16.0]  # $ per 1M queries, not 1e-7
    assert rows["accuracy_low"].round(4).to_list() == [0.45, 0.68, 0.72, 0.89]
    assert rows["accuracy_high"].round(4).to_list() == [0.55, 0.72, 0.76, 0.91]
    assert rows["role"].to_list() == [None, "recommended", None, "baseline"]
    assert rows["accuracy_text"].to_list()[0] == "50.0% ± 5.0%"
    assert sorted(chart_data(ROWS, cost="latency_s")["latency_ms"].to_list()) == [20.0, 40.0, 50.0, 250.0]
    spec = frontier_chart(ROWS, roles={"recommended": rec, "baseline": base}).to_dict()
    layers = spec["layer"]
    texts = [x for x in layers if x["mark"]["type"] == "text"]
    assert {t["transform"][1]["filter"]["equal"] for t in texts} == {"left", "right"}  # named towards the middle
    (band,) = [
        x
        for x in layers
        if x["mark"]["type"] == "line" and x["transform"][0] == {"filter": "datum.noise_group_size > 1"}
    ]
    (values,) = spec["datasets"].values()
    assert sorted(r["config"] for r in values if (r["noise_group_size"] or 0) > 1) == ["big bf16", "mid int8"]


def test_headline_by_hand() -> None:
    rows = ROWS.with_columns(pl.lit(True).alias("on_frontier"))
    chosen, base = rows.row(1, named=True), rows.row(3, named=True)
    ans = {"task": "arc_easy", "target_fraction": 0.75, "cost_axis": "monthly_usd", "chosen": chosen, "baseline": base,
           "baseline_hardware": "H100-SXM"}  # fmt: skip
    text = headline(ans, 10_000, rows)
    assert text == (
        "For 10,000 queries/day at >= 75% of the best accuracy on arc_easy: mid int8 on 1x L4, $300/month "
        "(projected), accuracy 0.700; 94% cheaper than the most accurate on H100-SXM, huge bf16 on 2x H100-SXM "
        "($5,000/month, projected). Within noise of its accuracy (1.96 stderr): big bf16 on 1x H100-SXM "
        "($1,500/month)."
    )
    same = headline({**ans, "chosen": base}, 10_000)
    assert same.endswith("it is also the most accurate deployment on H100-SXM.") and "1x cheaper" not in same
    tiny = headline({**ans, "chosen": {**chosen, "monthly_usd": 5.0}}, 10_000)
    assert "1,000x cheaper than" in tiny and "100" not in tiny.split("cheaper")[0][-8:]
    none = headline({**ans, "chosen": None, "reason": "nothing reaches the target"}, 10_000)
    assert none.endswith("no deployment qualifies (nothing reaches the target).")
    reported = headline({**ans, "chosen": {**chosen, "accuracy_provenance": "reported"}}, 10_000)
    assert "(accuracy reported, cost projected)" in reported
    flagged = headline({**ans, "chosen": {**chosen, "usd_per_hour": 0.1}}, 10_000, placeholder="L4")
    assert "its $0.10/h price is a placeholder: set it" in flagged


def test_settings_line() -> None:
    wl = Workload(queries_per_day=2e5, hardware=("L4", "T4"))
    values = settings(wl, {"task": "__mean__", "target_fraction": 0.9, "cost_axis": "monthly_usd"})
    assert values["task"] == "all tasks (mean)" and values["provider"] == "cheapest listed"
    assert values["hardware"] == "L4, T4" and values["traffic"].startswith("200,000 queries/day")
    assert settings_line(values).startswith("task: all tasks (mean) | traffic: 200,000 queries/day")
