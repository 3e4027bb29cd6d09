"""One report for the CLI, the app and the exports: the deployment table, its frontier, what is excluded and
the answer, from a results folder's records, profiles and ceilings (read once by `load_inputs`)."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from explorer.analysis.columns import keep_rows
from explorer.analysis.frontier import MEAN_TASK
from explorer.analysis.recommend import ROW_FIELDS, answer, check_cost_axis, scope_of, with_frontier
from explorer.analysis.reported import reported_depends_on, reported_for
from explorer.deployment.options import baseline_name
from explorer.deployment.table import bill, serve
from explorer.deployment.workload import Workload
from explorer.hardware.catalog import Catalog

# the answer's row fields, plus what a script filtering the table needs
JSON_FIELDS = tuple(dict.fromkeys(("accuracy", *ROW_FIELDS, "replicas_optimistic", "on_frontier", "excluded_reason",
               "accuracy_provenance", "protocol_group", "model_kind", "quant_level", "quant_method", "quant_backend",
               "cost_quant", "source", "params_b", "tokenizer")))  # fmt: skip


REPO = Path(__file__).resolve().parents[2]
# where the cost of reported architectures was measured on random weights (shipped with the project)
COST_DIRS = (REPO / "data" / "random_cpu", REPO / "data" / "gpu")


@dataclass(frozen=True)
class Inputs:
    """What a results folder holds for the analysis, and the reported accuracies to put beside it."""

    evals: pl.DataFrame
    profiles: pl.DataFrame
    ceilings: Mapping[str, Mapping[str, Any]]
    reported: pl.DataFrame | None = None
    damaged: tuple = ()  # the folder's damaged files (records/integrity.Damage), left out while loading


def load_inputs(
    out_dir: str | Path,
    reported: str | Path | None | bool = True,
    cost_dirs: Sequence[str | Path] = COST_DIRS,
) -> Inputs:
    """The folder's records, profiles and ceilings; the random-weight cells (cost only) and ceilings of
    `cost_dirs` that exist; and the reported file or folder (True: the shipped data/reported; False/None: none)."""
    from explorer.hardware.ceilings import read_ceilings
    from explorer.records.reported import load_reported
    from explorer.records.store import load_evals, load_evals_checked, load_profiles_checked

    here = Path(out_dir).resolve()
    (evals, damaged), ceilings = load_evals_checked(out_dir), dict(read_ceilings(out_dir))
    for folder in [Path(d) for d in cost_dirs if Path(d).is_dir() and Path(d).resolve() != here]:
        cost = load_evals(folder).filter(pl.col("weights") == "random")
        evals = pl.concat([evals, cost], how="diagonal_relaxed") if not cost.is_empty() else evals
        for device, ceil in read_ceilings(folder).items():
            ceilings.setdefault(device, ceil)
    table = load_reported(None if reported is True else reported) if reported not in (None, False) else None
    profiles, bad_profiles = load_profiles_checked(out_dir)
    return Inputs(evals, profiles, ceilings, table, tuple(damaged + bad_profiles))


def _chosen(selections: Sequence[tuple[str, Sequence[str]]]) -> pl.Expr:
    """True where each column's value is among its chosen values (an empty choice keeps all)."""
    keep = pl.lit(True)
    for col, wanted in selections:
        if wanted:
            keep = keep & pl.col(col).is_in(list(wanted))
    return keep


def filter_inputs(
    inputs: Inputs, models: Sequence[str] = (), quants: Sequence[str] = (), tasks: Sequence[str] = ()
) -> Inputs:
    """Only these models / quantizations / tasks of the measured rows, and these tasks of the reported ones (an
    empty selection keeps all; random-weight cost cells always stay): the app's filters, the CLI's --only-*."""
    keep = _chosen((("model", models), ("quant", quants), ("task", tasks)))
    cost = (pl.col("weights") == "random").fill_null(False) if "weights" in inputs.evals.columns else pl.lit(False)
    rep = inputs.reported
    if rep is not None and tasks:
        rep = rep.filter(pl.col("task").is_in(list(tasks)))
    return Inputs(inputs.evals.filter(keep | cost), inputs.profiles, inputs.ceilings, rep, inputs.damaged)


def _extra(inputs: Inputs, protocols: str) -> pl.DataFrame:
    on = protocols != "off"
    return reported_for(inputs.evals, inputs.reported if on else None, dict(inputs.ceilings),
                        protocols=protocols if on else "matching")  # fmt: skip


def _cut(service: pl.DataFrame, models: Sequence[str], quants: Sequence[str], tasks: Sequence[str]) -> pl.DataFrame:
    """The service rows `filter_inputs` would have left: measured rows of these models / quantizations / tasks,
    other (reported) rows of these tasks."""
    measured = pl.col("accuracy_provenance") == "measured"
    keep = _chosen((("task", tasks),)) & (_chosen((("model", models), ("quant", quants))) | ~measured)
    return keep_rows(service, keep)


def serve_filtered(inputs: Inputs, catalog: Catalog, workload: Workload, models: Sequence[str] = (),
                   quants: Sequence[str] = (), tasks: Sequence[str] = (), protocols: str = "matching",
                   cache: dict | None = None) -> pl.DataFrame:  # fmt: skip
    """`serve` of `filter_inputs(inputs, models, quants, tasks)` with the reported rows of `protocols` ("off":
    none). A service row depends on its own cell only, so the rows are cut from those of all of `inputs` (served
    once per protocols and `workload.service_key()`, kept in `cache`) whenever the filtered inputs select the same
    reported rows (a filter can change them: the measured few-shot settings, a task's chance); else served anew."""
    cache = {} if cache is None else cache
    key = (protocols, workload.service_key())
    if key not in cache:
        cache.clear()
        cache[key] = serve(inputs.evals, catalog, workload, ceilings=inputs.ceilings, profiles=inputs.profiles,
                           extra=_extra(inputs, protocols))  # fmt: skip
    everything = cache[key]
    part = filter_inputs(inputs, models, quants, tasks)
    shots, chance = reported_depends_on(inputs.evals)
    part_shots, part_chance = reported_depends_on(part.evals)
    if protocols == "off" or (shots == part_shots and all(chance.get(t) == c for t, c in part_chance.items())):
        return _cut(everything, models, quants, tasks)
    return serve(part.evals, catalog, workload, ceilings=part.ceilings, profiles=part.profiles,
                 extra=_extra(part, protocols))  # fmt: skip


@dataclass(frozen=True)
class Report:
    workload: Workload
    table: pl.DataFrame  # every row with its fleet; excluded rows carry excluded_reason
    frontier: pl.DataFrame  # servable rows with on_frontier per task (the mean over tasks is task "__mean__")
    answer: dict[str, Any]

    @functools.cached_property
    def excluded(self) -> pl.DataFrame:
        """The rows that cannot be served (memory, latency, no service time, no bill), with their excluded_reason
        (made when asked: at 10,000 configurations x 12 hardware most rows, ~100 columns each)."""
        return keep_rows(self.table, pl.col("excluded_reason").is_not_null())

    def excluded_in_scope(self, columns: Sequence[str], max_rows: int) -> tuple[int, pl.DataFrame]:
        """How many rows of the answer's scope are excluded, and the first `max_rows` of them (these columns, with
        excluded_reason), computed on those columns alone."""
        cols = [c for c in dict.fromkeys((*columns, "excluded_reason", "task")) if c in self.table.columns]
        wanted = pl.col("excluded_reason").is_not_null() & (pl.col("task") == self.answer["task"])
        rows = self.table.select(cols).filter(wanted)
        return rows.height, rows.head(max_rows).select([c for c in cols if c in (*columns, "excluded_reason")])

    @functools.cached_property
    def scope_rows(self) -> pl.DataFrame:
        """The servable rows of the answer's scope (one task, or the mean over tasks)."""
        return self.frontier.filter(pl.col("task") == self.answer["task"])

    @functools.cached_property
    def task_rows(self) -> pl.DataFrame:
        """The servable per-task rows (no mean), of the answer's task when it is about one: what the frontier
        chart draws, in the CLI and in the app's default view."""
        rows = self.frontier.filter(pl.col("task") != MEAN_TASK)
        return rows if self.answer["task"] == MEAN_TASK else rows.filter(pl.col("task") == self.answer["task"])

    def to_json(self) -> dict[str, Any]:
        """Everything a script needs, JSON-ready (NaN -> null)."""
        return _clean(
            {
                "workload": self.workload.as_dict(),
                "answer": self.answer,
                "rows": _records(self.frontier),
                "excluded": _records(self.excluded),
            }
        )


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    data = frame.with_columns(pl.col("value").alias("accuracy"))
    return data.select([c for c in JSON_FIELDS if c in data.columns]).to_dicts()


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def build_report(
    inputs: Inputs,
    catalog: Catalog,
    workload: Workload,
    *,
    metric: str = "acc",
    target_fraction: float = 0.9,
    task: str | None = None,
    cost: str = "monthly_usd",
    chance_normalised: bool = False,
    service: pl.DataFrame | None = None,
    protocols: str | Sequence[str] = "matching",
) -> Report:
    """The deployment table of `inputs` for `workload`, its frontier on the `cost` axis and the answer.
    `service`: the `serve` rows of the same inputs and `workload.service_key()`, when the caller cached them."""
    check_cost_axis(cost)
    if service is None:
        extra = reported_for(inputs.evals, inputs.reported, dict(inputs.ceilings), metric, protocols)
        service = serve(inputs.evals, catalog, workload, ceilings=inputs.ceilings, profiles=inputs.profiles,
                        metric=metric, extra=extra)  # fmt: skip
    table = bill(service, catalog, workload, chance_normalised)
    scope_of(table, task)  # an unknown task fails here, with the tasks there are
    ans = _answer(table, catalog, workload, target_fraction, task, cost, chance_normalised)
    return Report(workload, table, with_frontier(table, cost), ans)  # the servable rows: with_frontier


def _answer(table: pl.DataFrame, catalog: Catalog, workload: Workload, target_fraction: float, task: str | None,
            cost: str, chance_normalised: bool) -> dict[str, Any]:  # fmt: skip
    ans = answer(table, baseline_name(catalog, workload), target_fraction, task=task, cost=cost,
                 chance_normalised=chance_normalised)  # fmt: skip
    return {**ans, "chance_normalised": chance_normalised}


def at_target(report: Report, catalog: Catalog, target_fraction: float, task: str | None = None) -> Report:
    """The same report with the answer for another target (and task): the table, frontier and excluded rows do
    not depend on them, so the app re-answers without re-billing. Equal to `build_report` with those values."""
    ans = report.answer
    scope_of(report.table, task)
    new = _answer(report.table, catalog, report.workload, target_fraction, task, ans["cost_axis"],
                  ans["chance_normalised"])  # fmt: skip
    return dataclasses.replace(report, answer=new)
