"""The references a cascade is judged against, and the routing metrics of RouteLLM and RouterBench.

- each single configuration on the same documents, serving all the traffic;
- the oracle router: every query goes to the cheapest configuration that answers it correctly (cheapest = the
  smaller bill of the configuration alone; a query no one answers goes to the cheapest), each member's fleet
  sized for the share routed to it: the bound no router can beat on these documents;
- random escalation at the cascade's rates: each tier passes on the same share of queries, chosen at random, so
  the bill is the cascade's and the expected accuracy is sum_k answered_share[k] x accuracy_k;
- RouteLLM (Ong et al. 2024), weak = the first member, strong = the last: PGR = (acc - acc_weak) / (acc_strong -
  acc_weak); APGR = the area under PGR against the share of queries the strong model answers (0 to 1,
  trapezoids over the threshold sweep); CPT(x) = the smallest strong share whose PGR reaches x;
- RouterBench's AIQ (Hu et al. 2024): the area under the non-decreasing convex hull of (cost, quality) points,
  divided by the cost range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from explorer.cascade.cost import priced
from explorer.deployment.workload import Workload


def singles(docs: pl.DataFrame, members: Sequence[Mapping[str, Any]], workload: Workload) -> list[dict[str, Any]]:
    """Each member alone on `docs`: accuracy and its fleet for all the traffic."""
    n = len(members)
    out = []
    for k in range(n):
        acc = float(docs.get_column(f"correct_{k}").mean())
        shares = [1.0 if j == k else 0.0 for j in range(n)]
        one = priced([members[k]], {"accuracy": acc, "reach_share": [1.0]}, workload)
        out.append({**one, "member": k, "answered_share": shares})
    return out


def oracle(docs: pl.DataFrame, members: Sequence[Mapping[str, Any]], alone: Sequence[Mapping[str, Any]],
           workload: Workload) -> dict[str, Any]:  # fmt: skip
    """The oracle router on `docs` (see the module text), priced with one fleet per member for its share."""
    n = len(members)
    order = sorted(range(n), key=lambda k: (alone[k]["monthly_usd"], k))  # cheapest first
    pick = pl.lit(order[0], dtype=pl.Int64)
    for k in reversed(order):
        pick = pl.when(pl.col(f"correct_{k}") > 0).then(pl.lit(k, dtype=pl.Int64)).otherwise(pick)
    routed = docs.select(pick.alias("to"), pl.max_horizontal([pl.col(f"correct_{k}") for k in range(n)]).alias("ok"))
    shares = [float((routed.get_column("to") == k).mean()) for k in range(n)]
    result = {"accuracy": float(routed.get_column("ok").mean()), "answered_share": shares, "reach_share": shares}
    return priced(members, result, workload)


def random_escalation(result: Mapping[str, Any], alone: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Expected accuracy of escalating the same shares at random (same traffic, same bill as `result`)."""
    acc = sum(s * a["accuracy"] for s, a in zip(result["answered_share"], alone, strict=True))
    keep = ("answered_share", "reach_share", "monthly_usd", "effective_usd_per_query", "tiers")
    return {"accuracy": acc, **{k: result[k] for k in keep if k in result}}


NO_GAP = "the last member is not more accurate than the first on these documents: no gap to recover"


def pgr(accuracy: float, weak: float, strong: float) -> float | None:
    """Performance gap recovered; None when the strong end is not more accurate than the weak one."""
    return (accuracy - weak) / (strong - weak) if strong > weak else None


def route_metrics(curve: Sequence[tuple[float, float]], weak: float, strong: float) -> dict[str, Any]:
    """APGR and CPT(50%), CPT(80%) from (strong share, accuracy) points (the weak and strong ends included)."""
    best: dict[float, float] = {}
    for share, acc in [(0.0, weak), (1.0, strong), *curve]:
        value = pgr(acc, weak, strong)
        if value is not None:
            best[share] = max(best.get(share, value), value)
    if not best:
        return {"apgr": None, "cpt50": None, "cpt80": None, "route_note": NO_GAP}
    xs = sorted(best)
    area = sum((xs[i + 1] - xs[i]) * (best[xs[i]] + best[xs[i + 1]]) / 2 for i in range(len(xs) - 1))

    def cpt(level: float) -> float | None:
        return next((x for x in xs if best[x] >= level), None)

    return {"apgr": area, "cpt50": cpt(0.5), "cpt80": cpt(0.8), "route_note": None}


def hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The non-decreasing upper convex hull of (cost, quality) points, from the cheapest point."""
    pts = sorted(set(points))
    upper: list[tuple[float, float]] = []
    for p in pts:
        while len(upper) >= 2:
            (x1, y1), (x2, y2) = upper[-2], upper[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:  # upper[-1] lies on or below the chord
                upper.pop()
            else:
                break
        upper.append(p)
    out, top = [], float("-inf")
    for x, y in upper:
        top = max(top, y)
        out.append((x, top))
    return out


def aiq(points: Sequence[tuple[float, float]]) -> float | None:
    """Area under the non-decreasing convex hull / the cost range (the best quality when all cost the same)."""
    h = hull([(float(c), float(q)) for c, q in points if c is not None and q is not None])
    if not h:
        return None
    if h[-1][0] == h[0][0]:
        return h[-1][1]
    area = sum((h[i + 1][0] - h[i][0]) * (h[i][1] + h[i + 1][1]) / 2 for i in range(len(h) - 1))
    return area / (h[-1][0] - h[0][0])
