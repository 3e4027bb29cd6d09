"""The demo models' cascades on each demo task: every smollm2-135m level first, every gemma3-270m level second,
thresholds fitted on half the documents (target 95% of the better member) and the chain chosen there too, all
reported on the other half, each tier on the hardware where it alone is cheapest. Prints a markdown table
(README "Measured here").

    .venv/bin/python scripts/cascade_demo.py [--queries-per-day 10000 --queries-per-day 1000000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from explorer.analysis.report import load_inputs
from explorer.cascade.report import cascade_report
from explorer.deployment.table import bill, serve
from explorer.deployment.workload import Workload
from explorer.hardware.catalog import load_catalog
from explorer.records.store import load_samples

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_cpu"
LEVELS = ("bf16", "int8", "int4")


def best_cascades(task: str, traffic: float, inputs, samples, catalog) -> tuple[dict, dict]:
    """(the cascade most accurate on the fit documents, ties: the cheaper there, as it does on held-out documents;
    the most accurate single member on the held-out documents: a reference chosen in hindsight, generous to it)."""
    w = Workload(queries_per_day=traffic)
    table = bill(serve(inputs.evals, catalog, w, ceilings=inputs.ceilings, profiles=inputs.profiles), catalog, w)
    runs = [cascade_report(table, samples, [f"smollm2-135m/{a}", f"gemma3-270m/{b}"], task, w)
            for a in LEVELS for b in LEVELS]  # fmt: skip
    best = max(runs, key=lambda r: (r["fit"]["accuracy"], -r["fit"]["monthly_usd"]))
    single = max(best["singles"], key=lambda s: (s["accuracy"], -s["monthly_usd"]))
    return best, single


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries-per-day", type=float, action="append")
    args = parser.parse_args()
    inputs, samples, catalog = load_inputs(DEMO, reported=False, cost_dirs=()), load_samples(DEMO), load_catalog()
    print(
        "| task | queries/day | best cascade (chosen on the fit half) | accuracy | bill | escalation "
        "| better member alone | accuracy | bill | oracle bound | APGR |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for task in ("arc_easy", "piqa", "boolq"):
        for traffic in args.queries_per_day or (1e4, 1e6):
            r, s = best_cascades(task, traffic, inputs, samples, catalog)
            h, o = r["held_out"], r["oracle"]
            apgr = "-" if r["apgr"] is None else f"{r['apgr']:.2f}"
            print(f"| {task} | {traffic:,.0f} | {' -> '.join(r['chain'])} (t={r['thresholds'][0]:.3f}) | "
                  f"{h['accuracy']:.2f} | ${h['monthly_usd']:,.0f} | {h['escalation_rate'][0]:.0%} | {s['label']} | "
                  f"{s['accuracy']:.2f} | ${s['monthly_usd']:,.0f} | {o['accuracy']:.2f} (${o['monthly_usd']:,.0f}) "
                  f"| {apgr} |")  # fmt: skip


if __name__ == "__main__":
    main()
