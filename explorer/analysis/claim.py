"""The users' question as a query: how much of a big model's accuracy does a cheaper configuration give, at what
share of its bill, and what quantization buys per model family (pure Polars over a deployment table).

- `claim`: in one scope (a task, or the mean over tasks), the reference configuration (default: the most
  accurate) at its cheapest deployment, and the cheapest deployment of any configuration reaching `fraction` of
  its accuracy; both accuracies and both costs with their provenance. Only rows of the reference's protocol
  (`protocol_key`: harness family, few-shot, metric) are compared: accuracies measured another way are not
  comparable.
- `quant_view`: per model and study (one source document, or this machine's measurements), every quantized
  level against its own bf16/fp16 baseline: accuracy lost (points) and bill saved (share of the baseline's
  cheapest bill), with the model family.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from explorer.analysis.frontier import MEAN_TASK
from explorer.analysis.recommend import cheapest_at_or_above, check_cost_axis, check_fraction, scope_of

BASELINES = ("bf16", "fp16", "fp32")


def protocol_key() -> pl.Expr:
    """'lm-eval 0-shot acc' and the like: rows with one key were scored alike (measured rows: lm-eval)."""
    harness = pl.col("harness")
    family = (
        pl.when(harness.is_null() | harness.str.to_lowercase().str.starts_with("lm-eval"))
        .then(pl.lit("lm-eval"))
        .otherwise(harness.str.extract(r"^(\S+)", 1))
    )
    shots = pl.col("num_fewshot").cast(pl.String).fill_null("mixed")
    return pl.format("{} {}-shot {}", family, shots, pl.col("metric"))


def _with_protocol(rows: pl.DataFrame) -> pl.DataFrame:
    data = rows
    for col, dtype in (("harness", pl.String), ("num_fewshot", pl.Int64), ("accuracy_provenance", pl.String)):
        if col not in data.columns:
            data = data.with_columns(pl.lit(None, dtype=dtype).alias(col))
    return data.with_columns(protocol_key().alias("protocol_key"))


def _servable(table: pl.DataFrame, scope: str, cost: str) -> pl.DataFrame:
    rows = table.filter((pl.col("task") == scope) & pl.col("excluded_reason").is_null())
    return _with_protocol(rows.filter(pl.col(cost).cast(pl.Float64).is_finite().fill_null(False)))


def provenance(row: Mapping[str, Any]) -> str:
    """'accuracy reported (acc.md@1bf1b486), cost projected to L4 (projected from AMD EPYC ...)' for one row."""
    acc = row.get("accuracy_provenance") or "measured"
    where = (
        f" ({row['source_doc']})"
        if acc == "reported" and row.get("source_doc")
        else " here"
        if acc == "measured"
        else ""
    )
    prep = "on" if row.get("cost_provenance") == "measured" else "to"
    cost = f"cost {row.get('cost_provenance')} {prep} {row.get('hardware')} ({row.get('service_source')})"
    return f"accuracy {acc}{where}, {cost}"


def _name(row: Mapping[str, Any]) -> str:
    return f"{row['model']} {row['quant']}"


def claim(
    table: pl.DataFrame,
    task: str | None = None,
    reference: tuple[str, str] | None = None,
    fraction: float = 0.9,
    cost: str = "monthly_usd",
) -> dict[str, Any]:
    """The claim for one scope (see the module text) as a JSON-ready dict with its sentence."""
    check_fraction(fraction, "fraction")
    check_cost_axis(cost)
    scope = scope_of(table, task)
    rows = _servable(table, scope, cost)
    if rows.is_empty():
        raise ValueError(f"no servable deployment on {scope} to compare")
    if reference is None:
        ref_rows = rows.filter(pl.col("value") == pl.col("value").max())
    else:
        ref_rows = rows.filter((pl.col("model") == reference[0]) & (pl.col("quant") == reference[1]))
        if ref_rows.is_empty():
            raise ValueError(f"no servable deployment of the reference {reference[0]} {reference[1]} on {scope}")
    ref = ref_rows.sort([cost, "value"], descending=[False, True]).row(0, named=True)
    same = rows.filter(pl.col("protocol_key") == ref["protocol_key"])
    if ref["value"] is None or ref["value"] <= 0:  # chance-normalised: nothing above chance, no share of it
        raise ValueError(f"the reference {ref['model']} {ref['quant']} is not above chance on {scope} "
                         f"({ref['value']:.3f}): no share of its accuracy to reach")  # fmt: skip
    threshold = fraction * ref["value"]
    pick = cheapest_at_or_above(same, threshold, cost).row(0, named=True)
    out = {
        "task": scope,
        "fraction": fraction,
        "cost_axis": cost,
        "protocol": ref["protocol_key"],
        "n_compared": same.select("model", "quant").unique().height,
        "n_other_protocols": rows.height - same.height,
        "reference": _public(ref),
        "chosen": _public(pick),
        "accuracy_share": pick["value"] / ref["value"] if ref["value"] else None,
        "cost_share": pick[cost] / ref[cost] if ref[cost] else None,
    }
    out["sentence"] = sentence(out)
    return out


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("model", "quant", "quant_method", "hardware", "replicas", "value", "monthly_usd",
            "effective_usd_per_query", "usd_per_correct", "accuracy_provenance", "cost_provenance",
            "service_source", "source_doc", "source")  # fmt: skip
    return {**{k: row.get(k) for k in keys}, "provenance": provenance(row)}


def sentence(c: Mapping[str, Any]) -> str:
    """'<A> reaches 91% of <B>'s arc_easy accuracy at 2.1% of its monthly bill (...)'."""
    scope = "mean" if c["task"] == MEAN_TASK else c["task"]
    bill = {"monthly_usd": "monthly bill", "effective_usd_per_query": "cost per query",
            "usd_per_correct": "cost per correct answer"}[c["cost_axis"]]  # fmt: skip
    ch, ref = c["chosen"], c["reference"]
    if _name(ch) == _name(ref) and ch.get("hardware") == ref.get("hardware"):  # not "100% at 100.0% (1x)"
        return (
            f"nothing cheaper reaches {c['fraction']:.0%} of {_name(ref)}'s {scope} accuracy: it is the answer "
            f"itself ({ref['provenance']}; protocol {c['protocol']}, {c['n_compared']} configurations compared)"
        )
    return (
        f"{_name(ch)} reaches {c['accuracy_share']:.0%} of {_name(ref)}'s {scope} accuracy at "
        f"{c['cost_share']:.1%} of its {bill} ({ch['provenance']}; reference: {ref['provenance']}; "
        f"protocol {c['protocol']}, {c['n_compared']} configurations compared)"
    )


def _family(model: pl.Expr) -> pl.Expr:
    """'llama-2', 'qwen2.5', 'gemma3', ... from an architecture name or a model id."""
    name = model.str.to_lowercase().str.split("/").list.last().str.replace("meta-llama-", "llama-")
    return name.str.extract(r"^([a-z]+[-]?[0-9.]*?)(?:-[0-9.]+[bm]|$|-v)", 1).fill_null(name)


def quant_view(table: pl.DataFrame, task: str | None = None, cost: str = "monthly_usd") -> pl.DataFrame:
    """Accuracy lost and bill saved by each quantized level against its own study's baseline (module text)."""
    scope = scope_of(table, task)
    rows = _servable(table, scope, cost)
    level = pl.coalesce(pl.col("quant_level"), pl.col("quant")) if "quant_level" in rows.columns else pl.col("quant")
    study = pl.col("source_doc").fill_null("measured here") if "source_doc" in rows.columns else pl.lit("measured here")
    best = (
        rows.with_columns(level.alias("level"), study.alias("study"))
        .sort(cost)
        .group_by(["model", "quant", "study"], maintain_order=True)
        .first()
    )
    base = (
        best.filter(pl.col("level").is_in(BASELINES))
        .group_by(["model", "study"])
        .agg(
            pl.col("value").mean().alias("base_value"),
            pl.col(cost).min().alias(f"base_{cost}"),
            pl.col("quant").first().alias("base_quant"),
        )  # fmt: skip
    )
    out = best.filter(~pl.col("level").is_in(BASELINES)).join(base, on=["model", "study"], how="inner")
    arch = pl.col("architecture") if "architecture" in out.columns else pl.col("model")
    return out.with_columns(
        _family(pl.coalesce(arch, pl.col("model"))).alias("family"),
        ((pl.col("base_value") - pl.col("value")) * 100).alias("accuracy_lost_points"),
        (1 - pl.col(cost) / pl.col(f"base_{cost}")).alias("bill_saved"),
    ).select(
        "family", "model", "study", "quant", "level", "base_quant", "value", "base_value", "accuracy_lost_points",
        cost, f"base_{cost}", "bill_saved", "hardware", "accuracy_provenance", "cost_provenance",
    ).sort(["family", "model", "study", "quant"])  # fmt: skip
