"""`explorer cascade DIR --chain A/level,B/level --task T`: a tiered deployment on measured per-document results,
its thresholds fitted on one part of the documents and reported on the other, priced as one fleet per tier."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from explorer.cli_analysis import say_damage
from explorer.deployment.workload import add_workload_flags


def cascade_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The cascade report the flags ask for (measured rows of DIR only: a cascade routes on their samples)."""
    from explorer.analysis.report import load_inputs
    from explorer.cascade.report import cascade_report
    from explorer.deployment.table import bill, serve
    from explorer.deployment.workload import workload_from_args
    from explorer.hardware.catalog import load_catalog
    from explorer.records.reported import load_reported
    from explorer.records.store import load_samples

    inputs = load_inputs(args.dir, reported=False, cost_dirs=())
    say_damage(inputs.damaged)
    if inputs.evals.is_empty():
        raise FileNotFoundError(f"no records in {args.dir}/records: run `explorer sweep SPEC.yaml --out {args.dir}`")
    catalog, workload = load_catalog(args.catalog), workload_from_args(args)
    service = serve(inputs.evals, catalog, workload, ceilings=inputs.ceilings, profiles=inputs.profiles)
    thresholds = [_threshold(t) for t in args.thresholds.split(",")] if args.thresholds else None
    return cascade_report(
        bill(service, catalog, workload), load_samples(Path(args.dir)), [m for m in args.chain.split(",") if m],
        args.task, workload, thresholds=thresholds, target_fraction=args.target, signal=args.signal,
        seed=args.seed, fit_fraction=args.fit_fraction,
        reported_models=load_reported().get_column("model").unique().to_list(),
    )  # fmt: skip


def _threshold(text: str) -> float:
    """A --thresholds entry: a number, or 'never' (that tier always passes the query on)."""
    if text.strip().lower() in ("never", "inf"):
        return math.inf
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--thresholds: {text!r} is not a number or 'never'") from None


def jsonable(report: dict[str, Any]) -> dict[str, Any]:
    """`report` for JSON: a threshold no confidence reaches is written "never" (JSON has no infinity)."""
    from explorer.analysis.report import _clean

    def never(v: Any) -> Any:
        return "never" if isinstance(v, float) and math.isinf(v) else v

    out = {**report, "thresholds": [never(t) for t in report["thresholds"]]}
    out["curve"] = [{**p, "threshold": never(p["threshold"])} for p in report["curve"]]
    for part in ("fit", "held_out"):
        out[part] = {**report[part], "thresholds": [never(t) for t in report[part]["thresholds"]]}
    return _clean(out)


def _usd(v: float | None) -> str:
    return "-" if v is None else f"${v:,.0f}" if abs(v) >= 10 or v == 0 else f"${v:.3g}"


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _shares(values: list[float | None]) -> str:
    return ", ".join("-" if v is None else f"{v:.0%}" for v in values)


def _line(name: str, r: dict[str, Any]) -> str:
    return (f"  {name:<28} accuracy {r['accuracy']:.3f}   bill {_usd(r.get('monthly_usd'))}/month   answered by "
            f"tier {_shares(r['answered_share'])}")  # fmt: skip


def print_cascade(r: dict[str, Any]) -> None:
    s, h, f = r["split"], r["held_out"], r["fit"]
    w = r["workload"]
    print(f"cascade on {r['task']}: {' -> '.join(r['chain'])}  ({w['queries_per_day']:,.0f} queries/day, "
          f"{w['billing']} billing; confidence {r['signal']})")  # fmt: skip
    print(f"split: seed {s['seed']}, {s['n_fit']} documents to fit, {s['n_held_out']} held out ({s['method']})")
    target = "" if r["target_accuracy"] is None else f" (target {r['target_accuracy']:.3f} on the fit part, "
    target += (
        "" if r["target_met_on_fit"] is None else ("met)" if r["target_met_on_fit"] else "not met: most accurate)")
    )
    print(f"thresholds {', '.join(_num(t, '.4f') for t in r['thresholds'])}: {r['thresholds_source']}{target}")
    print(f"  fit part:  accuracy {f['accuracy']:.3f}, escalation {_shares(f['escalation_rate'])}")
    print(f"  held out:  accuracy {h['accuracy']:.3f}, escalation {_shares(h['escalation_rate'])}, bill "
          f"{_usd(h['monthly_usd'])}/month, {_num(h['effective_usd_per_query'], '.3g')} USD/query")  # fmt: skip
    lat = h["latency"]
    per_tier = ", ".join(f"{x:.3g}" for x in lat["by_tier_s"])
    print(f"  latency (held out): p50 {lat['p50_s']:.3g} s, p90 {lat['p90_s']:.3g} s, p99 {lat['p99_s']:.3g} s, "
          f"max {lat['max_s']:.3g} s; answered at tier k after {per_tier} s")  # fmt: skip
    for k, t in enumerate(h["tiers"]):
        print(f"  tier {k} {r['chain'][k]}: {t['share']:.0%} of the traffic, {t['replicas']}x, "
              f"{_usd(t['monthly_usd'])}/month, {_num(t['utilisation'], '.2%')} busy")  # fmt: skip
    print("references on the held-out documents:")
    for single in r["singles"]:
        print(_line(f"alone: {single['label']}", single))
    print(_line("oracle router (bound)", r["oracle"]))
    print(_line("random escalation, same rates", r["random"]))
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    note = f" ({r['route_note']})" if r["route_note"] else ""
    print(f"RouteLLM: PGR {fmt(r['pgr'])}, APGR {fmt(r['apgr'])}, CPT(50%) {fmt(r['cpt50'])}, "
          f"CPT(80%) {fmt(r['cpt80'])}; RouterBench AIQ {fmt(r['aiq'])}{note}")  # fmt: skip


def save_charts(report: dict[str, Any], path: str) -> Path:
    """The frontier of the held-out documents (members alone, cascade, oracle) beside the threshold curve."""
    import altair as alt
    import polars as pl

    from explorer.cascade.report import frontier_rows
    from explorer.charts.common import save_chart
    from explorer.charts.frontier import frontier_chart
    from explorer.charts.views import cascade_chart

    front = frontier_chart(frontier_rows(report), facet=None, title=f"{report['task']}: held-out documents")
    curve = cascade_chart(pl.DataFrame(report["curve"]), report["thresholds"][0])
    return save_chart(alt.hconcat(front, curve), path)


def cmd_cascade(args: argparse.Namespace) -> int:
    report = cascade_from_args(args)
    path = save_charts(report, args.chart) if args.chart else None
    if args.json:
        print(json.dumps(jsonable(report), indent=1, default=str))
        return 0
    print_cascade(report)
    if path:
        print(f"chart: {path}")
    return 0


def add_cascade_parser(sub) -> None:
    p = sub.add_parser("cascade", help="a tiered deployment (small model first) on measured per-document results")
    p.add_argument("dir", help="results folder (its samples/ hold the per-document results)")
    p.add_argument("--chain", required=True, help="members in order: model/quant[@hardware],... (2 or more)")
    p.add_argument("--task", required=True, help="the task to route (multiple choice)")
    p.add_argument("--thresholds", help="t_0,...: tier k answers when its confidence >= t_k ('never': it always "
                   "passes the query on; default: fitted)")  # fmt: skip
    p.add_argument("--target", type=float, default=0.95,
                   help="fit: the cheapest thresholds reaching this share of the best member's accuracy")  # fmt: skip
    p.add_argument("--signal", default="max_prob", help="confidence: max_prob (default) or margin")
    p.add_argument("--seed", type=int, default=0, help="seed of the fit / held-out split")
    p.add_argument("--fit-fraction", type=float, default=0.5, help="share of the documents thresholds are fitted on")
    p.add_argument("--catalog", help="hardware catalog YAML (default data/hardware.yaml)")
    p.add_argument("--json", action="store_true", help="everything as JSON")
    p.add_argument("--chart", help="also write the frontier (with the cascade) and the threshold curve (.png/.svg)")
    add_workload_flags(p)
    p.set_defaults(func=cmd_cascade)
