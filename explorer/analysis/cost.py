"""What a query costs: rented (USD per device-hour) or self-hosted (energy + amortised purchase), pure functions.

Cost provenance: "measured" when the device seconds (and energy) behind a cost were measured on the very hardware
it is priced on; "projected" when they come from another device (roofline projection, interpolated serving
profile, TDP instead of a measured energy). Prices themselves are `reported` (see hardware.py).

Scalar helpers take plain numbers (validated: negative inputs raise) or Polars expressions (not validated).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from explorer.analysis import roofline
from explorer.analysis.columns import require_columns as _require
from explorer.analysis.hardware import Catalog

SECONDS_PER_HOUR = 3600.0
J_PER_KWH = 3.6e6
SECONDS_PER_YEAR = 365.25 * 24 * 3600
MEASURED = "measured"
PROJECTED = "projected"
DEFAULT_QUERIES_PER_DAY = 10_000
PROFILE_KEYS = ("model", "quant", "device_name", "prompt_tokens")

Value = float | int | pl.Expr


def _check(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, pl.Expr):
            continue
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def _check_utilisation(utilisation: Any) -> None:
    if isinstance(utilisation, pl.Expr):
        return
    _check(utilisation=utilisation)
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be in (0, 1], got {utilisation}")


def usd_per_query(device_s_per_query: Value, usd_per_hour: Value, utilisation: Value = 1.0) -> Value:
    """Rental cost of one query: device seconds x price per hour / 3600, divided by the share of paid time the
    device is busy (`utilisation` 1 = billed only for busy seconds)."""
    _check(device_s_per_query=device_s_per_query, usd_per_hour=usd_per_hour)
    _check_utilisation(utilisation)
    return device_s_per_query * usd_per_hour / SECONDS_PER_HOUR / utilisation


def usd_per_1k_queries(device_s_per_query: Value, usd_per_hour: Value, utilisation: Value = 1.0) -> Value:
    """Rental cost of 1000 queries."""
    return 1000.0 * usd_per_query(device_s_per_query, usd_per_hour, utilisation)


def monthly_usd(usd_per_query: Value, queries_per_day: Value, days: Value = 30) -> Value:
    """Cost of `queries_per_day` queries every day for `days` days."""
    _check(usd_per_query=usd_per_query, queries_per_day=queries_per_day, days=days)
    return usd_per_query * queries_per_day * days


@dataclass(frozen=True)
class SelfHostedCost:
    """One query on owned hardware: energy plus the purchase price spread over the busy seconds of its life."""

    usd_per_query: float
    energy_usd_per_query: float
    hardware_usd_per_query: float
    energy_j_per_query: float
    energy_provenance: str  # measured (energy counter) | projected (TDP x seconds)


def self_hosted_usd_per_query(
    device_s_per_query: float,
    energy_j_per_query: float | None,
    usd_per_kwh: float,
    capex_usd: float,
    lifetime_years: float,
    utilisation: float,
    tdp_w: float | None = None,
) -> SelfHostedCost:
    """Energy (J / 3.6e6 x USD/kWh) + amortised hardware (capex / (lifetime x utilisation) x device seconds).

    `utilisation` is the share of its lifetime the device is busy serving; idle power is not counted. Without a
    measured energy (None / NaN) the energy is tdp_w x device seconds, an upper-bound estimate labelled
    "projected"."""
    _check(device_s_per_query=device_s_per_query, usd_per_kwh=usd_per_kwh, capex_usd=capex_usd)
    _check_utilisation(utilisation)
    if not lifetime_years > 0:
        raise ValueError(f"lifetime_years must be > 0, got {lifetime_years}")
    if energy_j_per_query is None or (isinstance(energy_j_per_query, float) and math.isnan(energy_j_per_query)):
        if tdp_w is None:
            raise ValueError("no measured energy_j_per_query and no tdp_w to estimate it from")
        _check(tdp_w=tdp_w)
        energy_j, provenance = tdp_w * device_s_per_query, PROJECTED
    else:
        _check(energy_j_per_query=energy_j_per_query)
        energy_j, provenance = float(energy_j_per_query), MEASURED
    energy_usd = energy_j / J_PER_KWH * usd_per_kwh
    hardware_usd = capex_usd / (lifetime_years * SECONDS_PER_YEAR * utilisation) * device_s_per_query
    return SelfHostedCost(energy_usd + hardware_usd, energy_usd, hardware_usd, energy_j, provenance)


def _device_s_provenance(evals: pl.DataFrame) -> pl.Expr:
    if "device_s_provenance" in evals.columns:
        return pl.col("device_s_provenance").fill_null(MEASURED)
    return pl.lit(MEASURED)


def _same_hardware(evals: pl.DataFrame, hardware: str | None, catalog: Catalog | None) -> pl.Expr:
    """Per row: was device_s_per_query measured on `hardware`? (None: the device at hand, so yes)."""
    if hardware is None:
        return pl.lit(True)
    if "device_name" not in evals.columns:
        return pl.lit(False)
    names = evals.get_column("device_name").unique().to_list()
    same = []
    for name in names:
        matched = catalog.match_device(name) if catalog is not None else None
        if name is not None and (
            name.casefold() == hardware.casefold() or (matched or "").casefold() == hardware.casefold()
        ):
            same.append(name)
    return pl.col("device_name").is_in(same).fill_null(False)


def add_costs(
    evals: pl.DataFrame,
    usd_per_hour: float,
    queries_per_day: float = DEFAULT_QUERIES_PER_DAY,
    provider: str | None = None,
    hardware: str | None = None,
    *,
    days: float = 30,
    utilisation: float = 1.0,
    catalog: Catalog | None = None,
) -> pl.DataFrame:
    """Add usd_per_query, usd_per_1k_queries, monthly_usd, cost_provenance, hardware, provider (all input kept).

    `hardware` None prices the device the rows were measured on (hardware column = device_name). cost_provenance is
    "measured" when the row's device seconds were measured on that hardware (device_name equals it, or `catalog`
    maps device_name to it) and not already projected (device_s_provenance); otherwise "projected". Rows without
    device seconds (failed cells) get null costs."""
    _check(usd_per_hour=usd_per_hour, queries_per_day=queries_per_day, days=days)
    _check_utilisation(utilisation)
    _require(evals, ("device_s_per_query",), "add_costs")
    seconds = pl.col("device_s_per_query").cast(pl.Float64)
    measured = (_device_s_provenance(evals) == MEASURED) & _same_hardware(evals, hardware, catalog)
    if hardware is not None:
        hw_col = pl.lit(hardware, dtype=pl.String)
    elif "device_name" in evals.columns:
        hw_col = pl.col("device_name")
    else:
        hw_col = pl.lit(None, dtype=pl.String)
    per_query = usd_per_query(seconds, float(usd_per_hour), float(utilisation))
    return evals.with_columns(
        per_query.alias("usd_per_query"),
        (1000.0 * per_query).alias("usd_per_1k_queries"),
        monthly_usd(per_query, float(queries_per_day), float(days)).alias("monthly_usd"),
        pl.when(seconds.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(measured)
        .then(pl.lit(MEASURED))
        .otherwise(pl.lit(PROJECTED))
        .alias("cost_provenance"),
        hw_col.alias("hardware"),
        pl.lit(provider, dtype=pl.String).alias("provider"),
    )


def add_self_hosted_costs(
    evals: pl.DataFrame,
    hardware: Mapping[str, Any],
    usd_per_kwh: float,
    lifetime_years: float = 4.0,
    utilisation: float = 0.5,
    queries_per_day: float = DEFAULT_QUERIES_PER_DAY,
    *,
    days: float = 30,
    capex_usd: float | None = None,
) -> pl.DataFrame:
    """Frame version of `self_hosted_usd_per_query` on catalog hardware (a `Catalog.get` row; capex_usd from it
    unless given). Adds usd_per_query, usd_per_1k_queries, monthly_usd, energy_usd_per_query,
    hardware_usd_per_query, energy_provenance, cost_provenance, hardware, provider="self-hosted". Measured energy
    is used where present, else tdp_w x seconds ("projected"). The rows' device seconds are taken as measured on
    this hardware unless device_s_provenance says projected."""
    capex = capex_usd if capex_usd is not None else hardware.get("capex_usd")
    if capex is None:
        raise ValueError(f"no capex_usd for {hardware.get('name')!r}: pass capex_usd=")
    _check(usd_per_kwh=usd_per_kwh, capex_usd=capex, queries_per_day=queries_per_day, days=days)
    _check_utilisation(utilisation)
    if not lifetime_years > 0:
        raise ValueError(f"lifetime_years must be > 0, got {lifetime_years}")
    _require(evals, ("device_s_per_query",), "add_self_hosted_costs")
    seconds = pl.col("device_s_per_query").cast(pl.Float64)
    measured_j = pl.col("energy_j_per_query").cast(pl.Float64) if "energy_j_per_query" in evals.columns else None
    tdp = hardware.get("tdp_w")
    tdp_j = seconds * float(tdp) if tdp is not None else pl.lit(None, dtype=pl.Float64)
    has_energy = measured_j.is_not_null() & measured_j.is_not_nan() if measured_j is not None else pl.lit(False)
    energy_j = pl.when(has_energy).then(measured_j if measured_j is not None else None).otherwise(tdp_j)
    energy_usd = energy_j / J_PER_KWH * float(usd_per_kwh)
    hardware_usd = float(capex) / (lifetime_years * SECONDS_PER_YEAR * utilisation) * seconds
    total = energy_usd + hardware_usd
    energy_prov = pl.when(has_energy).then(pl.lit(MEASURED)).otherwise(pl.lit(PROJECTED))
    return evals.with_columns(
        total.alias("usd_per_query"),
        (1000.0 * total).alias("usd_per_1k_queries"),
        monthly_usd(total, float(queries_per_day), float(days)).alias("monthly_usd"),
        energy_usd.alias("energy_usd_per_query"),
        hardware_usd.alias("hardware_usd_per_query"),
        energy_prov.alias("energy_provenance"),
        pl.when(total.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(has_energy & (_device_s_provenance(evals) == MEASURED))
        .then(pl.lit(MEASURED))
        .otherwise(pl.lit(PROJECTED))
        .alias("cost_provenance"),
        pl.lit(hardware.get("name"), dtype=pl.String).alias("hardware"),
        pl.lit("self-hosted").alias("provider"),
    )


def project_device_s(
    evals: pl.DataFrame, target_row: Mapping[str, Any], efficiency: float | None = None
) -> pl.DataFrame:
    """Device seconds on catalog hardware not at hand, via the roofline (`roofline.project`: same share of the
    roofline there as here). device_s_per_query becomes the projection (the measured value is kept in
    measured_device_s_per_query), device_s_provenance = "projected", hardware = the target's name, and
    energy_j_per_query is nulled (it was measured on another device). `efficiency` None: use the rows'
    `efficiency` column (from `roofline.add_efficiency`)."""
    projected = roofline.project(evals, target_row, efficiency)
    energy = (
        [pl.lit(None, dtype=pl.Float64).alias("energy_j_per_query")] if "energy_j_per_query" in evals.columns else []
    )
    return projected.with_columns(
        pl.col("device_s_per_query").alias("measured_device_s_per_query"),
        pl.col("projected_device_s_per_query").alias("device_s_per_query"),
        pl.lit(PROJECTED).alias("device_s_provenance"),
        pl.lit(str(target_row["name"])).alias("hardware"),
        *energy,
    )


def _interpolate(points: list[tuple[float, float, float]], batch: float) -> tuple[float, float, str] | None:
    """(prefill_s, decode_s_per_token, provenance) at `batch` from sorted (batch, prefill, decode) points."""
    xs = [p[0] for p in points]
    i = bisect_left(xs, batch)
    if i < len(xs) and xs[i] == batch:
        return points[i][1], points[i][2], MEASURED
    if i == 0 or i == len(xs):
        return None  # outside the profiled range: no extrapolation
    (x0, p0, d0), (x1, p1, d1) = points[i - 1], points[i]
    w = (batch - x0) / (x1 - x0)
    return p0 + w * (p1 - p0), d0 + w * (d1 - d0), PROJECTED


def device_s_at_batch(profiles: pl.DataFrame, batch_size: int, new_tokens: float | None = None) -> pl.DataFrame:
    """Per-query device seconds at `batch_size` from a serving profile, one row per profiled configuration.

    `profiles`: model, quant, device_name, batch_size, prefill_s, decode_s_per_token (seconds of one batched
    decode step), new_tokens (unless given here), optionally prompt_tokens. Per query at batch b:
    (prefill_s(b) + (new_tokens - 1) x decode_s_per_token(b)) / b
    (optimum-benchmark's prefill already makes token 1). A profiled batch size is used as-is ("measured");
    between two profiled sizes prefill_s and decode_s_per_token are interpolated linearly ("projected"); outside
    the profiled range the result is null. Repeated rows of one (configuration, batch size) are averaged."""
    _check(batch_size=batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    needed = ("model", "quant", "device_name", "batch_size", "prefill_s", "decode_s_per_token")
    _require(profiles, needed + (() if new_tokens is not None else ("new_tokens",)), "device_s_at_batch")
    if new_tokens is not None:
        _check(new_tokens=new_tokens)
    keys = [k for k in PROFILE_KEYS if k in profiles.columns]
    agg = [pl.col("prefill_s").mean(), pl.col("decode_s_per_token").mean()]
    if new_tokens is None:
        agg.append(pl.col("new_tokens").cast(pl.Float64).mean())
    points = profiles.group_by([*keys, "batch_size"]).agg(agg).sort([*keys, "batch_size"])
    rows: list[dict[str, Any]] = []
    for group in points.partition_by(keys, maintain_order=True):
        first = group.row(0, named=True)
        pts = [(float(r["batch_size"]), r["prefill_s"], r["decode_s_per_token"]) for r in group.iter_rows(named=True)]
        tokens = float(new_tokens) if new_tokens is not None else float(group.get_column("new_tokens").mean())
        hit = _interpolate(pts, float(batch_size))
        row = {k: first[k] for k in keys}
        prefill, decode, prov = hit if hit is not None else (None, None, None)
        # generate(1) = prefill already yields the first token: N tokens = prefill + (N - 1) decode steps
        seconds = (prefill + max(tokens - 1.0, 0.0) * decode) / batch_size if hit is not None else None
        row.update(
            batch_size=batch_size,
            new_tokens=tokens,
            prefill_s=prefill,
            decode_s_per_token=decode,
            device_s_per_query=seconds,
            device_s_provenance=prov,
        )
        rows.append(row)
    schema = {k: profiles.schema[k] for k in keys}
    schema.update(
        batch_size=pl.Int64,
        new_tokens=pl.Float64,
        prefill_s=pl.Float64,
        decode_s_per_token=pl.Float64,
        device_s_per_query=pl.Float64,
        device_s_provenance=pl.String,
    )
    return pl.DataFrame(rows, schema=schema)


def apply_serving_profile(
    evals: pl.DataFrame, profiles: pl.DataFrame, batch_size: int, new_tokens: float | None = None
) -> pl.DataFrame:
    """Evals with device_s_per_query taken from the serving profile at `batch_size` where one exists for the row's
    (model, quant, device_name); the in-situ measurement is used as-is otherwise. Adds device_s_provenance and
    keeps the in-situ value in in_situ_device_s_per_query. Filter profiles to one prompt_tokens first."""
    at_b = device_s_at_batch(profiles, batch_size, new_tokens)
    join = ["model", "quant", "device_name"]
    if at_b.select(join).is_duplicated().any():
        raise ValueError("apply_serving_profile: several profiles per (model, quant, device_name); filter to one")
    right = at_b.select(
        *join,
        pl.col("device_s_per_query").alias("__profile_s"),
        pl.col("device_s_provenance").alias("__profile_prov"),
    )
    have = _device_s_provenance(evals)
    out = evals.with_columns(have.alias("device_s_provenance")).join(right, on=join, how="left", maintain_order="left")
    use = pl.col("__profile_s").is_not_null()
    return out.with_columns(
        pl.col("device_s_per_query").alias("in_situ_device_s_per_query"),
        pl.when(use).then(pl.col("__profile_s")).otherwise(pl.col("device_s_per_query")).alias("device_s_per_query"),
        pl.when(use)
        .then(pl.col("__profile_prov"))
        .otherwise(pl.col("device_s_provenance"))
        .alias("device_s_provenance"),
    ).drop("__profile_s", "__profile_prov")
