"""Two quantization levels of the same models on the same documents, compared document by document.

    .venv/bin/python scripts/backend_agreement.py DIR [--a fp32] [--b gguf-f32] [--run MODELS --tasks T --limit N]

Default: the llama.cpp backend on the F32 GGUF (`gguf-f32`) against the transformers backend in fp32 on the
same weights. `--run` first sweeps `--models` x {a, b} x `--tasks` into DIR (finished cells are skipped). Prints
a Markdown table: argmax agreement, the largest and mean |d log-likelihood| per choice, each level's accuracy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer.analysis.agreement import agreement
from explorer.records.store import load_evals, load_samples


def _run(args: argparse.Namespace) -> None:
    from explorer.config.spec import SweepSpec
    from explorer.launcher.sweep import run_sweep

    spec = SweepSpec(models=args.models, quantizations=[args.a, args.b], tasks=args.tasks, limit=args.limit,
                     batch_size=4, device="cpu", data_dir=args.data_dir)  # fmt: skip
    print(run_sweep(spec, Path(args.dir), progress=False), file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir")
    p.add_argument("--a", default="fp32")
    p.add_argument("--b", default="gguf-f32")
    p.add_argument("--run", action="store_true", help="sweep the cells first")
    p.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    p.add_argument("--tasks", nargs="+", default=["arc_easy", "piqa"])
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    if args.run:
        _run(args)
    table = agreement(load_evals(args.dir), load_samples(args.dir), args.a, args.b)
    if table.is_empty():
        print(f"{args.dir}: no model and task with ok acc cells at both {args.a} and {args.b}", file=sys.stderr)
        return 2
    print(f"| model | task | docs | argmax agreement | max abs dlogL | mean abs dlogL | acc {args.a} | acc {args.b} |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table.iter_rows(named=True):
        figures = (r["argmax_agreement"], r["max_abs_dloglik"], r["mean_abs_dloglik"], r["acc_a"], r["acc_b"])
        print(f"| {r['model']} | {r['task']} | {r['n_docs']} | " + " | ".join(f"{x:.4g}" for x in figures) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
