"""Cascades on hand-made per-document tables with known answers, and on the shipped demo samples (recomputed here
from the raw JSONL files, by hand), through the CLI and the tiered page."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import polars as pl
import pytest

from explorer.cascade.confidence import CascadeError, doc_signals
from explorer.cascade.cost import latency, priced
from explorer.cascade.fit import NEVER, split_docs
from explorer.cascade.metrics import aiq, hull, oracle, pgr, random_escalation, route_metrics, singles
from explorer.cascade.report import cascade_report, frontier_rows, parse_member
from explorer.cascade.simulate import route, simulate
from explorer.charts.frontier import frontier_chart
from explorer.charts.views import cascade_chart
from explorer.cli import main
from explorer.deployment.workload import Workload

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_cpu"


def _docs(conf: list[list[float]], correct: list[list[float]]) -> pl.DataFrame:
    """A wide table: tier k's max_prob (margin = the same) and correctness per document."""
    cols = {"doc_hash": [f"h{i}" for i in range(len(correct[0]))], "doc_id": list(range(len(correct[0])))}
    for k, (c, ok) in enumerate(zip(conf, correct, strict=True)):
        cols |= {f"correct_{k}": [float(x) for x in ok], f"max_prob_{k}": c, f"margin_{k}": c}
    return pl.DataFrame(cols)


# four documents: tier 0 is sure of 0 and 2, tier 1 (the big one) gets 0, 1, 2 right
TWO = _docs([[0.9, 0.4, 0.8, 0.3], [1.0, 1.0, 1.0, 1.0]], [[1, 0, 0, 1], [1, 1, 1, 0]])


def test_never_escalate_all_escalate_and_a_threshold_between() -> None:
    never = simulate(TWO, [0.0])
    assert never["accuracy"] == 0.5 and never["answered_share"] == [1.0, 0.0] and never["escalation_rate"] == [0.0]
    always = simulate(TWO, [NEVER])
    assert always["accuracy"] == 0.75 and always["reach_share"] == [1.0, 1.0] and always["escalation_rate"] == [1.0]
    mid = simulate(TWO, [0.5])  # docs 0, 2 stay (right, wrong); 1, 3 go on (right, wrong)
    assert mid["accuracy"] == 0.5 and mid["answered_share"] == [0.5, 0.5] and mid["reach_share"] == [1.0, 0.5]
    assert route(TWO, [0.5])["answered_by"].to_list() == [0, 1, 0, 1]


def test_a_chain_of_three() -> None:
    docs = _docs([[0.9, 0.2, 0.2, 0.2], [0.0, 0.9, 0.1, 0.1], [1.0] * 4], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    r = simulate(docs, [0.5, 0.5])  # doc 0 at tier 0, doc 1 at tier 1, docs 2-3 at tier 2
    assert r["answered_share"] == [0.25, 0.25, 0.5] and r["reach_share"] == [1.0, 0.75, 0.5]
    assert r["accuracy"] == 0.75 and r["escalation_rate"] == pytest.approx([0.75, 2 / 3])
    with pytest.raises(CascadeError, match="needs 2 threshold"):
        simulate(docs, [0.5])


def test_confidence_from_logliks_and_generation_tasks_refused() -> None:
    rows = pl.DataFrame(
        {"doc_hash": ["a"], "doc_id": [0], "task": ["t"], "correct": [1.0],
         "logliks": [[math.log(0.5), math.log(0.3), math.log(0.2)]]},
        schema_overrides={"logliks": pl.List(pl.Float64)},
    )  # fmt: skip
    out = doc_signals(rows).row(0, named=True)
    assert out["max_prob"] == pytest.approx(0.5) and out["margin"] == pytest.approx(0.2)
    gen = rows.with_columns(pl.lit(None, dtype=pl.List(pl.Float64)).alias("logliks"), pl.lit("gsm8k").alias("task"))
    with pytest.raises(CascadeError, match="gsm8k is a generation task"):
        doc_signals(gen)


def _member(service_s: float, usd_per_hour: float, latency_s: float) -> dict:
    return {"service_s_per_query": service_s, "usd_per_hour": usd_per_hour, "latency_s": latency_s,
            "model": "m", "quant": "q", "hardware": "h", "cost_provenance": "projected"}  # fmt: skip


def test_each_tier_is_a_fleet_for_its_share_of_the_traffic() -> None:
    w = Workload(queries_per_day=1e6)  # peak 23.15 q/s, utilisation ceiling 80%, 720 h/month
    members = [_member(0.1, 1.0, 0.1), _member(1.0, 10.0, 1.0)]
    out = priced(members, {"accuracy": 0.8, "reach_share": [1.0, 0.3]}, w)
    # tier 0: ceil(23.148 x 0.1 / 0.8) = 3 replicas x 720 h x $1; tier 1: ceil(0.3 x 23.148 x 1.0 / 0.8) = 9 x $10
    assert [t["replicas"] for t in out["tiers"]] == [3, 9]
    assert out["monthly_usd"] == pytest.approx(3 * 720 * 1.0 + 9 * 720 * 10.0)
    assert out["effective_usd_per_query"] == pytest.approx(out["monthly_usd"] / 3e7)
    lat = latency(route(TWO, [0.5]), members, target_s=1.05)
    assert lat["by_tier_s"] == [0.1, 1.1] and lat["max_s"] == 1.1 and lat["share_over_target"] == 0.5


def test_oracle_random_escalation_and_singles() -> None:
    w = Workload(queries_per_day=1e6)
    members = [_member(0.1, 1.0, 0.1), _member(1.0, 10.0, 1.0)]
    alone = singles(TWO, members, w)
    assert [a["accuracy"] for a in alone] == [0.5, 0.75]
    best = oracle(TWO, members, alone, w)  # doc 0, 3 -> tier 0 (cheapest correct), 1, 2 -> tier 1
    assert best["accuracy"] == 1.0 and best["answered_share"] == [0.5, 0.5]
    mid = priced(members, simulate(TWO, [0.5]), w)
    rnd = random_escalation(mid, alone)
    assert rnd["accuracy"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.75) and rnd["monthly_usd"] == mid["monthly_usd"]


def test_routellm_and_routerbench_metrics() -> None:
    assert pgr(0.6, 0.5, 0.7) == pytest.approx(0.5) and pgr(0.6, 0.7, 0.5) is None
    # PGR 0 at 0% strong calls, 0.6 at 20%, 0.9 at 50%, 1 at 100%
    m = route_metrics([(0.2, 0.56), (0.5, 0.59)], weak=0.5, strong=0.6)
    area = 0.2 * 0.6 / 2 + 0.3 * (0.6 + 0.9) / 2 + 0.5 * (0.9 + 1.0) / 2
    assert m["apgr"] == pytest.approx(area) and m["cpt50"] == 0.2 and m["cpt80"] == 0.5
    # (1, 0.5) (2, 0.55) (3, 0.9) (4, 0.8): (2, 0.55) is under the chord, (4, 0.8) flattened to 0.9
    assert hull([(1, 0.5), (2, 0.55), (3, 0.9), (4, 0.8)]) == [(1, 0.5), (3, 0.9), (4, 0.9)]
    assert aiq([(1, 0.5), (2, 0.55), (3, 0.9), (4, 0.8)]) == pytest.approx((2 * 0.7 + 1 * 0.9) / 3)


def _samples(cell: str, conf: list[float], correct: list[int]) -> pl.DataFrame:
    n = len(conf)
    logliks = [[math.log(p), math.log(1 - p)] for p in conf]
    hashes = [f"h{i}" for i in range(n)]
    correct_f = [float(c) for c in correct]
    return pl.DataFrame(
        {
            "cell_id": cell,
            "task": "t",
            "doc_id": list(range(n)),
            "doc_hash": hashes,
            "correct": correct_f,
            "logliks": logliks,
        }
    )


def _table() -> pl.DataFrame:
    rows = [{"task": "t", "model": m, "quant": "q", "hardware": "h", "excluded_reason": None, "monthly_usd": usd,
             "service_s_per_query": s, "usd_per_hour": usd / 720, "latency_s": s, "cell_id": m,
             "cost_provenance": "measured", "accuracy_provenance": "measured", "value": 0.5, "service_source": "x"}
            for m, s, usd in (("small", 0.01, 72.0), ("big", 0.1, 720.0))]  # fmt: skip
    return pl.DataFrame(rows)


def test_split_is_seeded_disjoint_and_thresholds_never_see_the_held_out_half() -> None:
    n = 40
    ids = _docs([[0.5] * n, [0.5] * n], [[0] * n, [0] * n])
    fit, held, split = split_docs(ids, seed=3)
    assert set(fit["doc_id"]).isdisjoint(held["doc_id"]) and fit.height + held.height == n
    assert split["fit_doc_ids"] == sorted(fit["doc_id"]) and split["seed"] == 3
    assert split_docs(ids, seed=3)[2] == split and split_docs(ids, seed=4)[2]["fit_doc_ids"] != split["fit_doc_ids"]
    # the small model is right on even documents; on the fit half it is surer of those (0.95 vs 0.9), on the
    # held-out half surer of the wrong ones: a threshold that saw the held-out half would not be in (0.9, 0.95]
    in_fit = set(split["fit_doc_ids"])
    right = [1 if i % 2 == 0 else 0 for i in range(n)]
    conf = [(0.95 if r else 0.9) if i in in_fit else (0.9 if r else 0.95) for i, r in enumerate(right)]
    samples = pl.concat([_samples("small", conf, right), _samples("big", [0.99] * n, [1] * n)])
    r = cascade_report(_table(), samples, ["small/q", "big/q"], "t", Workload(queries_per_day=1e6), seed=3,
                       target_fraction=1.0)  # fmt: skip
    assert 0.9 < r["thresholds"][0] <= 0.95 and r["fit"]["accuracy"] == 1.0 and r["target_met_on_fit"]
    assert r["split"] == split
    # held out: the wrong documents (0.95) stay with the small model, the right ones (0.9) escalate to big
    assert r["held_out"]["accuracy"] == 0.5 and r["held_out"]["escalation_rate"] == [0.5]
    assert r["fit"]["n_docs"] == r["held_out"]["n_docs"] == 20


def test_parse_member() -> None:
    assert parse_member("meta-llama/Llama-2-7b-hf/int4@H100-SXM") == ("meta-llama/Llama-2-7b-hf", "int4", "H100-SXM")
    assert parse_member("smollm2-135m/int8") == ("smollm2-135m", "int8", None)
    with pytest.raises(CascadeError, match="model/quant"):
        parse_member("smollm2-135m")


# ------------------------------------------------------------------ the shipped demo samples, by hand
def _raw(model: str, quant: str, task: str) -> tuple[dict, list[dict]]:
    for path in sorted((DEMO / "records").glob("*.json")):
        rec = json.loads(path.read_text())
        if (rec["model"], rec["quant"], rec["task"]) == (model, quant, task):
            lines = (DEMO / "samples" / f"{rec['cell_id']}.jsonl").read_text().splitlines()
            return rec, [json.loads(line) for line in lines]
    raise AssertionError(f"no demo record {model} {quant} {task}")


def _by_hand(small: list[dict], big: list[dict], t: float, seed: int = 0) -> tuple[float, float, list[int]]:
    """Held-out accuracy and escalation of a two-tier cascade at threshold t, from the raw samples."""
    conf = {}
    for s in small:
        top = max(s["logliks"])
        conf[s["doc_hash"]] = 1.0 / sum(math.exp(v - top) for v in s["logliks"])
    right_small = {s["doc_hash"]: s["correct"] for s in small}
    right_big = {s["doc_hash"]: s["correct"] for s in big}
    hashes = sorted(right_small, key=lambda h: hashlib.sha256(f"{seed}:{h}".encode()).hexdigest())
    held = hashes[len(hashes) // 2 :]
    stays = [h for h in held if conf[h] >= t]
    correct = sum(right_small[h] for h in stays) + sum(right_big[h] for h in held if h not in stays)
    ids = sorted(s["doc_id"] for s in small if s["doc_hash"] in set(hashes[: len(hashes) // 2]))
    return correct / len(held), 1 - len(stays) / len(held), ids


def s_id(rows: list[dict], doc_hash: str) -> int:
    return next(s["doc_id"] for s in rows if s["doc_hash"] == doc_hash)


def _cli_json(capsys, *args: str) -> dict:
    assert main(["cascade", str(DEMO), *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("task", ["arc_easy", "piqa", "boolq"])
def test_cli_cascade_on_the_demo_samples_matches_a_hand_computation(task: str, capsys) -> None:
    chain = "smollm2-135m/int4@c7i.xlarge,gemma3-270m/int8@c7i.xlarge"
    r = _cli_json(capsys, "--chain", chain, "--task", task, "--queries-per-day", "1000000")
    _, small = _raw("smollm2-135m", "int4", task)
    _, big = _raw("gemma3-270m", "int8", task)
    acc, esc, fit_ids = _by_hand(small, big, r["thresholds"][0])
    assert r["held_out"]["accuracy"] == pytest.approx(acc) and r["held_out"]["escalation_rate"][0] == pytest.approx(esc)
    assert r["split"]["fit_doc_ids"] == fit_ids and r["split"]["n_held_out"] == 50
    # the bill: each tier's fleet for its share, at the listed prices (what `frontier --json` bills them)
    w = Workload(queries_per_day=1e6)
    peak = w.peak_qps
    usd = 0.0
    for member, share in zip(r["members"], r["held_out"]["reach_share"], strict=True):
        replicas = max(1, math.ceil(peak * share * member["service_s_per_query"] / 0.8 - 1e-9))
        usd += replicas * 720 * member["usd_per_hour"]
    assert r["held_out"]["monthly_usd"] == pytest.approx(usd)
    # the oracle: each held-out document to the cheaper member that is right (the small one on ties), by hand
    held = [h for h in {s["doc_hash"] for s in small} if s_id(small, h) not in set(fit_ids)]
    right = {s["doc_hash"]: s["correct"] for s in small}, {s["doc_hash"]: s["correct"] for s in big}
    cheap = 0 if r["singles"][0]["monthly_usd"] <= r["singles"][1]["monthly_usd"] else 1
    to_big = sum(1 for h in held if right[1 - cheap][h] and not right[cheap][h]) / len(held)
    assert r["oracle"]["answered_share"][1 - cheap] == pytest.approx(to_big)
    assert r["oracle"]["accuracy"] == pytest.approx(sum(1 for h in held if right[0][h] or right[1][h]) / len(held))


def test_cli_cascade_text_and_errors(capsys) -> None:
    assert main(["cascade", str(DEMO), "--chain", "smollm2-135m/int8,gemma3-270m/bf16", "--task", "arc_easy"]) == 0
    out = capsys.readouterr().out
    assert "held out:" in out and "oracle router" in out and "fit part:" in out and "APGR" in out
    for chain, message in (
        ("Qwen/Qwen2.5-72B-Instruct/int4,gemma3-270m/int8", "reported, not measured here"),
        ("smolm2-135m/int4,gemma3-270m/int8", "did you mean 'smollm2-135m'"),
        ("random:llama-3.1-8b/bf16,gemma3-270m/int8", "random weights"),
        ("smollm2-135m/int8", "at least 2"),
    ):
        assert main(["cascade", str(DEMO), "--chain", chain, "--task", "arc_easy"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_given_thresholds_are_used_as_given(capsys) -> None:
    r = _cli_json(capsys, "--chain", "smollm2-135m/int8,gemma3-270m/bf16", "--task", "piqa", "--thresholds", "0.7")
    assert r["thresholds"] == [0.7] and r["thresholds_source"] == "given" and r["target_accuracy"] is None
    _, small = _raw("smollm2-135m", "int8", "piqa")
    _, big = _raw("gemma3-270m", "bf16", "piqa")
    assert r["held_out"]["accuracy"] == pytest.approx(_by_hand(small, big, 0.7)[0])


def test_charts_mark_the_cascade_and_the_oracle(capsys) -> None:
    r = _cli_json(capsys, "--chain", "smollm2-135m/int8,gemma3-270m/int8", "--task", "boolq")
    rows = frontier_rows(r)
    assert rows["accuracy_mark"].to_list() == ["measured", "measured", "cascade (held-out)", "oracle router (bound)"]
    assert rows["value"].to_list()[2:] == [r["held_out"]["accuracy"], r["oracle"]["accuracy"]]
    spec = frontier_chart(rows, facet=None).to_dict()
    drawn = next(iter(spec["datasets"].values()))
    assert {d["accuracy_mark"] for d in drawn} >= {"cascade (held-out)", "oracle router (bound)"}
    curve = cascade_chart(pl.DataFrame(r["curve"]), r["thresholds"][0]).to_dict()
    assert len(curve["vconcat"]) == 3
    ys = [p["layer"][0]["encoding"]["y"]["field"] for p in curve["vconcat"]]
    assert ys == ["accuracy", "monthly_usd", "escalation_rate"]
    rules = [d for d in curve["datasets"].values() if d and set(d[0]) == {"threshold"}]
    assert rules and rules[0][0]["threshold"] == pytest.approx(r["thresholds"][0])


def test_tiered_page_gives_the_cli_numbers(capsys) -> None:
    from explorer.ui.tiered import TieredApp

    app = TieredApp(DEMO)
    assert app.error is None and app.report is not None
    app.tiers[0].value, app.tiers[1].value = "smollm2-135m/int4", "gemma3-270m/int8"
    app.hardware[1].value = "L4"
    app.task.value = "boolq"
    app.deploy.traffic.value = 1e6
    app.target.value = 0.9
    cli = _cli_json(capsys, *app.flags())
    assert app.report["held_out"]["monthly_usd"] == pytest.approx(cli["held_out"]["monthly_usd"])
    assert app.report["held_out"]["accuracy"] == cli["held_out"]["accuracy"]
    assert app.report["thresholds"] == cli["thresholds"] and app.report["chain"][1].endswith("@L4")
    assert f"${cli['held_out']['monthly_usd']:,.0f}/month" in app.summary.value
    app.fit.value = False
    app.thresholds[0].value = 0.8
    assert app.report["thresholds"] == [0.8] and app.report["thresholds_source"] == "given"
    app.tiers[1].value = "smollm2-135m/int4"
    app.tiers[0].value = "gemma3-270m/int8"
    app.hardware[0].value = "c7i.large"  # gemma's BoolQ working set (8.7 GB) does not fit 4 GiB
    assert app.report is None and "cannot be served there" in app.status.value


def test_billing_models_zero_traffic_and_a_tier_no_query_reaches(capsys) -> None:
    chain = ["--chain", "smollm2-135m/int8@c7i.large,gemma3-270m/bf16@L4", "--task", "arc_easy"]
    per_s = _cli_json(capsys, *chain, "--billing", "per-second", "--thresholds", "0.7")
    busy = sum(m["service_s_per_query"] * m["usd_per_hour"] / 3600 * share * 10_000 * 30
               for m, share in zip(per_s["members"], per_s["held_out"]["reach_share"], strict=True))  # fmt: skip
    assert per_s["held_out"]["monthly_usd"] == pytest.approx(busy)  # serverless: busy seconds only
    owned = _cli_json(
        capsys,
        "--chain",
        "smollm2-135m/int8@L4,gemma3-270m/bf16@H100-SXM",
        "--task",
        "arc_easy",
        "--billing",
        "self-hosted",
        "--thresholds",
        "0.7",
    )
    assert owned["held_out"]["monthly_usd"] > 0 and all(t["replicas"] >= 1 for t in owned["held_out"]["tiers"])
    never = _cli_json(capsys, *chain, "--thresholds", "0")  # the first tier answers everything
    assert never["held_out"]["tiers"][1] == {**never["held_out"]["tiers"][1], "replicas": 0, "monthly_usd": 0.0}
    assert never["held_out"]["monthly_usd"] == pytest.approx(never["singles"][0]["monthly_usd"])
    assert main(["cascade", str(DEMO), *chain, "--queries-per-day", "0"]) == 0
    assert "held out:" in capsys.readouterr().out
    always = _cli_json(capsys, *chain, "--thresholds", "never")
    assert always["thresholds"] == ["never"] and always["held_out"]["escalation_rate"] == [1.0]


def test_a_chain_of_three_through_the_cli(capsys) -> None:
    r = _cli_json(capsys, "--chain", "smollm2-135m/int4,smollm2-135m/int8,gemma3-270m/bf16", "--task", "piqa")
    assert len(r["thresholds"]) == 2 and len(r["held_out"]["tiers"]) == 3
    shares = r["held_out"]["answered_share"]
    assert sum(shares) == pytest.approx(1.0) and r["held_out"]["reach_share"][2] == pytest.approx(shares[2])
    lat = r["held_out"]["latency"]["by_tier_s"]
    assert lat == pytest.approx([sum(m["latency_s"] for m in r["members"][: k + 1]) for k in range(3)])


def test_a_null_loglik_is_a_choice_with_no_chance() -> None:
    rows = pl.DataFrame(
        {"doc_hash": ["a"], "doc_id": [0], "task": ["t"], "correct": [1.0], "logliks": [[-1.0, None, -1.0]]},
        schema_overrides={"logliks": pl.List(pl.Float64)},
    )  # fmt: skip
    out = doc_signals(rows).row(0, named=True)
    assert out["max_prob"] == pytest.approx(0.5) and out["margin"] == pytest.approx(0.0)


def test_tiered_page_clears_an_old_cascade_on_error() -> None:
    from explorer.ui.tiered import TieredApp

    app = TieredApp(DEMO)
    assert app.jchart.spec is not None and app.flags_html.value
    app.deploy.billing.value = "self-hosted"
    assert app.error is None and app.report["workload"]["billing"] == "self-hosted"
    app.tiers[1].value = "gemma3-270m/int8"
    app.hardware[1].value = "c7i.large"
    app.task.value = "boolq"  # gemma's BoolQ working set does not fit a c7i.large
    assert app.report is None and app.chart is None and app.jchart.spec is None and app.flags_html.value == ""
