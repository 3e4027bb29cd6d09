"""Where a model's weights come from (demo alias, hub id, local folder, GGUF file) and how to load them."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.models.demo import (
    CONVERTER_VERSION,
    DEMO_MODELS,
    TINY_ALIAS,
    TINY_BUILDER_VERSION,
    DemoDownloadError,
    DemoModel,
    ensure_demo_model,
    ensure_tiny_random_llama,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "CONVERTER_VERSION",
    "DEMO_MODELS",
    "DemoDownloadError",
    "DemoModel",
    "KINDS",
    "ModelSource",
    "count_params",
    "ensure_demo_model",
    "ensure_tiny_random_llama",
    "load_model",
    "parse_model",
    "resolve_pretrained",
    "strict_bool",
]

KINDS = ("demo", "hub", "local", "gguf", "tiny", "random")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".json")
_HUB_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*$")
_ALIAS_RE = re.compile(r"^[\w.\-]+$")
BOOL_FIELDS = ("trust_remote_code",)  # the boolean fields of a model entry (the spec loader checks their YAML)


def strict_bool(name: str, value: Any) -> bool:
    """`value` if it is a real boolean; anything else ('false', 'no', 0, None) is an error naming the field:
    bool('false') is True, so a lenient reading would turn remote code on."""
    if isinstance(value, bool):
        return value
    raise ValueError(f"{name} must be true or false (a YAML boolean, unquoted), got {value!r}")


@dataclass(frozen=True)
class ModelSource:
    """A resolved model reference. ``name`` is for display only and is not part of ``key()``."""

    kind: str  # "demo" | "hub" | "local" | "gguf" | "tiny" | "random" (an architecture, random weights)
    ref: str  # alias, hub id, absolute local dir, or absolute gguf file path
    revision: str | None = None
    gguf_file: str | None = None
    trust_remote_code: bool = False
    name: str = ""
    tokenizer: str | None = None  # random weights only: a demo alias whose real tokenizer counts the tokens

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        strict_bool("trust_remote_code", self.trust_remote_code)
        if not self.name:
            object.__setattr__(self, "name", _default_name(self.kind, self.ref))

    def key(self) -> dict:
        """Everything that identifies the weights (for hashing). Local files add a size+mtime fingerprint."""
        key: dict[str, Any] = {"kind": self.kind, "ref": self.ref}
        if self.kind == "demo":
            key.update(DEMO_MODELS[self.ref].key())
        elif self.kind == "tiny":
            key["builder"] = TINY_BUILDER_VERSION
        elif self.kind == "random":
            from explorer.models.architectures import ARCH_VERSION, ARCHITECTURES

            key.update(arch=ARCHITECTURES[self.ref], version=ARCH_VERSION)
            if self.tokenizer:
                key["tokenizer"] = self.tokenizer
        elif self.kind == "hub":
            key.update(revision=self.revision, gguf_file=self.gguf_file)
        elif self.kind == "local":
            key.update(
                ref=str(Path(self.ref).resolve()),
                gguf_file=self.gguf_file,
                fingerprint=_fingerprint(Path(self.ref), self.gguf_file),
            )
        elif self.kind == "gguf":
            path = Path(self.ref).resolve()
            key.update(ref=str(path), gguf_file=path.name, fingerprint=_fingerprint(path.parent, path.name))
        if self.trust_remote_code:
            key["trust_remote_code"] = True
        return key


def _default_name(kind: str, ref: str) -> str:
    if kind in ("demo", "tiny", "hub"):
        return ref
    if kind == "random":
        return f"random:{ref}"
    if kind == "gguf":
        return Path(ref).stem
    return Path(ref).name or ref


def _fingerprint(folder: Path, only: str | None = None) -> list[list]:
    """[relative name, size, mtime_ns] of weight/config files in ``folder`` (only ``only`` if given)."""
    if not folder.is_dir():
        return []
    # top level only: what from_pretrained reads (a stray trainer_state.json in a sub-folder changes nothing)
    files = [folder / only] if only else sorted(p for p in folder.glob("*") if p.suffix in WEIGHT_SUFFIXES)
    out: list[list] = []
    for p in files:
        if p.is_file():
            st = p.stat()
            out.append([str(p.relative_to(folder)), st.st_size, st.st_mtime_ns])
    return out


def _looks_like_path(s: str) -> bool:
    return (
        s.startswith(("/", "./", "../", "~", ".\\"))
        or s.endswith(".gguf")
        or s.count("/") > 1
        or "\\" in s
        or bool(re.match(r"^[A-Za-z]:[\\/]", s))
        or s in (".", "..")
    )


def _unknown_alias(s: str) -> ValueError:
    known = sorted([*DEMO_MODELS, TINY_ALIAS])
    from explorer.hints import did_you_mean

    hint = did_you_mean(s, known, n=3, known=True)
    return ValueError(f"unknown model {s!r}: not a demo alias, an existing path, or a hub id 'org/name'{hint}")


def _parse_str(s: str) -> ModelSource:
    s = s.strip()
    if not s:
        raise ValueError("empty model reference")
    if s in DEMO_MODELS:
        return ModelSource("demo", s)
    if s == TINY_ALIAS:
        return ModelSource("tiny", s)
    if s.startswith("random:"):
        from explorer.models.architectures import check_arch

        return ModelSource("random", check_arch(s[len("random:") :]), name=s)
    path = Path(os.path.expanduser(s))
    if path.exists():
        path = path.resolve()
        if path.is_dir():
            return ModelSource("local", str(path))
        if path.suffix.lower() == ".gguf":
            return ModelSource("gguf", str(path), gguf_file=path.name)
        raise ValueError(f"model path {s!r} is a file but not a .gguf file; give a model folder or a .gguf file")
    if _looks_like_path(s):
        raise ValueError(f"model path {s!r} does not exist ({path.absolute()})")
    hub_id, sep, rev = s.partition("@")
    if _HUB_RE.match(hub_id) and (not sep or rev):
        return ModelSource("hub", hub_id, revision=rev or None)
    if "/" not in s and _ALIAS_RE.match(s):
        raise _unknown_alias(s)
    raise ValueError(f"cannot parse model reference {s!r}: expected a demo alias, a path, or 'org/name[@revision]'")


def parse_model(entry: str | dict) -> ModelSource:
    """Parse a config entry: a string, or a dict {id|path, revision, gguf_file, trust_remote_code, name}."""
    if isinstance(entry, str):
        return _parse_str(entry)
    if not isinstance(entry, dict):
        raise TypeError(f"model entry must be a string or a mapping, got {type(entry).__name__}")
    allowed = {"id", "path", "revision", "gguf_file", "trust_remote_code", "name", "tokenizer"}
    unknown = set(entry) - allowed
    if unknown:
        raise ValueError(f"unknown model field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    if ("id" in entry) == ("path" in entry):
        raise ValueError(f"model entry needs exactly one of 'id' or 'path': {entry!r}")
    ref = str(entry.get("id") or entry.get("path"))
    if "path" in entry and not Path(os.path.expanduser(ref)).exists():
        raise ValueError(f"model path {ref!r} does not exist ({Path(os.path.expanduser(ref)).absolute()})")
    base = _parse_str(ref)
    revision = entry.get("revision")
    gguf_file = entry.get("gguf_file")
    if base.kind in ("demo", "tiny") and (revision or gguf_file):
        raise ValueError(f"demo model {ref!r} has fixed weights: 'revision'/'gguf_file' do not apply")
    if revision and base.revision and str(revision) != base.revision:
        raise ValueError(f"conflicting revisions for {ref!r}: {base.revision!r} vs {revision!r}")
    if base.kind == "gguf" and gguf_file and gguf_file != base.gguf_file:
        raise ValueError(f"'gguf_file' {gguf_file!r} conflicts with the .gguf path {ref!r}")
    if base.kind == "local" and revision:
        raise ValueError(f"'revision' does not apply to the local folder {ref!r}")
    if base.kind == "local" and gguf_file and not (Path(base.ref) / gguf_file).is_file():
        raise ValueError(f"gguf_file {gguf_file!r} not found in {base.ref}")
    tokenizer = entry.get("tokenizer")
    if tokenizer is not None and (base.kind != "random" or str(tokenizer) not in DEMO_MODELS):
        where = "only random-weight models take one" if base.kind != "random" else f"known: {', '.join(DEMO_MODELS)}"
        raise ValueError(f"model {ref!r}: tokenizer {tokenizer!r} does not apply ({where})")
    return ModelSource(
        kind=base.kind,
        ref=base.ref,
        revision=str(revision) if revision else base.revision,
        gguf_file=gguf_file or base.gguf_file,
        trust_remote_code=strict_bool("trust_remote_code", entry.get("trust_remote_code", False)),
        name=str(entry.get("name") or base.name),
        tokenizer=str(tokenizer) if tokenizer else None,
    )


def resolve_pretrained(source: ModelSource, log: Callable[[str], None] = print) -> tuple[str, dict[str, Any]]:
    """(path or hub id, from_pretrained kwargs) for a source; demo/tiny models are built on first use."""
    kwargs: dict[str, Any] = {}
    if source.kind == "demo":
        where = str(ensure_demo_model(source.ref, log=log))
    elif source.kind == "tiny":
        where = str(ensure_tiny_random_llama(log=log))
    elif source.kind == "gguf":
        where = str(Path(source.ref).parent)
        kwargs["gguf_file"] = Path(source.ref).name
    else:
        where = source.ref
        if source.revision:
            kwargs["revision"] = source.revision
        if source.gguf_file:
            kwargs["gguf_file"] = source.gguf_file
    if source.trust_remote_code:
        kwargs["trust_remote_code"] = True
    return where, kwargs


def load_model(
    source: ModelSource,
    dtype: torch.dtype | str,
    device: str = "cpu",
    log: Callable[[str], None] = print,
    **from_pretrained_kwargs: Any,
) -> tuple[Any, Any]:
    """Load (model, tokenizer). Extra kwargs (quantization_config, device_map, ...) go to from_pretrained.

    The model is in eval mode and on ``device`` (unless a device_map / quantization_config places it);
    the tokenizer gets pad_token = eos_token when it has none.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if source.kind == "random":
        if from_pretrained_kwargs:
            raise ValueError(f"random-weight model {source.name!r}: load-time quantization does not apply")
        from explorer.models.architectures import build_random

        return build_random(source.ref, dtype, device, tokenizer=source.tokenizer, log=log)
    where, kwargs = resolve_pretrained(source, log=log)
    places_itself = "device_map" in from_pretrained_kwargs
    if "quantization_config" in from_pretrained_kwargs and not places_itself:
        from_pretrained_kwargs["device_map"] = device
        places_itself = True
    model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kwargs, **from_pretrained_kwargs)
    if not places_itself:
        model = model.to(device)
    model.eval()
    tok_kwargs = {k: v for k, v in kwargs.items() if k in ("revision", "gguf_file", "trust_remote_code")}
    tokenizer = AutoTokenizer.from_pretrained(where, **tok_kwargs)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
    if getattr(model, "generation_config", None) is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def count_params(model: torch.nn.Module) -> int:
    """Dense parameter count: sum of numel over ``model.parameters()`` (tied weights counted once).

    Meant to be called on the model before quantization.  Tensor-subclass quantizers (torchao) keep the
    logical shape, so the count is unchanged by them; libraries that replace Linear layers with packed
    buffers (quanto, hqq) would undercount, so record the count right after loading.
    """
    return sum(p.numel() for p in model.parameters())
