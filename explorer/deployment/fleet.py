"""Fleet sizing and the monthly bill of a deployment (pure Polars over service rows).

Per row (a configuration on a hardware, with its service time per query `s` and price per hour `p`):

- ``replicas = max(min_replicas, ceil(peak_qps x s / utilisation_ceiling))``: enough replicas that none is busier
  than the ceiling at the peak hour (`Workload.peak_qps`). With `autoscale` and an hourly profile, each hour gets
  its own count and the bill sums the replica-hours.
- per-hour billing: ``monthly_usd = replica_hours x p`` (``replicas x 24 x days`` without autoscaling);
  per-second (serverless, scales to zero): ``monthly_usd = busy seconds x p / 3600``;
  self-hosted: the purchase price over its lifetime for every replica, plus energy: busy energy (measured joules
  per query where a sensor measured them on that hardware, else TDP x busy seconds, labelled) and idle power
  (catalog `idle_w`, else `idle_power_fraction` x TDP, labelled) for every powered hour not busy.
- ``utilisation = busy seconds / paid replica-seconds`` (busy seconds = queries per month x s; self-hosted:
  over the owned replicas all month, autoscaling only powers some down); ``idle_share = 1 - utilisation``;
  ``idle_usd_per_month`` = the part of the bill that pays for idle capacity.
- ``effective_usd_per_query = monthly_usd / queries per month``: what a query really costs.
- ``marginal_usd_per_query = s x p / 3600``: the busy seconds alone (self-hosted: the busy energy of one query).
  It is never a bill: a fleet is paid while idle.
- ``usd_per_correct = effective_usd_per_query / accuracy`` (cost of pass, Erol et al. 2025; the raw accuracy
  `accuracy_raw` where the frame has it, i.e. before any chance normalisation).

Rows with a `service_s_per_query_optimistic` column (projections) get every figure twice: the conservative end
under the plain names and the optimistic end with the suffix `_optimistic`.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from explorer.analysis.columns import require_columns
from explorer.deployment.workload import Workload

SECONDS_PER_HOUR = 3600.0
J_PER_KWH = 3.6e6
MONTHS_PER_YEAR = 12.0
_EPS = 1e-9  # 1.0000000001 replicas of load is one replica, not two
SERVICE = "service_s_per_query"
OPTIMISTIC = "_optimistic"
FLEET_COLUMNS = (
    "replicas",
    "replica_hours_per_month",
    "busy_s_per_month",
    "monthly_usd",
    "effective_usd_per_query",
    "marginal_usd_per_query",
    "usd_per_correct",
    "utilisation",
    "idle_share",
    "idle_usd_per_month",
)


def _replicas(qps: float, seconds: pl.Expr, workload: Workload, floor: int) -> pl.Expr:
    need = (seconds * qps / workload.utilisation_ceiling - _EPS).ceil()
    return pl.max_horizontal(need, pl.lit(float(floor)))


def _replica_hours(seconds: pl.Expr, workload: Workload) -> pl.Expr:
    """Paid replica-hours per month (per-hour and self-hosted billing)."""
    floor = workload.min_replicas
    if workload.autoscale and workload.hourly_profile is not None:
        hours = [_replicas(qps, seconds, workload, floor) for qps in workload.hourly_qps()]
        return pl.sum_horizontal(hours) * workload.days_per_month
    return _replicas(workload.peak_qps, seconds, workload, floor) * workload.hours_per_month


def _self_hosted(frame: pl.DataFrame, busy_s: pl.Expr, paid_s: pl.Expr, replicas: pl.Expr, w: Workload) -> dict:
    """Capex, busy energy and idle energy per month (USD) and the energy provenance."""
    require_columns(frame, ("capex_usd", "tdp_w"), "self-hosted billing")
    measured_j = pl.col("energy_j_per_query").cast(pl.Float64) if "energy_j_per_query" in frame.columns else None
    has_j = (measured_j.is_not_null() & measured_j.is_not_nan()) if measured_j is not None else pl.lit(False)
    tdp = pl.col("tdp_w").cast(pl.Float64)
    tdp_j = busy_s * tdp
    busy_j = tdp_j if measured_j is None else pl.when(has_j).then(measured_j * w.queries_per_month).otherwise(tdp_j)
    idle_w = pl.col("idle_w").cast(pl.Float64) if "idle_w" in frame.columns else pl.lit(None, dtype=pl.Float64)
    idle_j = (paid_s - busy_s).clip(lower_bound=0.0) * pl.coalesce(idle_w, tdp * w.idle_power_fraction)
    return {
        "capex": replicas * pl.col("capex_usd").cast(pl.Float64) / (w.lifetime_years * MONTHS_PER_YEAR),
        "busy_energy": busy_j / J_PER_KWH * w.usd_per_kwh,
        "idle_energy": idle_j / J_PER_KWH * w.usd_per_kwh,
        "provenance": pl.format(
            "busy: {}; idle: {}",
            pl.when(has_j).then(pl.lit("measured")).otherwise(pl.lit("projected (TDP x busy s)")),
            pl.when(idle_w.is_not_null())
            .then(pl.lit("catalog idle_w"))
            .otherwise(pl.lit(f"projected ({w.idle_power_fraction:.0%} of TDP)")),
        ),
    }


def _fleet(frame: pl.DataFrame, w: Workload, seconds_col: str, sfx: str) -> pl.DataFrame:
    s = pl.col(seconds_col).cast(pl.Float64)
    price = pl.col("usd_per_hour").cast(pl.Float64)
    busy_s = s * w.queries_per_month
    marginal = s * price / SECONDS_PER_HOUR
    extra: list[pl.Expr] = []
    if w.billing == "per-second":
        replicas = pl.when(pl.lit(w.peak_qps) > 0).then(_replicas(w.peak_qps, s, w, 1)).otherwise(0.0)
        paid_s, monthly, idle_usd = busy_s, busy_s * price / SECONDS_PER_HOUR, pl.lit(0.0)
    else:
        replicas = _replicas(w.peak_qps, s, w, w.min_replicas)
        paid_s = _replica_hours(s, w) * SECONDS_PER_HOUR
        if w.billing == "per-hour":
            monthly = paid_s / SECONDS_PER_HOUR * price
            idle_usd = monthly * (1.0 - busy_s / paid_s)
        else:  # owned: the peak fleet is bought, autoscaling only powers replicas down
            parts = _self_hosted(frame, busy_s, paid_s, replicas, w)
            owned_s = replicas * w.hours_per_month * SECONDS_PER_HOUR
            monthly = parts["capex"] + parts["busy_energy"] + parts["idle_energy"]
            idle_usd = parts["capex"] * (1.0 - busy_s / owned_s) + parts["idle_energy"]
            marginal = parts["busy_energy"] / w.queries_per_month if w.queries_per_month else pl.lit(None)
            extra = [
                parts["capex"].alias(f"capex_usd_per_month{sfx}"),
                (parts["busy_energy"] + parts["idle_energy"]).alias(f"energy_usd_per_month{sfx}"),
                parts["provenance"].alias(f"energy_provenance{sfx}"),
            ]
    per_query = monthly / w.queries_per_month if w.queries_per_month > 0 else pl.lit(None, dtype=pl.Float64)
    base_s = replicas * w.hours_per_month * SECONDS_PER_HOUR if w.billing == "self-hosted" else paid_s
    utilisation = pl.when(base_s > 0).then(busy_s / base_s)
    acc = next((c for c in ("accuracy_raw", "value") if c in frame.columns), None)  # raw: before chance normalising
    accuracy = pl.col(acc).cast(pl.Float64) if acc else pl.lit(None, dtype=pl.Float64)
    ok = s.is_not_null()
    columns = {
        "replicas": replicas.cast(pl.Int64),
        "replica_hours_per_month": paid_s / SECONDS_PER_HOUR,
        "busy_s_per_month": busy_s,
        "monthly_usd": monthly,
        "effective_usd_per_query": per_query,
        "marginal_usd_per_query": marginal,
        "usd_per_correct": pl.when(accuracy > 0).then(per_query / accuracy),
        "utilisation": utilisation,
        "idle_share": 1.0 - utilisation,
        "idle_usd_per_month": idle_usd,
    }
    return frame.with_columns(
        *[pl.when(ok).then(expr).alias(f"{name}{sfx}") for name, expr in columns.items()],
        *[pl.when(ok).then(e).alias(e.meta.output_name()) for e in extra],
    )


def add_fleet(frame: pl.DataFrame, workload: Workload) -> pl.DataFrame:
    """Add the fleet columns (FLEET_COLUMNS; self-hosted also capex_usd_per_month, energy_usd_per_month,
    energy_provenance) for `workload`; with `service_s_per_query_optimistic` also their `_optimistic` twins.
    Needs service_s_per_query and usd_per_hour (self-hosted: capex_usd and tdp_w). Rows without a service
    time get nulls. Every input column is kept."""
    require_columns(frame, (SERVICE, "usd_per_hour"), "add_fleet")
    out = _fleet(frame, workload, SERVICE, "")
    if SERVICE + OPTIMISTIC in frame.columns:
        out = _fleet(out, workload, SERVICE + OPTIMISTIC, OPTIMISTIC)
    return out


def fleet_for(service_s_per_query: float, usd_per_hour: float | None, workload: Workload, **columns: Any) -> dict:
    """The fleet of one configuration as a dict (the same arithmetic as `add_fleet`; for scripts and tests)."""
    price = None if usd_per_hour is None else float(usd_per_hour)  # None: bought (self-hosted billing only)
    row = {SERVICE: [float(service_s_per_query)], "usd_per_hour": pl.Series([price], dtype=pl.Float64)}
    row.update({k: [v] for k, v in columns.items()})
    return add_fleet(pl.DataFrame(row), workload).row(0, named=True)
