"""Reproduce a cell with plain lm-eval: the exact `lm_eval run` command for one record.

Every setting that changes a score is in the record: the model (`model_source`, resolved to the same local
folder or hub id), the dtype it was computed in (`compute_dtype`), the `lm_eval_settings` of the HFLM the worker
built (`softmax_dtype` float32 is not lm-eval's default: with the default, 2 of 100 PIQA documents differ),
`lm_eval_task` and the `include_path` holding its YAML (generated from the data dir), `num_fewshot`, `limit`,
`batch_size`, the device and the seed (lm-eval's four seeds are all set to it). Levels that quantize inside the
worker (torchao int8/int4, bitsandbytes) cannot be given to plain lm-eval: only unquantized levels are
reproducible this way.
"""

from __future__ import annotations

from typing import Any

UNQUANTIZED = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def lm_eval_command(record: dict[str, Any], output_path: str = "reproduced") -> list[str]:
    """The `lm_eval run ...` argument list that recomputes `record`'s per-document results."""
    from explorer.models.sources import ModelSource, resolve_pretrained

    if record.get("quant") not in UNQUANTIZED:
        raise ValueError(
            f"cell {record.get('cell_id')}: level {record.get('quant')!r} is applied inside the explorer's worker "
            f"({record.get('quant_backend')}); plain lm-eval cannot apply it: reproduce a {'/'.join(UNQUANTIZED)} cell"
        )
    missing = [k for k in ("model_source", "lm_eval_task", "lm_eval_settings") if not record.get(k)]
    if missing:
        raise ValueError(f"cell {record.get('cell_id')}: the record has no {', '.join(missing)} (written before "
                         "records kept them): re-run the cell")  # fmt: skip
    path, kwargs = resolve_pretrained(ModelSource(**record["model_source"]), log=lambda _m: None)
    settings = record["lm_eval_settings"]
    softmax = str(settings["softmax_dtype"]).removeprefix("torch.")
    args = {"pretrained": path, "dtype": UNQUANTIZED[record["quant"]], "softmax_dtype": softmax}
    args.update({k: v for k, v in kwargs.items() if k in ("revision", "trust_remote_code", "gguf_file")})
    seed = str(record["key"]["seed"])
    device = record.get("device") or record["device_kind"]
    cmd = ["lm_eval", "run", "--model", "hf", "--model_args", ",".join(f"{k}={v}" for k, v in args.items()),
           "--tasks", record["lm_eval_task"], "--batch_size", str(record["batch_size"]), "--device", device,
           "--seed", ",".join([seed] * 4), "--log_samples", "--output_path", output_path]  # fmt: skip
    if record.get("num_fewshot") is not None:  # None: the task's own default, as the worker passed it
        cmd += ["--num_fewshot", str(record["num_fewshot"])]
    if record.get("include_path"):
        cmd += ["--include_path", ":".join(record["include_path"])]
    if record.get("limit") is not None:
        cmd += ["--limit", str(record["limit"])]
    return cmd
