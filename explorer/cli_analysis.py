"""The analysis commands: `explorer frontier DIR` (deployments, the answer) and `explorer claim DIR` (how much of
the reference's accuracy a cheaper configuration gives, and what each quantization level buys)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from explorer.deployment.workload import add_workload_flags

PER_HARDWARE = ["hardware", "model", "quant", "replicas", "monthly_usd", "monthly_usd_optimistic", "utilisation",
                "idle_share", "value", "accuracy_provenance", "cost_provenance", "reason"]  # fmt: skip
QUANT_VIEW = ["family", "model", "study", "quant", "accuracy_lost_points", "bill_saved", "hardware",
              "accuracy_provenance", "cost_provenance"]  # fmt: skip
_measure: Callable | None = None  # `explorer ceilings`, given by the main parser


def _print_frame(frame, columns: list[str], rows: int = 40) -> None:
    import polars as pl

    keep = [c for c in columns if c in frame.columns]
    with pl.Config(tbl_rows=rows, tbl_cols=-1, tbl_width_chars=250, tbl_hide_dataframe_shape=True, fmt_str_lengths=60,
                   fmt_float="mixed", float_precision=4):  # fmt: skip
        print(frame.select(keep))


def say_damage(damaged) -> None:
    """Damaged files are never used: say so on stderr, never drop them silently."""
    from explorer.records.integrity import damage_line

    for d in damaged:
        print(damage_line(d), file=sys.stderr)


def _inputs(args: argparse.Namespace):
    """The results folder's rows (filtered by --only-*) with the reported ones, after measuring ceilings if asked."""
    from explorer.analysis.report import COST_DIRS, filter_inputs, load_inputs

    out_dir = Path(args.dir)
    if getattr(args, "measure_ceilings", False) and _measure is not None:
        for dtype in ("bfloat16", "float32"):
            _measure(argparse.Namespace(device="cpu", dtype=dtype, out=str(out_dir)))
    reported = False if args.no_reported else (args.reported or True)
    inputs = load_inputs(out_dir, reported=reported, cost_dirs=[*COST_DIRS, *(args.cost_dir or [])])
    say_damage(inputs.damaged)
    if inputs.evals.is_empty():
        raise FileNotFoundError(f"no records in {out_dir}/records: run `explorer sweep SPEC.yaml --out {out_dir}`")
    inputs = filter_inputs(inputs, args.only_model or (), args.only_quant or (), args.only_task or ())
    if inputs.evals.is_empty():
        raise ValueError("no records match the --only-model / --only-quant / --only-task filters")
    return inputs


def build(args: argparse.Namespace):
    """The Report the flags ask for."""
    from explorer.analysis.report import build_report
    from explorer.deployment.workload import workload_from_args
    from explorer.hardware.catalog import load_catalog

    protocols = args.protocols if args.protocols in ("matching", "all") else args.protocols.split(",")
    return build_report(
        _inputs(args), load_catalog(args.catalog), workload_from_args(args), metric=args.metric,
        target_fraction=args.target, task=args.task, cost=args.cost_axis, chance_normalised=args.chance_normalised,
        protocols=protocols,
    )  # fmt: skip


def _print_report(report, args: argparse.Namespace) -> None:
    import polars as pl

    from explorer.analysis.recommend import format_answer

    w = report.workload
    mode = f"generation {w.output_tokens} tokens" if w.is_generation else "the measured tasks as scored"
    print(
        f"workload: {w.queries_per_day:,.0f} queries/day (peak {w.peak_qps:.3g}/s), {mode}, {w.billing} billing, "
        f"utilisation ceiling {w.utilisation_ceiling:.0%}; accuracy metric {args.metric}"
    )
    print("cheapest deployment per hardware reaching the target:")
    _print_frame(pl.DataFrame(report.answer["per_hardware"]), PER_HARDWARE)
    if not report.excluded.is_empty():
        print(f"excluded ({report.excluded.height} rows; --json lists them all):")
        ex = report.excluded.filter(pl.col("task") == report.answer["task"])
        _print_frame(ex, ["model", "quant", "hardware", "excluded_reason"], rows=15)
    print(format_answer(report.answer, w.queries_per_day))


def cmd_frontier(args: argparse.Namespace) -> int:
    from explorer.charts.common import save_chart
    from explorer.charts.frontier import frontier_chart

    report = build(args)
    path = save_chart(frontier_chart(report.task_rows, cost=args.cost_axis), args.chart) if args.chart else None
    if args.json:
        print(json.dumps(report.to_json(), indent=1, default=str))
        return 0
    _print_report(report, args)
    if path:
        print(f"chart: {path}")
    return 0


def cmd_claim(args: argparse.Namespace) -> int:
    from explorer.analysis.claim import claim, quant_view

    report = build(args)
    reference = (args.reference_model, args.reference_quant) if args.reference_model else None
    if (args.reference_model is None) != (args.reference_quant is None):
        raise ValueError("give both --reference-model and --reference-quant (or neither: the most accurate)")
    answer = claim(report.table, task=args.task, reference=reference, fraction=args.target, cost=args.cost_axis)
    view = quant_view(report.table, task=args.task, cost=args.cost_axis)
    if args.json:
        from explorer.analysis.report import _clean

        print(json.dumps(_clean({"claim": answer, "quantization": view.to_dicts()}), indent=1, default=str))
        return 0
    print(answer["sentence"])
    print(f"\nwhat each quantization level buys against its own study's baseline ({answer['protocol']} and others):")
    _print_frame(view, QUANT_VIEW, rows=80)
    return 0


def _analysis_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="results folder")
    p.add_argument("--task", help="only this task (default: the mean over tasks)")
    p.add_argument("--metric", default="acc", help="accuracy metric (default acc; gsm8k uses exact_match)")
    p.add_argument("--target", type=float, default=0.9, help="share of the best (or reference) accuracy to reach")
    p.add_argument("--cost-axis", default="monthly_usd", help="monthly_usd | effective_usd_per_query | usd_per_correct")
    p.add_argument("--chance-normalised", action="store_true")
    p.add_argument("--catalog", help="hardware catalog YAML (default data/hardware.yaml)")
    p.add_argument("--json", action="store_true", help="print the answer and every row as JSON")
    p.add_argument("--reported", help="reported results CSV or folder (default: the shipped data/reported)")
    p.add_argument("--no-reported", action="store_true", help="measured configurations only")
    p.add_argument("--protocols", default="matching",
                   help="reported rows drawn: 'matching' (lm-eval, same few-shot and metric as the measured "
                        "rows), 'all', or protocol groups G1,G2")  # fmt: skip
    p.add_argument("--cost-dir", action="append", help="more folders of random-weight cost cells (repeatable)")
    for what in ("model", "quant", "task"):
        p.add_argument(f"--only-{what}", action="append", help=f"only this {what} (repeatable; default all)")
    add_workload_flags(p)


def add_analysis_parsers(sub, measure: Callable) -> None:
    """`frontier` and `claim` on the main parser's subparsers; `measure` runs `explorer ceilings`."""
    global _measure
    _measure = measure
    p = sub.add_parser(
        "frontier",
        help="deployments on every hardware: fleet, monthly bill, frontier and the cheapest that meets the target",
    )
    _analysis_flags(p)
    p.add_argument("--chart", help="also write the frontier chart (.png or .svg)")
    p.add_argument("--measure-ceilings", action="store_true", help="measure this machine's ceilings first")
    p.set_defaults(func=cmd_frontier)
    p = sub.add_parser("claim", help="how much of the reference's accuracy a cheaper configuration gives, at what bill")
    _analysis_flags(p)
    p.add_argument("--reference-model", help="the reference configuration's model (default: the most accurate)")
    p.add_argument("--reference-quant", help="the reference configuration's quantization label")
    p.set_defaults(func=cmd_claim)
