"""A cascade as a deployment: one fleet per tier, each sized for the traffic that reaches it.

Tier k serves ``reach_share[k]`` of the workload's queries (the same daily shape, scaled), at its own service
time on its own hardware, with the fleet arithmetic of `explorer.deployment.fleet` (whole replicas, idle
capacity paid, `min_replicas` always on even for a tier that rarely sees a query; a tier no query reaches is not
deployed). The chain's bill is the sum of the tiers' bills. A query answered by tier k waited for tiers 0..k: its
latency is the sum of their latencies. Projected tiers use the conservative end of their service time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from explorer.deployment.fleet import fleet_for
from explorer.deployment.workload import Workload

PASS_THROUGH = ("capex_usd", "tdp_w", "idle_w", "energy_j_per_query")  # what self-hosted billing reads
TIER_FIELDS = ("replicas", "monthly_usd", "utilisation", "idle_share", "idle_usd_per_month")


def tier_fleets(members: Sequence[Mapping[str, Any]], shares: Sequence[float], workload: Workload) -> list[dict]:
    """One fleet per member for its share of the traffic (`shares[k]` of the workload's queries)."""
    out = []
    for row, share in zip(members, shares, strict=True):
        w = workload.with_(queries_per_day=workload.queries_per_day * share)
        if share <= 0:  # no query reaches it: it is not deployed at all
            out.append({"share": 0.0, "queries_per_day": 0.0, "replicas": 0, "monthly_usd": 0.0, "utilisation": None,
                        "idle_share": None, "idle_usd_per_month": 0.0})  # fmt: skip
            continue
        extra = {k: row.get(k) for k in PASS_THROUGH if k in row}
        fleet = fleet_for(row["service_s_per_query"], row["usd_per_hour"], w, **extra)
        out.append({"share": share, "queries_per_day": w.queries_per_day, **{k: fleet[k] for k in TIER_FIELDS}})
    return out


def chain_bill(members: Sequence[Mapping[str, Any]], shares: Sequence[float], workload: Workload) -> float:
    """The monthly bill of all tiers' fleets."""
    return float(sum(t["monthly_usd"] or 0.0 for t in tier_fleets(members, shares, workload)))


def latency(routed: pl.DataFrame, members: Sequence[Mapping[str, Any]], target_s: float | None) -> dict[str, Any]:
    """The latency distribution over routed documents: tier k's answer waited for tiers 0..k."""
    cumulative = []
    for row in members:
        cumulative.append((cumulative[-1] if cumulative else 0.0) + float(row["latency_s"]))
    tiers = list(range(len(members)))
    lat = routed.get_column("answered_by").replace_strict(tiers, cumulative, return_dtype=pl.Float64)
    out = {
        "by_tier_s": cumulative,
        "mean_s": float(lat.mean()),
        **{f"p{q}_s": float(lat.quantile(q / 100, interpolation="higher")) for q in (50, 90, 99)},
        "max_s": float(lat.max()),
    }
    out["share_over_target"] = float((lat > target_s).mean()) if target_s else None
    return out


def priced(members: Sequence[Mapping[str, Any]], result: Mapping[str, Any], workload: Workload) -> dict[str, Any]:
    """A chain's outcome with its tiers' fleets, the bill and what a query really costs."""
    tiers = tier_fleets(members, result["reach_share"], workload)
    usd = float(sum(t["monthly_usd"] or 0.0 for t in tiers))
    per_query = usd / workload.queries_per_month if workload.queries_per_month else None
    acc = result.get("accuracy")
    return {
        **result,
        "tiers": tiers,
        "monthly_usd": usd,
        "effective_usd_per_query": per_query,
        "usd_per_correct": per_query / acc if per_query is not None and acc else None,
    }
