"""Generation workloads: service time from the serving profiles, at the largest batch that meets the latency
targets (pure Polars over `explorer.records.store.load_profiles` rows).

A profile gives, per measured batch size b, `prefill_s` (one generate(1) of b prompts of P0 tokens: the time to
first token) and `decode_s_per_token` (one decode step of the batch: the time per output token). For a workload of
P prompt and N output tokens per query:

- ``ttft(b) = prefill_s(b) x P / P0``, ``tpot(b) = decode_s_per_token(b)``, ``e2e(b) = ttft + (N - 1) x tpot``,
  ``service(b) = e2e(b) / b`` (static batching: a batch's queries share its prefill and decode steps);
- between measured batch sizes both times are interpolated linearly; beyond the largest measured batch nothing
  is extrapolated (`batch_note` says when the largest measured batch was chosen and a larger one might do);
- the chosen b is the largest with ttft <= ttft_s, tpot <= tpot_s and b <= max(1, peak_qps x e2e(b)) (a batch
  cannot hold more queries than are in flight at the peak); when even the smallest profiled batch is larger,
  it runs under-filled (service = e2e / the queries in flight) and `batch_note` says so;
- a prompt shorter than profiled scales the prefill down, but never below the launch floor of one forward
  (layers x the per-layer overhead of that end of the range);
- on hardware without a profile, each measured step is projected (`explorer.hardware.projection`): prefill work
  2 x matmul_params x b x P0 FLOPs and one weight read, a decode step 2 x matmul_params x b FLOPs, one weight read
  and the batch's KV cache (b x (P0 + N0 / 2) tokens); the batch is chosen for each end of the range separately.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from explorer.deployment.options import HardwareOption, same_class
from explorer.deployment.workload import Workload
from explorer.hardware.ceilings import overhead_for
from explorer.hardware.projection import project_seconds
from explorer.hardware.roofline import peak_expr, precision_expr, roofline_floor_s
from explorer.hardware.work import add_architecture, kv_bytes_per_token, matmul_params, pass_bytes

CURVE_KEYS = ("model", "quant")


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float | None:
    """Linear interpolation in sorted (x, y) points; None outside their range (no extrapolation)."""
    xs = [p[0] for p in points]
    if not points or x < xs[0] or x > xs[-1]:
        return None
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (x - x0) / (x1 - x0) * (y1 - y0)
    return points[-1][1]


def choose_batch(
    curve: Sequence[tuple[int, float, float]], workload: Workload, prompt_scale: float, prefill_floor_s: float = 0.0
) -> dict[str, Any]:
    """The largest batch meeting the targets on a (batch, prefill_s, decode_s_per_token) curve, or why none does.
    A shorter prompt than profiled (`prompt_scale` < 1) never takes the prefill below `prefill_floor_s` (the
    launch floor of one forward; the profiled time where that is lower). When even the smallest profiled batch
    holds more queries than are in flight, it runs under-filled. Returns batch, ttft_s, tpot_s, latency_s,
    service_s, batch_note, reason (None when served)."""
    pts = sorted(curve)
    n = workload.output_tokens or 1

    def at(b: int) -> dict[str, Any]:
        prefill = interpolate([(p[0], p[1]) for p in pts], b)
        ttft = max(prefill * prompt_scale, min(prefill, prefill_floor_s))
        tpot = interpolate([(p[0], p[2]) for p in pts], b)
        e2e = ttft + (n - 1) * tpot
        return {"batch": b, "ttft_s": ttft, "tpot_s": tpot, "latency_s": e2e, "service_s": e2e / b}

    points = [at(b) for b in range(int(pts[0][0]), int(pts[-1][0]) + 1)]
    fast = [q for q in points if q["ttft_s"] <= workload.ttft_s and q["tpot_s"] <= workload.tpot_s]
    if not fast:
        first = points[0]
        reason = (
            f"TTFT {first['ttft_s']:.3g} s > target {workload.ttft_s:g} s"
            if first["ttft_s"] > workload.ttft_s
            else f"TPOT {first['tpot_s']:.3g} s > target {workload.tpot_s:g} s"
        )
        return {**first, "batch_note": None, "reason": reason + f" at batch {first['batch']}"}
    in_flight = lambda q: max(1.0, workload.peak_qps * q["latency_s"])
    full = [q for q in fast if q["batch"] <= math.floor(in_flight(q) + 1e-9)]
    if not full:  # the smallest profiled batch, with as many queries as are in flight
        q = fast[0]
        held = max(1, min(q["batch"], math.floor(in_flight(q) + 1e-9)))
        note = f"under-filled: about {held} queries in flight for a batch of {q['batch']}"
        return {**q, "service_s": q["latency_s"] / held, "batch_note": note, "reason": None}
    best = full[-1]
    note = "largest profiled batch; larger batches not extrapolated" if best["batch"] == int(pts[-1][0]) else None
    return {**best, "batch_note": note, "reason": None}


def _step_work(profiles: pl.DataFrame) -> pl.DataFrame:
    """Per profiled point: the work of one prefill and of one decode step (see the module text)."""
    data = add_architecture(profiles).with_columns(precision_expr(profiles).alias("compute_precision"))
    b = pl.col("batch_size").cast(pl.Float64)
    p0 = pl.col("prompt_tokens").cast(pl.Float64)
    n0 = pl.col("new_tokens").cast(pl.Float64)
    return data.with_columns(
        (2.0 * matmul_params() * b * p0).alias("prefill_flops"),
        (2.0 * matmul_params() * b).alias("decode_flops"),
        pass_bytes().alias("prefill_bytes"),
        (pass_bytes() + b * (p0 + n0 / 2.0) * kv_bytes_per_token()).alias("decode_bytes"),
        pl.lit(1.0).alias("one_forward"),
    )


def _with_step_efficiency(steps: pl.DataFrame, ceilings: Mapping[str, Any] | None) -> pl.DataFrame:
    matmul = (ceilings or {}).get("matmul_flops") or {}
    bandwidth = (ceilings or {}).get("copy_bytes_per_s")
    if not matmul or not bandwidth:
        return steps.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in ("prefill_eff", "decode_eff"))
    peak = peak_expr(matmul)
    eff = lambda step, measured: (
        roofline_floor_s(pl.col(f"{step}_flops"), pl.col(f"{step}_bytes"), peak, bandwidth) / pl.col(measured)
    )
    return steps.with_columns(
        eff("prefill", "prefill_s").alias("prefill_eff"), eff("decode", "decode_s_per_token").alias("decode_eff")
    )


def _source(part: pl.DataFrame, opt: HardwareOption, prompt_tokens: float | None) -> tuple[pl.DataFrame, bool]:
    """(the one profile a curve comes from, measured on `opt`?): a profile of `opt` itself, else one of a device
    of its class where there is one; of that device, the profile whose prompt is closest to the workload's (the
    one with the most batch sizes when it keeps the profile's), repeated batch sizes averaged."""
    here = part.filter(pl.col("device_name").is_in(list(opt.measured_devices)))
    measured = not here.is_empty()
    if not measured:
        ranked = part.with_columns(same_class(opt.kind).fill_null(False).alias("__same")).sort(
            ["__same", "device_name"]
        )
        here = part.filter(pl.col("device_name") == ranked["device_name"][-1])
    shapes = here.group_by("prompt_tokens", "new_tokens").agg(pl.col("batch_size").n_unique().alias("points"))
    if prompt_tokens is None:
        shapes = shapes.sort(["points", "prompt_tokens"])
    else:
        shapes = shapes.sort((pl.col("prompt_tokens") - prompt_tokens).abs(), descending=True)
    p0, n0 = shapes.row(-1)[:2]
    one = here.filter((pl.col("prompt_tokens") == p0) & (pl.col("new_tokens") == n0))
    numeric = ("prefill_s", "decode_s_per_token", "peak_mem_bytes")
    averaged = one.group_by("batch_size").agg(
        *[pl.col(c).mean() for c in numeric],
        *[pl.col(c).first() for c in one.columns if c not in (*numeric, "batch_size")],
    )
    return averaged.select(one.columns).sort("batch_size"), measured


def curves_on(
    profiles: pl.DataFrame,
    opt: HardwareOption,
    ceilings: Mapping[str, Mapping[str, Any]],
    overheads: Mapping,
    prompt_tokens: float | None = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (model, quant): the optimistic and conservative (batch, prefill_s, decode_s_per_token) curves on
    `opt`, where they come from, the prompt tokens profiled, the launch floor of one forward at each end and the
    weight / peak memory of each point."""
    ok = profiles.filter((pl.col("status") == "ok") & pl.col("prefill_s").is_not_null())
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key, part in ok.group_by(list(CURVE_KEYS), maintain_order=True):
        source, measured = _source(part, opt, prompt_tokens)
        device = source["device_name"][0]
        entry = {"device": device, "prompt_tokens": float(source["prompt_tokens"][0]), "measured": measured}
        steps = _step_work(source)
        ovh = overhead_for(opt.kind, overheads)
        layers = float(steps["n_layers"][0] or 0)
        entry["floor"] = {"optimistic": layers * ovh.optimistic_s, "conservative": layers * ovh.conservative_s}
        if measured:
            curve = list(zip(steps["batch_size"], steps["prefill_s"], steps["decode_s_per_token"]))
            entry.update(optimistic=curve, conservative=curve)
        elif opt.spec is None:
            entry.update(optimistic=None, conservative=None)
        else:
            steps = _with_step_efficiency(steps, ceilings.get(device))
            for step in ("prefill", "decode"):
                steps = project_seconds(
                    steps, opt.spec, ovh, flops=f"{step}_flops", bytes_=f"{step}_bytes", forwards="one_forward",
                    efficiency=f"{step}_eff", out=f"{step}_target",
                )  # fmt: skip
            for end, sfx in (("optimistic", "_optimistic"), ("conservative", "")):
                pre, dec = steps[f"prefill_target{sfx}"], steps[f"decode_target{sfx}"]
                usable = pre.null_count() == 0 and dec.null_count() == 0
                entry[end] = list(zip(steps["batch_size"], pre, dec)) if usable else None
        entry["weight_bytes"] = float(steps["weight_bytes"][0])
        entry["kv_bytes_per_token"] = float(steps.select(kv_bytes_per_token())[0, 0] or 0.0)
        entry["peak_mem"] = [(float(b), float(m)) for b, m in zip(steps["batch_size"], steps["peak_mem_bytes"]) if m]
        out[tuple(key)] = entry
    return out


def _served(entry: dict[str, Any] | None, workload: Workload) -> dict[str, Any]:
    """The served point of one (model, quant) curve on an option, both ends of the range."""
    if entry is None:
        return {"gen_reason": "no serving profile (explorer profile --model M --quant Q --out RESULTS_DIR)"}
    if entry["conservative"] is None:
        return {"gen_reason": f"profiled on {entry['device']}; cannot project it onto this hardware"}
    p = workload.prompt_tokens or entry["prompt_tokens"]
    scale = p / entry["prompt_tokens"]
    floor = entry["floor"]
    hi = choose_batch(entry["conservative"], workload, scale, floor["conservative"])
    lo = choose_batch(entry["optimistic"], workload, scale, floor["optimistic"])
    if lo["reason"] is not None or lo["service_s"] > hi["service_s"]:
        lo = hi  # faster hardware can always run the conservative schedule: the optimistic end is never dearer
    n = float(workload.output_tokens or 1)
    kv = hi["batch"] * (p + n) * entry["kv_bytes_per_token"]
    peak = interpolate(entry["peak_mem"], hi["batch"]) if entry["measured"] and entry["peak_mem"] else None
    scaled = p != entry["prompt_tokens"]
    how = "measured" if entry["measured"] else "projected"
    return {
        "service_s_per_query": hi["service_s"],
        "service_s_per_query_optimistic": lo["service_s"],
        "latency_s": hi["latency_s"],
        "latency_s_optimistic": lo["latency_s"],
        "ttft_s": hi["ttft_s"],
        "tpot_s": hi["tpot_s"],
        "batch_size_served": hi["batch"],
        "batch_note": hi["batch_note"],
        "need_bytes": max(peak or 0.0, entry["weight_bytes"] + kv),
        "cost_provenance": "projected" if scaled or not entry["measured"] else "measured",
        "service_source": f"serving profile {how} on {entry['device']}"
        + (f", prefill scaled {entry['prompt_tokens']:g} -> {p:g} prompt tokens" if scaled else ""),
        "gen_reason": hi["reason"],
    }


GEN_SCHEMA: dict[str, Any] = {
    "model": pl.String,
    "quant": pl.String,
    "service_s_per_query": pl.Float64,
    "service_s_per_query_optimistic": pl.Float64,
    "latency_s": pl.Float64,
    "latency_s_optimistic": pl.Float64,
    "ttft_s": pl.Float64,
    "tpot_s": pl.Float64,
    "batch_size_served": pl.Int64,
    "batch_note": pl.String,
    "need_bytes": pl.Float64,
    "cost_provenance": pl.String,
    "service_source": pl.String,
    "gen_reason": pl.String,
}


def generation_service(
    rows: pl.DataFrame,
    profiles: pl.DataFrame,
    opt: HardwareOption,
    workload: Workload,
    ceilings: Mapping[str, Mapping[str, Any]],
    overheads: Mapping,
) -> pl.DataFrame:
    """`rows` (accuracy rows of every task) on `opt` with the service columns of the generation workload:
    the same served point for every task of a (model, quant); `gen_reason` when it cannot be served."""
    curves = curves_on(profiles, opt, ceilings, overheads, workload.prompt_tokens) if not profiles.is_empty() else {}
    configs = rows.select(CURVE_KEYS).unique(maintain_order=True).iter_rows()
    served = [{"model": m, "quant": q, **_served(curves.get((m, q)), workload)} for m, q in configs]
    frame = pl.DataFrame(served, schema=GEN_SCHEMA)
    drop = [c for c in GEN_SCHEMA if c in rows.columns and c not in CURVE_KEYS]
    energy = (
        [pl.lit(None, dtype=pl.Float64).alias("energy_j_per_query")] if "energy_j_per_query" in rows.columns else []
    )
    return rows.drop(drop).join(frame, on=list(CURVE_KEYS), how="left", maintain_order="left").with_columns(*energy)
