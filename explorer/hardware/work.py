"""The work a query asks of a device, from its record: matmul FLOPs, bytes read, forward passes, and the model
architecture these follow from (pure Polars).

Definitions (per query = one lm-eval document, all its requests):

- ``matmul_params``: the parameters that take part in a matrix multiply for every token. The input-embedding
  lookup reads one row per token, so an untied input embedding is left out; a tied one is also the output
  head (a full matmul over the vocabulary), so it stays in.
- ``flops_per_query = 2 x matmul_params x (tokens_read_per_query + tokens_out_per_query)`` (attention-score
  FLOPs are ignored; they are small at these context lengths).
- ``forwards_per_query``: model forward passes per query. New records count them (``forward_passes``: one per
  log-likelihood batch, and per generate call one prefill plus one per decode step of that batch, i.e. as many
  steps as its longest sequence needed); older records fall back to ``model_calls / n_docs x (1 +
  tokens_out_per_query)``, exact for log-likelihood tasks.
- ``bytes_per_query = pass_bytes x forwards_per_query + kv_bytes_per_query``: each forward reads the weights
  once for its whole batch (``pass_bytes = weight_bytes x matmul_params / model_params``, i.e. without an untied
  input embedding); each decode step also reads its sequence's KV cache
  (``kv_bytes_per_query = kv_bytes_per_token x tokens_out x (tokens_in + tokens_out / 2)``). Activations are
  ignored.

The architecture (layers, KV heads, head size, vocabulary, tied embeddings) comes from the record's
``architecture`` block (`explorer.models.architectures.architecture_of`, written with every record since it was
added); for older records it is looked up by model name in the published configs of
`explorer.models.architectures` (`architecture_source` says which).
"""

from __future__ import annotations

import polars as pl

from explorer.analysis.columns import require_columns
from explorer.models.architectures import published_architecture
from explorer.records.store import ARCH_COLUMNS

ARCH_FIELDS = ARCH_COLUMNS  # the record's architecture block, as the store flattens it
WORK_COLUMNS = ("model_params", "tokens_in_per_query", "tokens_out_per_query", "weight_bytes", "n_docs")


def add_architecture(frame: pl.DataFrame) -> pl.DataFrame:
    """Fill the ARCH_FIELDS columns: the record's own where present, else the published config of the model
    name. `architecture_source` says which ("record" | "published config"; null when neither is known)."""
    out = frame.with_columns(pl.lit(None, dtype=t).alias(c) for c, t in ARCH_FIELDS.items() if c not in frame.columns)
    recorded = pl.col("n_layers").is_not_null()
    out = out.with_columns(pl.when(recorded).then(pl.lit("record")).alias("architecture_source"))
    names = out.get_column("model").unique().to_list() if "model" in out.columns else []
    known = {name: arch for name in names if (arch := published_architecture(name)) is not None}
    if not known:
        return out
    schema = {"model": pl.String, **{f"__{c}": t for c, t in ARCH_FIELDS.items()}}
    rows = [{"model": name, **{f"__{c}": arch[c] for c in ARCH_FIELDS}} for name, arch in known.items()]
    out = out.join(pl.DataFrame(rows, schema=schema), on="model", how="left", maintain_order="left")
    fill = ~recorded & pl.col("__n_layers").is_not_null()
    return out.with_columns(
        *[pl.when(fill).then(pl.col(f"__{c}")).otherwise(pl.col(c)).alias(c) for c in ARCH_FIELDS],
        pl.when(fill)
        .then(pl.lit("published config"))
        .otherwise(pl.col("architecture_source"))
        .alias("architecture_source"),
    ).drop([f"__{c}" for c in ARCH_FIELDS])


def kv_bytes_per_token(dtype_bytes: float = 2.0) -> pl.Expr:
    """KV-cache bytes one token adds: 2 (K and V) x layers x KV heads x head size x bytes per element."""
    return 2.0 * pl.col("n_layers") * pl.col("n_kv_heads") * pl.col("head_dim") * dtype_bytes


def matmul_params() -> pl.Expr:
    """Parameters in a matmul per token: all but an untied input embedding (needs add_architecture's columns)."""
    params = pl.col("model_params").cast(pl.Float64)
    embedding = (pl.col("vocab_size") * pl.col("hidden_size")).cast(pl.Float64)
    untied = pl.col("tied_embeddings").not_().fill_null(False)
    return pl.when(untied & embedding.is_not_null()).then(params - embedding).otherwise(params)


def pass_bytes() -> pl.Expr:
    """Weight bytes one forward pass reads: the stored weights without an untied input embedding."""
    return pl.col("weight_bytes").cast(pl.Float64) * matmul_params() / pl.col("model_params").cast(pl.Float64)


def add_work(frame: pl.DataFrame) -> pl.DataFrame:
    """Add matmul_params, flops_per_query, forwards_per_query, pass_bytes, kv_bytes_per_query, bytes_per_query
    (see the module text); every input column is kept. Fills the architecture first."""
    require_columns(frame, WORK_COLUMNS, "add_work")
    data = add_architecture(frame)
    tokens_out = pl.col("tokens_out_per_query").cast(pl.Float64).fill_null(0.0)
    tokens_in = pl.col("tokens_in_per_query").cast(pl.Float64)
    read = pl.col("tokens_read_per_query") if "tokens_read_per_query" in data.columns else pl.lit(None)
    tokens = pl.coalesce(read.cast(pl.Float64), tokens_in) + tokens_out
    docs = pl.col("n_docs").cast(pl.Float64)
    calls = pl.col("model_calls").cast(pl.Float64) if "model_calls" in data.columns else pl.lit(None)
    fallback = pl.when(calls.is_not_null() & (docs > 0)).then(calls / docs).otherwise(1.0) * (1.0 + tokens_out)
    counted = pl.col("forward_passes").cast(pl.Float64) / docs if "forward_passes" in data.columns else pl.lit(None)
    fp32 = pl.col("compute_dtype") == "float32" if "compute_dtype" in data.columns else pl.lit(False)
    kv_token = pl.when(fp32.fill_null(False)).then(kv_bytes_per_token(4.0)).otherwise(kv_bytes_per_token(2.0))
    return (
        data.with_columns(matmul_params().alias("matmul_params"), pass_bytes().alias("pass_bytes"))
        .with_columns(
            (2.0 * pl.col("matmul_params") * tokens).alias("flops_per_query"),
            pl.coalesce(counted, fallback).alias("forwards_per_query"),
            (kv_token * tokens_out * (tokens_in + tokens_out / 2.0)).fill_null(0.0).alias("kv_bytes_per_query"),
        )
        .with_columns(
            (pl.col("pass_bytes") * pl.col("forwards_per_query") + pl.col("kv_bytes_per_query")).alias(
                "bytes_per_query"
            )
        )
    )
