"""`explorer check DIR [--repair]`: every damaged result file of a folder (records, their samples, serving
profiles), with the reason; `--repair` moves them into DIR/damaged/<timestamp>/ so the next sweep re-runs those
cells. Exit status: 0 when nothing is damaged (or everything damaged was moved aside), 3 when damaged files are
left in place, 2 when DIR is not a results folder. What is checked: explorer/records/integrity.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from explorer.records.integrity import all_damage, damage_lines, repair

EXIT_DAMAGED = 3

__all__ = ["EXIT_DAMAGED", "add_check_parser", "add_reproduce_parser", "cmd_check", "damage_lines"]


def cmd_check(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    if not any((out_dir / sub).is_dir() for sub in ("records", "profiles")):
        raise FileNotFoundError(f"{out_dir} is not a results folder (no records/ or profiles/ in it)")
    damages = all_damage(out_dir)
    for d in damages:
        print(f"damaged: {d.path}: {d.reason}")
    if not damages:
        print(f"{out_dir}: every record, samples file and profile is intact")
        return 0
    if not args.repair:
        print(f"{len(damages)} damaged file(s), not used; `explorer check {out_dir} --repair` moves them aside")
        return EXIT_DAMAGED
    moved = repair(out_dir, damages)
    where = sorted({str(p.parent.parent) for p in moved})
    print(f"moved {len(moved)} file(s) to {', '.join(where)}; the next sweep re-runs those cells")
    return EXIT_DAMAGED if all_damage(out_dir) else 0


def add_check_parser(sub: argparse._SubParsersAction) -> None:
    """Register `explorer check` on the CLI's sub-parsers."""
    p = sub.add_parser(
        "check",
        help="list damaged result files (exit 3 when some); --repair moves them aside",
        description=__doc__,
    )
    p.add_argument("dir", help="results folder")
    p.add_argument(
        "--repair", action="store_true", help="move damaged files (a record with its samples) to DIR/damaged/<time>/"
    )
    p.set_defaults(func=cmd_check)


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Print the plain lm-eval command that recomputes one cell (explorer/records/reproduce.py)."""
    import shlex

    from explorer.hints import did_you_mean
    from explorer.records.files import read_records
    from explorer.records.reproduce import lm_eval_command

    records = {r["cell_id"]: r for r in read_records(Path(args.dir))}
    if args.cell not in records:
        ids = sorted(records)
        raise ValueError(f"no intact record {args.cell!r} in {args.dir}{did_you_mean(args.cell, ids)}")
    print(shlex.join(lm_eval_command(records[args.cell], args.output_path)))
    return 0


def add_reproduce_parser(sub: argparse._SubParsersAction) -> None:
    """Register `explorer reproduce DIR CELL_ID`."""
    p = sub.add_parser("reproduce", help="print the plain lm-eval command that recomputes one cell (fp32/bf16/fp16)")
    p.add_argument("dir", help="results folder")
    p.add_argument("cell", help="cell id (the record's file name without .json)")
    p.add_argument("--output-path", default="reproduced", help="lm-eval's --output_path (default: reproduced)")
    p.set_defaults(func=cmd_reproduce)
