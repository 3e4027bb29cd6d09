"""Reported accuracy beside measured cost: one row per (reported model, quantization, task) that joins a published
accuracy (`accuracy_provenance: reported`) to the cost measured on random weights of the same architecture,
level and task (pure Polars).

- Which reported rows: by default those whose protocol matches the measured rows (`matching_protocol`: an
  lm-eval harness, the same few-shot, the same metric); `protocols="all"` or a list of protocol groups switches
  others on (each row keeps its `protocol_group`).
- A reported configuration is (model, `quant` label): the level, the method's first word and, where one model,
  level and method come from several sources (or runs), the source and a number, so two studies never merge.
  `quant_level`, `quant_method` and `source` keep what was printed.
- Cost: a random-weight cell (`weights: random`, model `random:<architecture>`) of the row's `architecture`, at
  the explorer level that stores weights like the reported one (`COST_LEVEL`: bf16/fp16 -> bf16, 8-bit -> int8,
  4-bit -> int4; the reported method and the measured backend are both on the row), on the same task. Its
  device seconds, tokens, memory and weight bytes are used exactly as a real model's; its accuracy never is.
- An architecture too large to measure here gets a projected cost: the work of the largest measured
  architecture at that level and task (the same stand-in tokenizer, so the same tokens and batching), re-shaped
  to its own parameters, layers, KV heads and weight bytes (at the level's measured bytes per parameter), with
  the measured one's roofline efficiency borrowed (`efficiency_borrowed`) and no time of its own: every
  hardware projects it (`cost_origin` says so).
- A reported row that finds no cost keeps its accuracy and says why in `cost_note` (the deployments exclude it
  with that reason, never drop it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from explorer.hardware.work import add_architecture

COST_LEVEL = {"bf16": "bf16", "fp16": "bf16", "fp32": "fp32", "int8": "int8", "w8a16": "int8", "fp8": "int8",
              "int4": "int4", "gguf_q4_k_m": "int4", "mxfp4": "int4", "nvfp4": "int4"}  # fmt: skip
RANDOM = "random"
_NOT_COST = ("value", "stderr", "metric", "chance", "task_source", "model", "quant", "num_fewshot", "limit",
             "accuracy_provenance", "status", "error", "samples_error")  # fmt: skip
_ARCH = ("n_layers", "hidden_size", "n_kv_heads", "head_dim", "vocab_size", "tied_embeddings")


def random_cost_rows(evals: pl.DataFrame) -> pl.DataFrame:
    """The random-weight cells of `evals` (ok, one row per cell): their cost, never their accuracy."""
    if "weights" not in evals.columns or evals.is_empty():
        return evals.clear()
    rows = evals.filter((pl.col("weights") == RANDOM) & (pl.col("status") == "ok"))
    rows = rows.unique(subset=["cell_id"], keep="first", maintain_order=True)
    return rows.with_columns(pl.col("model").str.strip_prefix("random:").alias("architecture"))


def matching_protocol(num_fewshot: Sequence[int], metric: str) -> pl.Expr:
    """Rows measured like the explorer's own: an lm-eval harness, the same few-shot, the same metric."""
    return (
        pl.col("harness").str.to_lowercase().str.starts_with("lm-eval")
        & pl.col("num_fewshot").is_in(list(num_fewshot))
        & (pl.col("metric") == metric)
    )


def select_reported(
    reported: pl.DataFrame, protocols: str | Sequence[str], num_fewshot: Sequence[int], metric: str
) -> pl.DataFrame:
    """`protocols`: "matching" (the default view), "all", or protocol group names."""
    if protocols == "matching":
        return reported.filter(matching_protocol(num_fewshot, metric))
    if protocols == "all":
        return reported
    return reported.filter(pl.col("protocol_group").is_in(list(protocols)))


def _doc(source: str) -> str:
    """A short name of a source: 'acc.md@1bf1b486' for a repository file at a commit, else the page's last part."""
    m = re.search(r"([\w.\-]+\.md) @([0-9a-f]{8})", source)
    return f"{m.group(1)}@{m.group(2)}" if m else source.split("/")[-1][:40]


def label_configs(reported: pl.DataFrame) -> pl.DataFrame:
    """`quant` becomes the configuration label (see the module text); `quant_level` keeps the level."""
    first = pl.col("quant_method").str.extract(r"^([A-Za-z0-9_+]+)", 1).fill_null("")
    short = pl.when(first.str.to_lowercase() == "none").then(pl.lit("")).otherwise(pl.concat_str(pl.lit(" "), first))
    data = reported.with_columns(
        pl.col("quant").alias("quant_level"),
        pl.concat_str(pl.col("quant"), short).alias("__label"),
        pl.col("source").map_elements(_doc, return_dtype=pl.String).alias("source_doc"),
    )
    keys = ["model", "__label"]
    variants = data.select(*keys, "source_doc", "quant_method").unique(maintain_order=True)
    variants = variants.with_columns(pl.len().over(keys).alias("__n"), pl.int_range(pl.len()).over(keys).alias("__i"))
    variants = variants.with_columns(
        pl.when(pl.col("__n") > 1)
        .then(pl.format("{} [{} #{}]", pl.col("__label"), pl.col("source_doc"), pl.col("__i") + 1))
        .otherwise(pl.col("__label"))
        .alias("quant")
    )
    data = data.drop("quant").join(variants.select(*keys, "source_doc", "quant_method", "quant"),
                                   on=[*keys, "source_doc", "quant_method"], how="left")  # fmt: skip
    return data.drop("__label")


def _reshaped(donors: pl.DataFrame, arch: str) -> pl.DataFrame:
    """Donor cells re-shaped to architecture `arch` (see the module text): projected cost, nothing measured."""
    from explorer.models.architectures import param_count

    params = float(param_count(arch))
    d = add_architecture(donors)
    tied = pl.when(pl.col("tied_embeddings")).then(1).otherwise(2)
    embed = (pl.col("vocab_size") * pl.col("hidden_size") * tied).cast(pl.Float64)
    per_param = (pl.col("weight_bytes") - 2.0 * embed) / (pl.col("model_params") - embed)  # the level's bytes
    t = add_architecture(pl.DataFrame({"model": [arch]})).row(0, named=True)
    t_embed = float(t["vocab_size"] * t["hidden_size"] * (1 if t["tied_embeddings"] else 2))
    weights = per_param * (params - t_embed) + 2.0 * t_embed
    working = (pl.col("peak_mem_bytes") - pl.col("weight_bytes")).clip(lower_bound=0)
    origin = pl.format("not measured: the work of {} measured on {}, re-shaped to {}", pl.col("model"),
                       pl.col("device_name"), pl.lit(arch))  # fmt: skip
    return d.with_columns(
        origin.alias("cost_origin"),
        pl.lit(int(params)).alias("model_params"),
        weights.cast(pl.Int64).alias("weight_bytes"),
        (weights + working).cast(pl.Int64).alias("peak_mem_bytes"),
        *[pl.lit(t[c]).alias(c) for c in _ARCH],
        pl.lit(None, dtype=pl.Float64).alias("device_s_per_query"),
        pl.lit(None, dtype=pl.String).alias("device_name"),
        pl.lit(None, dtype=pl.Float64).alias("energy_j_per_query"),
        pl.lit(arch).alias("architecture"),
        pl.lit(f"random:{arch}").alias("model"),
        pl.col("efficiency").alias("efficiency_borrowed")
        if "efficiency" in d.columns
        else pl.lit(None).alias("efficiency_borrowed"),
    ).drop([c for c in ("efficiency",) if c in d.columns])


def cost_for(cost: pl.DataFrame, architectures: Sequence[str]) -> pl.DataFrame:
    """Cost rows for every architecture asked: its measured cells where there are any, else the work of the
    largest measured architecture per (level, task), re-shaped (`_reshaped`; `efficiency` of the donor rows is
    borrowed when the frame has that column)."""
    if cost.is_empty():
        return cost
    have = set(cost.get_column("architecture").unique().to_list())
    donors = cost.sort("model_params").group_by(["quant", "task"], maintain_order=True).last()
    parts = [cost] + [_reshaped(donors, arch) for arch in sorted(set(architectures) - have)]
    return pl.concat(parts, how="diagonal_relaxed")


def join_reported(reported: pl.DataFrame, cost: pl.DataFrame) -> pl.DataFrame:
    """One row per labelled reported figure with the cost of its architecture, level and task (`cost_note`
    where there is none): accuracy columns from the report, cost columns from the random-weight cell
    (`cost_cell_id`, `cost_weights`, `quant_backend` as measured, `cost_quant` the explorer level)."""
    data = reported.with_columns(
        pl.col("quant_level").replace_strict(COST_LEVEL, default=None, return_dtype=pl.String).alias("cost_quant")
    )
    if cost.is_empty():
        joined = data.with_columns(pl.lit(None, dtype=pl.String).alias("cost_cell_id"))
    else:
        right = cost.rename({"cell_id": "cost_cell_id", "weights": "cost_weights"}, strict=False)
        right = right.with_columns(pl.col("quant").alias("cost_quant")).drop(
            [c for c in _NOT_COST if c in right.columns]
        )
        joined = data.join(right, on=["architecture", "cost_quant", "task"], how="left")
    note = (
        pl.when(pl.col("architecture").is_null())
        .then(pl.lit("no architecture for this model (give the 'architecture' column)"))
        .when(pl.col("cost_quant").is_null())
        .then(pl.format("no explorer level stores weights like {} (bf16, int8, int4 are)", pl.col("quant_level")))
        .when(pl.col("cost_cell_id").is_null())
        .then(
            pl.format(
                "no cost measured for {} at {} on {}", pl.col("architecture"), pl.col("cost_quant"), pl.col("task")
            )
        )
    )
    return joined.with_columns(
        note.alias("cost_note"), pl.col("cost_cell_id").alias("cell_id"), pl.lit("ok").alias("status")
    )


def reported_for(
    evals: pl.DataFrame,
    reported: pl.DataFrame | None,
    ceilings: dict,
    metric: str = "acc",
    protocols: str | Sequence[str] = "matching",
) -> pl.DataFrame:
    """The reported rows to serve beside the measured ones (`serve(extra=...)`): selected by protocol against the
    measured rows' few-shot and `metric`, labelled, joined to the random-weight cost of `evals` (the measured
    cells' own efficiency computed with `ceilings`, for the architectures that borrow it)."""
    from explorer.deployment.service import with_efficiency

    if reported is None or reported.is_empty():
        return pl.DataFrame()
    chosen = select_reported(reported, protocols, measured_shots(evals) or [0], metric)
    if chosen.is_empty():
        return pl.DataFrame()
    cost = random_cost_rows(evals)
    if not cost.is_empty():
        cost = with_efficiency(cost, ceilings)
    labelled = label_configs(chosen)
    joined = join_reported(
        labelled, cost_for(cost, labelled.get_column("architecture").drop_nulls().unique().to_list())
    )
    return with_task_chance(joined, evals)


def measured_shots(evals: pl.DataFrame) -> list[int]:
    """The few-shot settings of the ok cells on real weights (the "matching" protocol's)."""
    if not evals.height:
        return []
    real = evals.select("status", "weights", "num_fewshot").filter(
        (pl.col("status") == "ok") & pl.col("weights").ne_missing(RANDOM)
    )
    return sorted(int(n) for n in real.get_column("num_fewshot").drop_nulls().unique().to_list())


def task_chance(evals: pl.DataFrame) -> pl.DataFrame:
    """(task, __chance): each task's chance level (1 / choices) from the ok cell that ran it over the most
    documents."""
    if not evals.height:
        return pl.DataFrame(schema={"task": pl.String, "__chance": pl.Float64})
    ok = evals.select("status", "chance", "n_docs", "task").filter(
        (pl.col("status") == "ok") & pl.col("chance").is_not_null()
    )
    per_task = ok.sort("n_docs", descending=True, nulls_last=True, maintain_order=True)
    per_task = per_task.group_by("task", maintain_order=True).first()
    return per_task.select("task", pl.col("chance").cast(pl.Float64).alias("__chance"))


def reported_depends_on(evals: pl.DataFrame) -> tuple[tuple[int, ...], dict[str, float]]:
    """All `reported_for` reads of the measured cells besides the random-weight ones: their few-shot settings and
    each task's chance (two folders equal here get the same reported rows for the same tasks)."""
    return tuple(measured_shots(evals)), dict(task_chance(evals).iter_rows())


def with_task_chance(rows: pl.DataFrame, evals: pl.DataFrame) -> pl.DataFrame:
    """The chance level of each row's task (1 / choices, a property of the task's documents, not of a model):
    the mean over the ok cells that ran it, the largest number of documents first (chance normalisation of a
    reported accuracy needs it)."""
    chance = task_chance(evals)
    if rows.is_empty() or chance.is_empty():
        return rows
    out = rows.join(chance, on="task", how="left")
    if "chance" in out.columns:
        out = out.with_columns(pl.coalesce("chance", "__chance").alias("chance"))
    else:
        out = out.rename({"__chance": "chance"})
    return out.drop([c for c in ("__chance",) if c in out.columns])
