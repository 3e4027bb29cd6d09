"""One cascade, end to end: the chain's rows in a deployment table, their samples, the split, the thresholds,
the bill and the references (`cascade_report`: a JSON-ready dict for the CLI, the app and the exports).

A chain member is ``model/quant`` or ``model/quant@hardware`` (the model may hold slashes: the last one separates
the level). Without ``@hardware`` a member runs where it alone is cheapest for this task and traffic. A member
needs measured per-document samples: rows with reported accuracy, or random weights, cannot be in a cascade.
The target is `target_fraction` x the accuracy of the most accurate member on the fit part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import polars as pl

from explorer.analysis.frontier import MEAN_TASK
from explorer.analysis.recommend import check_fraction
from explorer.cascade.confidence import CascadeError, check_signal, doc_signals
from explorer.cascade.cost import chain_bill, latency, priced
from explorer.cascade.fit import NEVER, candidates, fit_thresholds, split_docs
from explorer.cascade.metrics import aiq, oracle, pgr, random_escalation, route_metrics, singles
from explorer.cascade.simulate import route, simulate, wide_docs
from explorer.deployment.workload import Workload
from explorer.hints import did_you_mean

MEMBER_FIELDS = ("model", "quant", "hardware", "cell_id", "service_s_per_query", "latency_s", "usd_per_hour",
                 "cost_provenance", "service_source", "value")  # fmt: skip


def parse_member(text: str) -> tuple[str, str, str | None]:
    """'model/quant[@hardware]' -> (model, quant, hardware or None)."""
    spec, _, hardware = text.strip().partition("@")
    model, sep, quant = spec.rpartition("/")
    if not sep or not model or not quant:
        raise CascadeError(f"chain member {text!r}: write it as model/quant or model/quant@hardware")
    return model, quant, hardware or None


def _unknown(text: str, what: str, word: str, names: Sequence[str]) -> CascadeError:
    return CascadeError(f"{text}: no {what} {word!r}{did_you_mean(word, names)}; known: {', '.join(names)}")


def _pick(rows: pl.DataFrame, text: str, reported: Sequence[str]) -> dict[str, Any]:
    model, quant, hardware = parse_member(text)
    if model.startswith("random:"):
        raise CascadeError(f"{text}: random weights measure cost only; their answers mean nothing in a cascade")
    mine = rows.filter(pl.col("model") == model)
    if mine.is_empty():
        if model in reported:
            raise CascadeError(f"{text}: its accuracy is reported, not measured here: there are no per-document "
                               "samples to route on, so it cannot be in a cascade")  # fmt: skip
        names = rows.get_column("model").unique().sort().to_list()
        raise _unknown(text, "measured model", model, names)
    mine = mine.filter(pl.col("quant") == quant)
    if mine.is_empty():
        levels = rows.filter(pl.col("model") == model).get_column("quant").unique().sort().to_list()
        raise _unknown(text, f"level of {model}", quant, levels)
    return _on_hardware(mine, text, hardware)


def _on_hardware(mine: pl.DataFrame, text: str, hardware: str | None) -> dict[str, Any]:
    if hardware is not None:
        at = mine.filter(pl.col("hardware").str.to_lowercase() == hardware.lower())
        if at.is_empty():
            names = mine.get_column("hardware").to_list()
            raise _unknown(text, "hardware", hardware, names)
        row = at.row(0, named=True)
        if row["excluded_reason"] is not None:
            raise CascadeError(f"{text}: cannot be served there: {row['excluded_reason']}")
        return row
    ok = mine.filter(pl.col("excluded_reason").is_null() & pl.col("monthly_usd").is_not_null())
    if ok.is_empty():
        reasons = "; ".join(sorted(set(mine.get_column("excluded_reason").drop_nulls().to_list())))
        raise CascadeError(f"{text}: no hardware can serve it ({reasons})")
    return ok.sort(["monthly_usd", "hardware"]).row(0, named=True)


def members_of(table: pl.DataFrame, chain: Sequence[str], task: str, reported: Sequence[str] = ()) -> list[dict]:
    """The deployment-table row of every chain member on its hardware, for `task`."""
    if len(chain) < 2:
        raise CascadeError(f"a cascade needs a chain of at least 2 configurations, got {len(chain)}")
    rows = table.filter(pl.col("task") == task)
    if rows.is_empty():
        tasks = sorted(set(table.get_column("task").to_list()) - {MEAN_TASK})
        raise _unknown("cascade", "measured rows for task", task, tasks)
    if "accuracy_provenance" in rows.columns:
        rows = rows.filter(pl.col("accuracy_provenance") == "measured")
    return [_pick(rows, text, reported) for text in chain]


def _label(row: Mapping[str, Any]) -> str:
    return f"{row['model']}/{row['quant']}@{row['hardware']}"


def chain_docs(members: Sequence[Mapping[str, Any]], samples: pl.DataFrame) -> pl.DataFrame:
    """The wide per-document frame of the chain (see `explorer.cascade.simulate`)."""
    per = []
    for row in members:
        own = samples.filter(pl.col("cell_id") == row["cell_id"]) if not samples.is_empty() else samples
        per.append(doc_signals(own, _label(row)))
    return wide_docs(per, [_label(r) for r in members])


def _biller(members: Sequence[Mapping[str, Any]], workload: Workload):
    @lru_cache(maxsize=4096)
    def cached(shares: tuple[float, ...]) -> float:
        return chain_bill(members, shares, workload)

    return lambda shares: cached(tuple(round(s, 12) for s in shares))


def _evaluate(docs, members, thresholds, signal, workload) -> dict[str, Any]:
    out = priced(members, simulate(docs, thresholds, signal), workload)
    out["latency"] = latency(route(docs, thresholds, signal), members, workload.latency_s)
    return out


def _curve(fit, held, members, thresholds, signal, workload) -> list[dict[str, Any]]:
    """Tier 0's threshold swept over its fit-part candidates (the others as chosen), each point on held-out."""
    bill = _biller(members, workload)
    points = []
    for t0 in [0.0, *candidates(fit, 0, signal, 200)]:
        ts = [t0, *thresholds[1:]]
        r = simulate(held, ts, signal)
        points.append({"threshold": t0, "accuracy": r["accuracy"], "monthly_usd": bill(r["reach_share"]),
                       "escalation_rate": r["escalation_rate"][0],
                       "strong_share": r["answered_share"][-1]})  # fmt: skip
    return points


def _thresholds(fit, members, workload, thresholds, target_fraction, signal) -> tuple[list[float], dict | None]:
    if thresholds is not None:
        if len(thresholds) != len(members) - 1:
            n = len(members)
            raise CascadeError(f"a chain of {n} needs {n - 1} threshold(s), got {len(thresholds)}")
        return [float(t) for t in thresholds], None
    check_fraction(target_fraction, "target")
    best = max(float(fit.get_column(f"correct_{k}").mean()) for k in range(len(members)))
    fitted = fit_thresholds(fit, _biller(members, workload), target_fraction * best, signal)
    return fitted["thresholds"], fitted


def cascade_report(
    table: pl.DataFrame,
    samples: pl.DataFrame,
    chain: Sequence[str],
    task: str,
    workload: Workload,
    *,
    thresholds: Sequence[float] | None = None,
    target_fraction: float = 0.95,
    signal: str = "max_prob",
    seed: int = 0,
    fit_fraction: float = 0.5,
    reported_models: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything about one cascade on `task` (see the package text); `table`: a deployment table (`bill`),
    `samples`: `load_samples` of its folder; `thresholds`: given, else fitted at `target_fraction`."""
    if workload.is_generation:
        raise CascadeError("cascades route scored queries: drop --output-tokens (generation workloads)")
    check_signal(signal)
    members = members_of(table, chain, task, reported_models)
    docs = chain_docs(members, samples)
    fit, held, split = split_docs(docs, seed, fit_fraction)
    chosen, fitted = _thresholds(fit, members, workload, thresholds, target_fraction, signal)
    on_fit = _evaluate(fit, members, chosen, signal, workload)
    on_held = _evaluate(held, members, chosen, signal, workload)
    alone = singles(held, members, workload)
    weak, strong = alone[0]["accuracy"], alone[-1]["accuracy"]
    curve = _curve(fit, held, members, chosen, signal, workload)
    return {
        "task": task,
        "signal": signal,
        "chain": [_label(r) for r in members],
        "members": [{k: r.get(k) for k in MEMBER_FIELDS} for r in members],
        "workload": workload.as_dict(),
        "split": split,
        "thresholds": chosen,
        "thresholds_source": "given" if fitted is None else "fitted on the fit part",
        "target_accuracy": None if fitted is None else fitted["target_accuracy"],
        "target_met_on_fit": None if fitted is None else fitted["target_met"],
        "fit": on_fit,
        "held_out": on_held,
        "singles": [{**s, "label": _label(members[s["member"]])} for s in alone],
        "oracle": oracle(held, members, alone, workload),
        "random": random_escalation(on_held, alone),
        "pgr": pgr(on_held["accuracy"], weak, strong),
        **route_metrics([(p["strong_share"], p["accuracy"]) for p in curve], weak, strong),
        "aiq": aiq([(p["monthly_usd"], p["accuracy"]) for p in curve]),
        "curve": curve,
    }


def never() -> float:  # noqa: D103
    """The threshold of a tier that always escalates (for callers building thresholds by hand)."""
    return NEVER


def _point(r: Mapping[str, Any], result: Mapping[str, Any], mark: str, name: str, members=None) -> dict[str, Any]:
    members = members or r["members"]
    hardware = list(dict.fromkeys(m["hardware"] for m in members))
    measured = all(m["cost_provenance"] == "measured" for m in members)
    return {
        "model": name,
        "quant": " -> ".join(f"{m['model']}/{m['quant']}" for m in members)
        if len(members) > 1
        else members[0]["quant"],
        "hardware": " + ".join(hardware),
        "task": r["task"],
        "value": result["accuracy"],
        "n_docs": r["split"]["n_held_out"],
        "monthly_usd": result["monthly_usd"],
        "effective_usd_per_query": result.get("effective_usd_per_query"),
        "usd_per_correct": result.get("usd_per_correct"),
        "replicas": sum(t["replicas"] or 0 for t in result["tiers"]),
        "accuracy_provenance": "measured",
        "accuracy_mark": mark,
        "cost_provenance": "measured" if measured else "projected",
        "service_source": f"one fleet per tier; accuracy on {r['split']['n_held_out']} held-out documents",
    }


def frontier_rows(r: Mapping[str, Any]) -> pl.DataFrame:
    """Each member alone, the cascade and its oracle bound, all on the held-out documents, as rows for
    `explorer.charts.frontier.frontier_chart` (`on_frontier` over the deployable rows: the oracle is a bound)."""
    from explorer.analysis.frontier import pareto_frontier

    ts = ", ".join(f"{t:.3g}" for t in r["thresholds"])
    alone = [_point(r, s, "measured", r["members"][s["member"]]["model"], [r["members"][s["member"]]])
             for s in r["singles"]]  # fmt: skip
    real = pareto_frontier(pl.DataFrame([*alone, _point(r, r["held_out"], "cascade (held-out)", f"cascade t={ts}")]),
                           cost="monthly_usd", by=())  # fmt: skip
    bound = pl.DataFrame([_point(r, r["oracle"], "oracle router (bound)", "oracle router")])
    order = {"measured": 0, "cascade (held-out)": 1}
    real = real.sort(pl.col("accuracy_mark").replace_strict(order, return_dtype=pl.Int64), maintain_order=True)
    return pl.concat([real, bound.with_columns(pl.lit(False).alias("on_frontier"))], how="diagonal_relaxed")
