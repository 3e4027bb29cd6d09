"""Real model architectures with random weights, for cost profiles where the weights cannot be fetched.

Cost (time, memory, energy) does not depend on weight values, so a GPU node without internet can profile
the architecture of an 8B model from its config alone. Accuracy from such a model is meaningless: every
record of one says `weights: random`. The shapes are the published `config.json` values (reported).
"""

from __future__ import annotations

from typing import Any

ARCH_VERSION = 2  # 2: fast fill, tied heads tied

_LLAMA = {"model_type": "llama", "hidden_act": "silu", "rms_norm_eps": 1e-5, "max_position_embeddings": 8192}


def _arch(base: dict[str, Any], h: int, ffn: int, layers: int, heads: int, kv: int, vocab: int, tied: bool,
          theta: float, **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {**base, "hidden_size": h, "intermediate_size": ffn, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": vocab,
            "tie_word_embeddings": tied, "rope_theta": theta, **extra}  # fmt: skip


_QWEN = {"model_type": "qwen2", "max_position_embeddings": 8192}
_MISTRAL = {"model_type": "mistral", "max_position_embeddings": 8192, "sliding_window": 4096}
_GEMMA = {"model_type": "gemma3_text", "max_position_embeddings": 32768}
# name: (published config.json values; the parameter count each gives is checked in tests/test_models.py)
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "smollm2-135m": _arch(_LLAMA, 576, 1536, 30, 9, 3, 49152, True, 100000.0),
    "smollm2-360m": _arch(_LLAMA, 960, 2560, 32, 15, 5, 49152, True, 100000.0),
    "smollm2-1.7b": _arch(_LLAMA, 2048, 8192, 24, 32, 32, 49152, True, 130000.0),
    "llama-2-7b": _arch(_LLAMA, 4096, 11008, 32, 32, 32, 32000, False, 10000.0),
    "llama-2-13b": _arch(_LLAMA, 5120, 13824, 40, 40, 40, 32000, False, 10000.0),
    "llama-2-70b": _arch(_LLAMA, 8192, 28672, 80, 64, 8, 32000, False, 10000.0),
    "llama-3.2-1b": _arch(_LLAMA, 2048, 8192, 16, 32, 8, 128256, True, 500000.0),
    "llama-3.2-3b": _arch(_LLAMA, 3072, 8192, 28, 24, 8, 128256, True, 500000.0),
    "llama-3.1-8b": _arch(_LLAMA, 4096, 14336, 32, 32, 8, 128256, False, 500000.0),
    "llama-3.1-70b": _arch(_LLAMA, 8192, 28672, 80, 64, 8, 128256, False, 500000.0),
    "mistral-7b": _arch(_MISTRAL, 4096, 14336, 32, 32, 8, 32000, False, 10000.0),
    "qwen2.5-0.5b": _arch(_QWEN, 896, 4864, 24, 14, 2, 151936, True, 1000000.0),
    "qwen2.5-1.5b": _arch(_QWEN, 1536, 8960, 28, 12, 2, 151936, True, 1000000.0),
    "qwen2.5-3b": _arch(_QWEN, 2048, 11008, 36, 16, 2, 151936, True, 1000000.0),
    "qwen2.5-7b": _arch(_QWEN, 3584, 18944, 28, 28, 4, 152064, False, 1000000.0),
    "qwen2.5-14b": _arch(_QWEN, 5120, 13824, 48, 40, 8, 152064, False, 1000000.0),
    "qwen2.5-32b": _arch(_QWEN, 5120, 27648, 64, 40, 8, 152064, False, 1000000.0),
    "qwen2.5-72b": _arch(_QWEN, 8192, 29568, 80, 64, 8, 152064, False, 1000000.0),
    "gemma3-270m": _arch(_GEMMA, 640, 2048, 18, 4, 1, 262144, True, 1000000.0, head_dim=256, sliding_window=512),
    "gemma3-1b": _arch(_GEMMA, 1152, 6912, 26, 4, 1, 262144, True, 1000000.0, head_dim=256, sliding_window=512),
    # the text stacks of the multimodal 4B-27B checkpoints (the vision tower costs nothing for text queries)
    "gemma3-4b": _arch(_GEMMA, 2560, 10240, 34, 8, 4, 262208, True, 1000000.0, head_dim=256, sliding_window=1024),
    "gemma3-12b": _arch(_GEMMA, 3840, 15360, 48, 16, 8, 262208, True, 1000000.0, head_dim=256, sliding_window=1024),
    "gemma3-27b": _arch(_GEMMA, 5376, 21504, 62, 32, 16, 262208, True, 1000000.0, head_dim=128, sliding_window=1024),
}
# aliases users may type: the instruct / base / version variants share one shape
ALIASES = {"llama-3-8b": "llama-3.1-8b", "llama-3-70b": "llama-3.1-70b", "mistral-7b-v0.1": "mistral-7b"}


def param_count(name: str) -> int:
    """Dense parameters of an architecture from its shape (no model built): embeddings, attention, MLP, norms.
    Biases (Qwen's QKV) and norms are small; they are counted where the family has them."""
    cfg = ARCHITECTURES[check_arch(name)]
    h, ffn, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    heads, kv, vocab = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["vocab_size"]
    head = cfg.get("head_dim") or h // heads
    attn = h * heads * head * 2 + h * kv * head * 2
    if cfg["model_type"] == "qwen2":
        attn += heads * head + 2 * kv * head  # q, k, v biases
    norms = 2 * h + (4 * head if cfg["model_type"] == "gemma3_text" else 0)
    embed = vocab * h * (1 if cfg["tie_word_embeddings"] else 2)
    return layers * (attn + 3 * h * ffn + norms) + embed + h


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
    name = ALIASES.get(name, name)
    if name in ARCHITECTURES:
        return name
    from explorer.hints import did_you_mean

    raise ValueError(
        f"unknown architecture {name!r} for random weights{did_you_mean(name, list(ARCHITECTURES), known=True)}"
    )


def build_random(
    name: str, dtype: Any, device: str, seed: int = 0, tokenizer: str | None = None, log: Any = print
) -> tuple[Any, Any]:
    """(model with random weights, built directly on `device`; a tokenizer): the offline byte-level one, or the
    real tokenizer of demo model `tokenizer` (a BPE whose token counts stand in for the architecture's own)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from explorer.models.demo import _byte_level_tokenizer

    cfg = dict(ARCHITECTURES[check_arch(name)])
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    with torch.device(device), _no_init():
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.tie_weights()  # skipping initialisation also skips the tying: a tied head must stay one tensor
    fill_random(model, seed)
    if tokenizer is None:
        tok = _byte_level_tokenizer()
    else:
        from transformers import AutoTokenizer

        from explorer.models.demo import ensure_demo_model

        tok = AutoTokenizer.from_pretrained(str(ensure_demo_model(tokenizer, log=log)))
        tok.pad_token = tok.pad_token or tok.eos_token
        _fit_vocab(model, len(tok))
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = None  # never stop early: profiles generate exactly N tokens
    return model.eval(), tok


def _no_init() -> Any:
    """transformers' context that skips weight initialisation (it moved between versions)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers < 5
        from transformers.modeling_utils import no_init_weights
    return no_init_weights()


def fill_random(model: Any, seed: int = 0, pool_size: int = 1 << 22) -> None:
    """Give every weight values fast: a tiled pool of N(0, 0.02) draws (seeded), and 1 for vectors (norm
    scales, biases), so activations stay in range and no denormal slows the arithmetic. Drawing every value
    with the framework's initialisers takes minutes on 2 cores for 8B parameters; cost does not depend on them."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        pools: dict[Any, Any] = {}
        for param in model.parameters():
            flat = param.view(-1)
            if param.dim() < 2:
                flat.fill_(1.0)
                continue
            pool = pools.get((param.dtype, param.device))
            if pool is None:
                pool = pools[(param.dtype, param.device)] = (torch.randn(pool_size, generator=gen) * 0.02).to(
                    dtype=param.dtype, device=param.device
                )
            for start in range(0, flat.numel(), pool_size):
                end = min(start + pool_size, flat.numel())
                flat[start:end].copy_(pool[: end - start])


def _fit_vocab(model: Any, n_tokens: int) -> None:
    """A stand-in tokenizer with more ids than the architecture's vocabulary (SmolLM2's 49k vs Llama-2's 32k):
    ids wrap into the vocabulary at the embedding, and the logits are padded to the tokenizer's size so lm-eval
    can index them. The model's shape, hence its cost, stays its own (the padding copies one row of floats)."""
    import torch

    vocab = model.get_input_embeddings().num_embeddings
    if n_tokens <= vocab:
        return
    model.get_input_embeddings().register_forward_pre_hook(lambda _m, args: (args[0] % vocab, *args[1:]))

    def pad(_module: Any, _args: Any, out: Any) -> Any:
        logits = out.logits
        fill = torch.full((*logits.shape[:-1], n_tokens - vocab), torch.finfo(logits.dtype).min, dtype=logits.dtype,
                          device=logits.device)  # fmt: skip
        out.logits = torch.cat([logits, fill], dim=-1)
        return out

    model.register_forward_hook(pad)


def tokenizer_label(kind: str, ref: str, tokenizer: str | None) -> str:
    """What produced a record's token counts: the model's own tokenizer, or a stand-in for random weights."""
    if kind != "random":
        return f"{ref} (its own)"
    return f"{tokenizer} (stand-in for {ref}'s own)" if tokenizer else "byte-level (explorer; 1 token per byte)"
