"""The headline: within-noise tests and groups, the answer in one sentence with its provenance, the settings behind
it. Every expected string and group is worked out by hand (1.96 x sqrt(se1^2 + se2^2); usd: "$64.00", "$5,000")."""

from __future__ import annotations

import polars as pl
import pytest

from explorer.analysis.frontier import MEAN_TASK
from explorer.analysis.headline import (
    headline,
    noise_groups,
    same_deployment,
    settings,
    settings_line,
    within_noise,
)
from explorer.analysis.recommend import answer, usd, with_frontier
from explorer.deployment.workload import Workload

START = "For 10,000 queries/day at >= 90% of the best accuracy on arc_easy"


def _row(model: str, quant: str, hardware: str, value: float, monthly_usd: float, **more) -> dict:
    row = {"model": model, "quant": quant, "hardware": hardware, "provider": "aws", "task": "arc_easy",
           "value": value, "stderr": 0.02, "replicas": 1, "monthly_usd": monthly_usd,
           "cost_provenance": "measured", "accuracy_provenance": "measured"}  # fmt: skip
    return {**row, **more}


CHOSEN = _row("small", "int4", "c7i.large", 0.731, 64.0, usd_per_hour=0.5)
BASELINE = _row("big", "bf16", "H100", 0.812, 5000.0, replicas=2, provider="runpod", cost_provenance="projected")


def _answer(chosen: dict | None = CHOSEN, baseline: dict | None = BASELINE, **more) -> dict:
    ans = {"task": "arc_easy", "target_fraction": 0.9, "cost_axis": "monthly_usd", "chosen": chosen,
           "baseline": baseline, "baseline_hardware": "H100"}  # fmt: skip
    return {**ans, **more}


# ---------------------------------------------------------------- within noise


def test_within_noise_at_and_past_the_bound() -> None:
    # 1.96 x sqrt(0.03^2 + 0.04^2) = 1.96 x 0.05 = 0.098
    assert within_noise({"value": 0.5, "stderr": 0.03}, {"value": 0.598, "stderr": 0.04})
    assert within_noise({"value": 0.598, "stderr": 0.04}, {"value": 0.5, "stderr": 0.03})  # symmetric
    assert not within_noise({"value": 0.5, "stderr": 0.03}, {"value": 0.599, "stderr": 0.04})
    # no stderr (missing or null): only equal accuracies cannot be told apart
    assert within_noise({"value": 0.7}, {"value": 0.7, "stderr": None})
    assert not within_noise({"value": 0.7}, {"value": 0.7001, "stderr": None})
    assert not within_noise({"value": None, "stderr": 0.1}, {"value": 0.7, "stderr": 0.1})


def _frontier(stderr: list[float] | None = None) -> pl.DataFrame:
    """By hand, against each group's first (cheapest) point: b-a 0.04 <= 1.96 x sqrt(2) x 0.02 = 0.0554 (group 0);
    c-a 0.09 > 0.0554 (group 1, although c-b 0.05 <= 0.0554); d-a 0.12 > 1.96 x sqrt(0.02^2 + 0.01^2) = 0.0438,
    d-c 0.03 <= 0.0438 (group 1); e: 0.30 from a, 0.21 from c (group 2, alone). f is off the frontier. Shuffled."""
    return pl.DataFrame({
        "model": list("dbfeca"), "value": [0.72, 0.64, 0.65, 0.90, 0.69, 0.60],
        "stderr": stderr or [0.01, 0.02, 0.02, 0.005, 0.02, 0.02], "monthly_usd": [40.0, 20.0, 60.0, 50.0, 30.0, 10.0],
        "on_frontier": [True, True, False, True, True, True],
    })  # fmt: skip


def test_noise_groups_by_hand() -> None:
    out = noise_groups(_frontier())
    assert out["model"].to_list() == ["a", "b", "c", "d", "e"]  # frontier only, by cost
    assert out["noise_group"].to_list() == [0, 0, 1, 1, 2]
    assert out["noise_group_size"].to_list() == [2, 2, 2, 2, 1]
    # no stderr at all: every point alone; large stderr: one group
    assert noise_groups(_frontier([0.0] * 6))["noise_group"].to_list() == [0, 1, 2, 3, 4]
    wide = noise_groups(_frontier([0.2] * 6))
    assert wide["noise_group"].to_list() == [0] * 5 and wide["noise_group_size"].to_list() == [5] * 5
    # another cost axis orders the points by that cost
    by_other = noise_groups(_frontier().with_columns((100 - pl.col("monthly_usd")).alias("c")), cost="c")
    assert by_other["model"].to_list() == ["e", "d", "c", "b", "a"]
    assert noise_groups(_frontier().filter(~pl.col("on_frontier"))).height == 0


def test_same_deployment() -> None:
    assert same_deployment(CHOSEN, dict(CHOSEN, value=0.1, monthly_usd=1.0))  # the figures do not name it
    assert not same_deployment(CHOSEN, dict(CHOSEN, provider="gcp"))
    assert not same_deployment(CHOSEN, None) and not same_deployment(None, None)


# ---------------------------------------------------------------- the sentence


def test_headline_by_hand() -> None:
    assert usd(64.0) == "$64.00" and usd(5000.0) == "$5,000"  # what the sentence writes
    assert headline(_answer(), 10_000) == (
        f"{START}: small int4 on 1x c7i.large, $64.00/month (measured), accuracy 0.731; 99% cheaper than the most "
        "accurate on H100, big bf16 on 2x H100 ($5,000/month, projected)."
    )  # 1 - 64 / 5000 = 0.9872


def test_headline_of_a_real_answer() -> None:
    rows = [CHOSEN, BASELINE, _row("tiny", "bf16", "L4", 0.70, 300.0),
            _row("big", "bf16", "L4", 0.812, 900.0, excluded_reason="does not fit in memory")]  # fmt: skip
    table = pl.DataFrame([{"excluded_reason": None, "usd_per_hour": None, **r} for r in rows])
    ans = answer(table, baseline_hardware="H100")
    assert ans["threshold"] == pytest.approx(0.9 * 0.812)  # 0.7308: small int4 (0.731) is the cheapest above
    assert headline(ans, 10_000) == headline(_answer(), 10_000)


def test_headline_when_the_answer_is_the_most_accurate() -> None:
    text = headline(_answer(chosen=BASELINE), 10_000)
    assert text == (
        f"{START}: big bf16 on 2x H100, $5,000/month (projected), accuracy 0.812; it is also the most accurate "
        "deployment on H100."
    )
    assert "cheaper" not in text and "1x" not in text and "100%" not in text


def test_headline_without_an_answer() -> None:
    reason = "no configuration can be served on any hardware (see the excluded table)"
    assert headline(_answer(chosen=None, baseline=None, reason=reason), 10_000) == (
        f"{START}: no deployment qualifies ({reason})."
    )
    assert headline(_answer(chosen=None), 10_000) == f"{START}: no deployment qualifies (nothing reaches the target)."


def test_headline_provenance_reported_and_placeholder() -> None:
    reported = dict(CHOSEN, accuracy_provenance="reported", cost_provenance="projected")
    assert "$64.00/month (accuracy reported, cost projected)," in headline(_answer(chosen=reported), 10_000)
    placeholder = dict(CHOSEN, hardware="this machine")
    text = headline(_answer(chosen=placeholder), 10_000, placeholder="this machine")
    assert ("small int4 on 1x this machine, $64.00/month (measured; its $0.50/h price is a placeholder: set it), "
            "accuracy 0.731;") in text  # fmt: skip
    assert text.endswith("($5,000/month, projected).")  # the baseline is not on the placeholder
    assert "placeholder" not in headline(_answer(), 10_000, placeholder="this machine")


def test_headline_scope_cost_axis_and_no_baseline() -> None:
    mean = headline(_answer(task=MEAN_TASK, baseline=None), 2500)
    assert mean == (
        "For 2,500 queries/day at >= 90% of the best accuracy on all tasks (mean): small int4 on 1x c7i.large, "
        "$64.00/month (measured), accuracy 0.731."
    )
    per_correct = headline(_answer(cost_axis="usd_per_correct"), 10_000)
    assert per_correct.startswith(f"{START}: small int4 on 1x c7i.large (cheapest by USD per correct answer), $64.00")


@pytest.mark.parametrize(
    ("chosen_usd", "said"),
    [(64.0, "99% cheaper than"), (2500.0, "50% cheaper than"), (30.0, "167x cheaper than"),
     (20.0, "250x cheaper than"), (2.0, "2,500x cheaper than"), (0.0, "cheaper than"), (5000.0, "as cheap as"),
     (4990.0, "as cheap as"), (7500.0, "50% dearer than")],
)  # fmt: skip
def test_headline_share_cheaper(chosen_usd: float, said: str) -> None:
    # 1 - 64/5000 = 0.987 (a share); from 0.99 on a ratio: 5000/30 = 166.7, 5000/20 = 250, 5000/2 = 2,500;
    # 1 - 4990/5000 = 0.002 (under half a percent: as cheap); 7500/5000 - 1 = 0.5 dearer
    other = dict(CHOSEN, model="mid", monthly_usd=chosen_usd)
    text = headline(_answer(chosen=other), 10_000)
    assert f"; {said} the most accurate on H100, big bf16" in text
    assert "100%" not in text and "100.0%" not in text and " 1x cheaper" not in text


def _scope_rows(*extra: dict) -> pl.DataFrame:
    rows = [CHOSEN, BASELINE, _row("tiny", "bf16", "L4", 0.70, 300.0), *extra,
            _row("small", "int4", "c7i.large", 0.95, 1.0, task="other")]  # another task: never named  # fmt: skip
    return with_frontier(pl.DataFrame([{"excluded_reason": None, "usd_per_hour": None, **r} for r in rows]))


def test_headline_names_the_deployments_within_noise() -> None:
    # stderr 0.02 each: within 0.0554 of small int4 (0.731): mid int8 (0.75), mid bf16 (0.76), mid fp8 (0.78);
    # not big bf16 (0.812, 0.081 away); tiny bf16 is off the frontier
    mids = [_row("mid", "int8", "L4", 0.75, 90.0), _row("mid", "bf16", "L4", 0.76, 120.0)]
    assert headline(_answer(), 10_000, _scope_rows(*mids)) == headline(_answer(), 10_000) + (
        " Within noise of its accuracy (1.96 stderr): mid int8 on 1x L4 ($90.00/month), mid bf16 on 1x L4 ($120/month)."
    )
    more = headline(_answer(), 10_000, _scope_rows(*mids, _row("mid", "fp8", "L4", 0.78, 150.0)))
    assert more.endswith("mid bf16 on 1x L4 ($120/month) and 1 more.")
    # nothing else within noise, no frontier column, or the chosen not on the frontier: no note
    assert headline(_answer(), 10_000, _scope_rows()) == headline(_answer(), 10_000)
    assert headline(_answer(), 10_000, _scope_rows(*mids).drop("on_frontier")) == headline(_answer(), 10_000)
    off = dict(CHOSEN, model="gone")
    assert "Within noise" not in headline(_answer(chosen=off), 10_000, _scope_rows(*mids))


# ---------------------------------------------------------------- the settings


def test_settings_by_hand() -> None:
    values = settings(Workload(hardware=("L4", "H100"), provider=None), _answer())
    assert values == {
        "task": "arc_easy",
        "traffic": "10,000 queries/day (peak 2x mean)",
        "target": ">= 90% of the best accuracy",
        "hardware": "L4, H100",
        "provider": "cheapest listed",
        "price": "list x 1, per-hour billing",
        "latency target": "2 s",
        "cost axis": "USD per month",
        "reported accuracy": "matching",
    }
    assert settings_line(values) == (
        "task: arc_easy | traffic: 10,000 queries/day (peak 2x mean) | target: >= 90% of the best accuracy | "
        "hardware: L4, H100 | provider: cheapest listed | price: list x 1, per-hour billing | latency target: 2 s | "
        "cost axis: USD per month | reported accuracy: matching"
    )


def test_settings_variants() -> None:
    wl = Workload(hardware=("L4", "H100"), provider="aws", price_scale=0.6, billing="per-second", latency_s=0.5,
                  measured_usd_per_hour=0.5, queries_per_day=2500, peak_to_mean=3.5)  # fmt: skip
    ans = _answer(task=MEAN_TASK, target_fraction=0.95, cost_axis="usd_per_correct")
    values = settings(wl, ans, placeholder="this machine", filters={"models": ["a", "b"]}, chance_normalised=True,
                      reported="all")  # fmt: skip
    assert values == {
        "task": "all tasks (mean)",
        "traffic": "2,500 queries/day (peak 3.5x mean)",
        "target": ">= 95% of the best accuracy (chance-normalised)",
        "hardware": "L4, H100; this machine at $0.50/h (placeholder)",
        "provider": "aws",
        "price": "list x 0.6, per-second billing",
        "latency target": "0.5 s",
        "cost axis": "USD per correct answer",
        "reported accuracy": "all",
        "models": "a, b",
    }
    assert settings(wl, ans)["hardware"] == "L4, H100; this machine at $0.50/h"  # priced: no placeholder said
    five = Workload(hardware=("L4", "H100", "T4", "A10G", "c7i.large"))
    assert settings(five, _answer(), hardware_options=5)["hardware"] == "all 5 options"
    assert settings(five, _answer(), hardware_options=12)["hardware"] == "5 of 12 options"
    assert settings(five, _answer())["hardware"] == "5 options"


def test_settings_traffic_of_an_hourly_profile() -> None:
    # 23 hours at 1 and one at 5: mean 28/24, so the peak is 5 x 24/28 = 4.29x the mean, not 2x
    wl = Workload(hardware=("L4",), queries_per_day=10_000, hourly_profile=(1.0,) * 23 + (5.0,))
    assert settings(wl, _answer())["traffic"] == "10,000 queries/day (hourly profile, peak 4.29x mean)"
    flat = Workload(hardware=("L4",), queries_per_day=10_000, peak_to_mean=3)
    assert settings(flat, _answer())["traffic"] == "10,000 queries/day (peak 3x mean)"


def test_settings_line() -> None:
    assert settings_line({"a": "1", "b": "x, y"}) == "a: 1 | b: x, y"
    assert settings_line({}) == ""
