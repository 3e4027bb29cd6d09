"""Real model architectures with random weights, for cost profiles where the weights cannot be fetched.

Cost (time, memory, energy) does not depend on weight values, so a GPU node without internet can profile
the architecture of an 8B model from its config alone. Accuracy from such a model is meaningless: every
record of one says `weights: random`. The shapes are the published `config.json` values (reported).
"""

from __future__ import annotations

import difflib
from typing import Any

ARCH_VERSION = 1

_LLAMA = {"model_type": "llama", "hidden_act": "silu", "rms_norm_eps": 1e-5, "max_position_embeddings": 8192}
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "smollm2-135m": {
        **_LLAMA,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "vocab_size": 49152,
        "tie_word_embeddings": True,
        "rope_theta": 100000.0,
    },
    "smollm2-360m": {
        **_LLAMA,
        "hidden_size": 960,
        "intermediate_size": 2560,
        "num_hidden_layers": 32,
        "num_attention_heads": 15,
        "num_key_value_heads": 5,
        "vocab_size": 49152,
        "tie_word_embeddings": True,
        "rope_theta": 100000.0,
    },
    "smollm2-1.7b": {
        **_LLAMA,
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 49152,
        "tie_word_embeddings": True,
        "rope_theta": 130000.0,
    },
    "llama-3.2-1b": {
        **_LLAMA,
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "tie_word_embeddings": True,
        "rope_theta": 500000.0,
    },
    "llama-3.2-3b": {
        **_LLAMA,
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 28,
        "num_attention_heads": 24,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "tie_word_embeddings": True,
        "rope_theta": 500000.0,
    },
    "llama-3.1-8b": {
        **_LLAMA,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "tie_word_embeddings": False,
        "rope_theta": 500000.0,
    },
    "gemma3-270m": {
        "model_type": "gemma3_text",
        "hidden_size": 640,
        "intermediate_size": 2048,
        "num_hidden_layers": 18,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "head_dim": 256,
        "vocab_size": 262144,
        "tie_word_embeddings": True,
        "rope_theta": 1000000.0,
        "sliding_window": 512,
        "max_position_embeddings": 32768,
    },
    "qwen2.5-0.5b": {
        "model_type": "qwen2",
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
        "rope_theta": 1000000.0,
        "max_position_embeddings": 8192,
    },
    "qwen2.5-7b": {
        "model_type": "qwen2",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "tie_word_embeddings": False,
        "rope_theta": 1000000.0,
        "max_position_embeddings": 8192,
    },
}


def architecture_of(config: Any) -> dict[str, Any]:
    """The architecture block records store (layers, KV heads, head size, vocabulary, tied embeddings), from a
    transformers config (multimodal: its text config)."""
    cfg = getattr(config, "text_config", None) or config
    heads = getattr(cfg, "num_attention_heads", None)
    hidden = getattr(cfg, "hidden_size", None)
    head_dim = getattr(cfg, "head_dim", None) or (hidden // heads if hidden and heads else None)
    return {
        "n_layers": getattr(cfg, "num_hidden_layers", None),
        "hidden_size": hidden,
        "n_kv_heads": getattr(cfg, "num_key_value_heads", None) or heads,
        "head_dim": head_dim,
        "vocab_size": getattr(cfg, "vocab_size", None),
        "tied_embeddings": bool(getattr(config, "tie_word_embeddings", getattr(cfg, "tie_word_embeddings", False))),
    }


def published_architecture(name: str | None) -> dict[str, Any] | None:
    """The architecture block of a model name from the published configs (demo aliases and random:<arch>)."""
    cfg = ARCHITECTURES.get((name or "").removeprefix("random:"))
    if cfg is None:
        return None
    heads = cfg["num_attention_heads"]
    return {
        "n_layers": cfg["num_hidden_layers"],
        "hidden_size": cfg["hidden_size"],
        "n_kv_heads": cfg.get("num_key_value_heads", heads),
        "head_dim": cfg.get("head_dim") or cfg["hidden_size"] // heads,
        "vocab_size": cfg["vocab_size"],
        "tied_embeddings": bool(cfg.get("tie_word_embeddings", False)),
    }


def check_arch(name: str) -> str:
    if name in ARCHITECTURES:
        return name
    close = difflib.get_close_matches(name, list(ARCHITECTURES), n=2)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"known: {', '.join(ARCHITECTURES)}"
    raise ValueError(f"unknown architecture {name!r} for random weights; {hint}")


def build_random(name: str, dtype: Any, device: str, seed: int = 0) -> tuple[Any, Any]:
    """(model with random weights, built directly on `device`; the offline byte-level tokenizer)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from explorer.models.demo import _byte_level_tokenizer

    cfg = dict(ARCHITECTURES[check_arch(name)])
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    tokenizer = _byte_level_tokenizer()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = None  # never stop early: profiles generate exactly N tokens
    return model.eval(), tokenizer
