"""Command line: `explorer sweep SPEC.yaml --out DIR`, `explorer table DIR`, `explorer frontier DIR`, `explorer demo`,
`explorer profile`, `explorer ceilings`, `explorer app`.

Exit codes of `explorer sweep` and `explorer demo` (scripts and CI can rely on them):
  0    every cell of the spec is ok (cells already ok from an earlier run count as ok);
  1    some cells failed (one `failed cell:` line each on stderr: model, quant, task, reason; failed cells
       kept by --skip-failed count as failed), or the sweep could not write its files (disk full, a folder
       not writable: one `error:` line; the records already written are intact);
  2    bad input, refused before anything runs: the spec, a quantization level this device cannot do, bad
       benchmark data (file and line named), --out not a writable folder;
  130  interrupted (Ctrl-C): finished cells are kept, the same command resumes.
Other commands: 0 ok, 2 bad input; each command's help names any other code."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from explorer.cli_analysis import add_analysis_parsers, cmd_frontier
from explorer.cli_cascade import add_cascade_parser
from explorer.cli_check import add_check_parser, add_reproduce_parser
from explorer.config.spec import SpecError, load_spec, parse_spec
from explorer.records.remote import is_uri


def _print_table(
    out_dir: Path, csv: bool = False, metrics: tuple[str, ...] | None = None, list_failed: bool = True
) -> int:
    import polars as pl

    from explorer.cli_analysis import say_damage
    from explorer.records.store import evals_table, load_evals_checked

    evals, damaged = load_evals_checked(out_dir)
    say_damage(damaged)  # never used, never dropped silently
    if evals.is_empty():
        print(f"no records in {out_dir}/records: run `explorer sweep SPEC.yaml --out {out_dir}` first", file=sys.stderr)
        return 1
    table = evals_table(evals, metrics)
    if csv:
        sys.stdout.write(table.write_csv())
        return 0
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=250, fmt_str_lengths=40, tbl_hide_dataframe_shape=True):
        print(table)
    failed = evals.filter(pl.col("status") != "ok").select("model", "quant", "task", "error").unique()
    for row in failed.iter_rows(named=True) if list_failed else ():
        print(f"failed: {row['model']} {row['quant']} {row['task']}: {row['error']}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    overrides = {"data_dir": args.data_dir, "limit": args.limit, "device": args.device}
    spec = load_spec(args.spec, overrides=overrides)
    return _run(spec, args.out if is_uri(args.out) else Path(args.out), args)


def _run(spec, out_dir: Path | str, args: argparse.Namespace) -> int:
    """Run the sweep; the exit code says whether every cell is ok (see the module text). `out_dir` may be an
    object-store URI (its staging copy is read for the table)."""
    from explorer.launcher.sweep import SweepWriteError, run_sweep

    failed: list[dict] = []  # this run's failed records, then the failed ones --skip-failed kept

    def on_record(record: dict) -> None:
        if record.get("status") != "ok":
            failed.append(record)

    from explorer.launcher.executors import make_executor
    from explorer.records.remote import Store

    executor = make_executor(getattr(args, "executor", "local"), getattr(args, "address", None),
                             getattr(args, "ray_cpus_per_job", None))  # fmt: skip
    t0 = time.perf_counter()
    try:
        counts = run_sweep(
            spec,
            out_dir,
            progress=not args.quiet,
            retry_failed=not args.skip_failed,
            on_record=on_record,
            on_plan=lambda plan: failed.extend(plan.skipped_failed),
            executor=executor,
        )
    except SweepWriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    wall = time.perf_counter() - t0
    where, out_dir = (
        (f"{out_dir}/records", Store(out_dir).staging) if is_uri(out_dir) else (out_dir / "records", out_dir)
    )
    print(
        f"\nsweep finished in {wall:.0f} s: {counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['skipped']} already done; records in {where}"
    )
    _print_table(out_dir, metrics=("acc", "acc_norm", "exact_match,strict-match"), list_failed=False)
    if failed:  # the count first, then one line per cell: the last line names a reason
        total = counts["ok"] + counts["failed"] + counts["skipped"]
        print(f"{len(failed)} of {total} cells failed (exit 1); run the same command again to retry:", file=sys.stderr)
    for r in sorted(failed, key=lambda r: (str(r.get("model")), str(r.get("quant")), str(r.get("task")))):
        print(f"failed cell: {r.get('model')} {r.get('quant')} {r.get('task')}: {r.get('error')}", file=sys.stderr)
    return 1 if failed else 0


DEMO_GGUF_LEVELS = ("gguf", "gguf-f16", "gguf-q8_0", "gguf-q4_0")  # llama.cpp, with the [llamacpp] extra


def demo_spec_text() -> str:
    return resources.files("explorer").joinpath("demo_spec.yaml").read_text()


def cmd_demo(args: argparse.Namespace) -> int:
    from explorer.tasks.offline import SYNTHETIC_TASKS, find_data_dir

    data_dir = find_data_dir(args.data_dir)
    overrides: dict = {"limit": args.limit}
    if data_dir is None:
        overrides["tasks"] = list(SYNTHETIC_TASKS)
        print(
            "demo: no benchmark data dir found (--data-dir, EXPLORER_DATA_DIR, ../shared/benchmarks); "
            f"running the explorer's own generated tasks: {', '.join(SYNTHETIC_TASKS)}"
        )
    else:
        overrides["data_dir"] = str(data_dir)
        print(f"demo: benchmark data from {data_dir}")
    spec = parse_spec(demo_spec_text(), source="explorer/demo_spec.yaml", overrides=overrides)
    if importlib.util.find_spec("llama_cpp") is not None:  # the [llamacpp] extra: the GGUF files themselves
        overrides["quantizations"] = [*spec.quantizations, *DEMO_GGUF_LEVELS]
        spec = parse_spec(demo_spec_text(), source="explorer/demo_spec.yaml", overrides=overrides)
    else:
        print("demo: llama-cpp-python is not installed (`make llamacpp-deps`): no llama.cpp levels")
    print(f"demo: models {spec.models} x quantizations {spec.quantizations} x tasks {spec.tasks}, limit {spec.limit}")
    out = Path(args.out)
    code = _run(spec, out, args)
    if code == 0 or (code == 1 and any(p.is_file() for p in (out / "records").glob("*.json"))):
        try:  # some cells may have failed: the answer over the others (it says when none is ok)
            _demo_frontier(out)
        except OSError as exc:
            print(f"error: no frontier: cannot write to {out}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    return code


def _demo_frontier(out: Path) -> None:
    """After the demo: this machine's ceilings (for projections), then the answer on every catalog hardware and
    on this machine priced like a 2-vCPU cloud instance (c7i.large), with the frontier chart."""
    from explorer.hardware.catalog import load_catalog
    from explorer.hardware.ceilings import read_ceilings
    from explorer.runner.measure import device_name

    here = device_name("cpu")
    for dtype in ("bfloat16", "float32"):
        if dtype.replace("bfloat16", "bf16").replace("float32", "fp32") not in read_ceilings(out).get(here, {}).get(
            "matmul_flops", {}
        ):
            cmd_ceilings(argparse.Namespace(device="cpu", dtype=dtype, out=str(out)))
    price = load_catalog().price("c7i.large", "aws")["usd_per_hour"]
    print(f"\nthe answer on every catalog hardware, and on this machine priced like an aws c7i.large (${price}/h):")
    args = build_parser().parse_args(
        ["frontier", str(out), "--measured-usd-per-hour", str(price), "--chart", str(out / "frontier.png")]
    )
    try:
        cmd_frontier(args)
    except ValueError as exc:  # e.g. every cell failed: the table above says why
        print(f"no frontier: {exc}")
    print(
        f"results: {out / 'records'} | frontier chart: {out / 'frontier.png'} | "
        f"one hardware: explorer frontier {out} --hardware L4 | app: explorer app {out}"
    )


def cmd_table(args: argparse.Namespace) -> int:
    return _print_table(Path(args.dir), csv=args.csv, metrics=tuple(args.metric) if args.metric else None)


def cmd_profile(args: argparse.Namespace) -> int:
    import polars as pl

    from explorer.launcher.profiles import ProfileSpec, run_profiles
    from explorer.records.store import load_profiles

    spec = ProfileSpec(
        models=args.model,
        quantizations=args.quant or ["bf16"],
        batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
        prompt_tokens=args.prompt_tokens,
        new_tokens=args.new_tokens,
        warmup=args.warmup,
        repeats=args.repeats,
        device=args.device,
    )
    run_profiles(spec, args.out)
    cols = [
        "model",
        "quant",
        "quant_backend",
        "batch_size",
        "status",
        "prefill_s",
        "prefill_cv",
        "decode_s_per_token",
        "generate_cv",
        "tokens_per_s",
        "device_s_per_query",
        "peak_mem_bytes",
        "energy_j_per_query",
        "error",
    ]
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=250, tbl_hide_dataframe_shape=True):
        print(load_profiles(args.out).select(cols))
    return 0


def cmd_ceilings(args: argparse.Namespace) -> int:
    from explorer.launcher.sweep import resolve_device
    from explorer.records.files import write_ceilings
    from explorer.runner.ceilings import measure_ceilings

    result = measure_ceilings(resolve_device(args.device), dtype=args.dtype)
    print(
        f"{result['device_name']}: matmul {result['matmul_flops'] / 1e12:.3f} TFLOP/s ({args.dtype}, "
        f"n={result['matmul_n']}, cv {result['matmul_cv']:.2f}); copy {result['copy_bytes_per_s'] / 1e9:.2f} GB/s "
        f"(cv {result['copy_cv']:.2f})"
    )
    if args.out:
        name = "".join(c if c.isalnum() else "_" for c in f"{result['device_name']}_{args.dtype}")
        print(f"written {write_ceilings(Path(args.out), result, name)}")
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from explorer.ui.app import run_app

    return run_app(args.dir, port=args.port, open_browser=not args.no_browser, max_kernels=args.max_kernels)


def _add_run_parsers(sub: Any) -> None:
    """The commands that measure: sweep, demo, profile, ceilings."""

    def run_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="folder with the original benchmark files (or EXPLORER_DATA_DIR)")
        p.add_argument("--limit", type=int, help="documents per task (overrides the spec)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("--skip-failed", action="store_true", help="do not retry cells recorded as failed")

    p = sub.add_parser(
        "sweep",
        help="run a sweep spec (resumable: finished cells are skipped)",
        description="Run every model x quantization x task cell of a spec; finished cells are skipped.",
        epilog="exit codes: 0 every cell ok (already-ok cells count as ok); 1 some cells failed (one line each "
        "on stderr) or the sweep could not write its files; 2 bad input, refused before anything runs (spec, a "
        "level this device cannot do, bad benchmark data, --out not a writable folder); 130 interrupted",
    )
    p.add_argument("spec", help="sweep spec YAML")
    p.add_argument(
        "--out", required=True, help="results folder, or an object-store URI (s3://bucket/path, through fsspec)"
    )
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (overrides the spec)")
    _executor_flags(p)
    run_flags(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("demo", help="run the embedded demo sweep (real models, small limit)")
    p.add_argument("--out", default="results", help="results folder (default: results)")
    run_flags(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("profile", help="serving profile: prefill and decode time over a batch-size ladder")
    p.add_argument("--model", action="append", required=True, help="model entry (repeatable)")
    p.add_argument("--quant", action="append", help="quantization level (repeatable; default bf16)")
    p.add_argument("--batch-sizes", default="1,2,4,8,16,32,64", help="comma-separated ladder (stops at OOM)")
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="results folder (profiles/ inside)")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("ceilings", help="measure this device's matmul FLOP/s and copy bytes/s")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--out", help="results folder (ceilings/ inside)")
    p.set_defaults(func=cmd_ceilings)


def _executor_flags(p: argparse.ArgumentParser) -> None:
    """Where `explorer sweep` runs its jobs (explorer/launcher/executors.py)."""
    p.add_argument("--executor", default="local", help="local (this machine; one worker per GPU) | ray")
    p.add_argument("--address", help="Ray cluster address (auto, ray://head:10001; default: RAY_ADDRESS or a "
                   "local Ray)")  # fmt: skip
    p.add_argument("--ray-cpus-per-job", type=int, help="CPUs a CPU job asks of Ray (default: all of a node's)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="explorer", description="LLM cost/accuracy explorer")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_parsers(sub)
    add_analysis_parsers(sub, cmd_ceilings)
    add_cascade_parser(sub)
    add_check_parser(sub)
    add_reproduce_parser(sub)

    p = sub.add_parser("app", help="serve the read-only Voila app on a results folder (default data/demo_cpu)")
    p.add_argument("dir", nargs="?", help="results folder (default: EXPLORER_RESULTS or data/demo_cpu)")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--max-kernels", type=int, default=8,
                   help="viewers served at once, one kernel each (~310 MB); more get a busy page")  # fmt: skip
    p.set_defaults(func=cmd_app)

    p = sub.add_parser("table", help="print the evals table of a results folder")
    p.add_argument("dir", help="results folder")
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.add_argument("--metric", action="append", help="only this metric (repeatable), e.g. acc")
    p.set_defaults(func=cmd_table)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SpecError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished cells are kept; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
