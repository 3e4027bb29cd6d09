"""Sweep specification: what to run (models x quantizations x tasks) and how.

Loaded from YAML (errors name the field and its line), built by widgets, or constructed in Python.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from explorer.hints import did_you_mean
from explorer.quant.registry import QuantizationError, check_level


class SpecError(ValueError):
    """A spec problem, as one line naming the field (and the line in the YAML file when known)."""


def _help(text: str, default: Any = None, factory: Any = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"help": text})
    return field(default=default, metadata={"help": text})


@dataclass
class SweepSpec:
    """A sweep: every model x quantization x task cell, with shared evaluation settings."""

    models: list[Any] = _help(
        "Models: demo aliases (smollm2-135m, gemma3-270m), hub ids ('org/name' or 'org/name@revision'), "
        "local folders, .gguf files, or mappings {id|path, revision, gguf_file, trust_remote_code, name}.",
        factory=list,
    )
    quantizations: list[str] = _help(
        "Quantization levels: fp32, bf16, fp16, int8, int4, nf4.", factory=lambda: ["bf16"]
    )
    tasks: list[str] = _help("lm-eval task names (or the explorer's generated tasks).", factory=list)
    limit: int | None = _help("Documents per task (None = the whole split).", default=None)
    num_fewshot: int | None = _help("Few-shot examples (None = the task's default).", default=None)
    batch_size: int = _help("Batch size of the evaluation forward passes.", default=8)
    device: str = _help("'auto' (cuda if present, else cpu), 'cpu', 'cuda' or 'cuda:N'.", default="auto")
    data_dir: str | None = _help(
        "Folder with the original benchmark files; None = EXPLORER_DATA_DIR, else tasks come from the hub.",
        default=None,
    )
    include_path: list[str] = _help("Extra folders of your own lm-eval task YAMLs.", factory=list)
    seed: int = _help("Seed for lm-eval's samplers and torch.", default=1234)

    def __post_init__(self) -> None:
        from explorer.models.sources import parse_model  # local import: keeps spec import light

        if isinstance(self.models, (str, dict)):
            self.models = [self.models]
        if not isinstance(self.models, list) or not self.models:
            raise SpecError("field 'models': give a non-empty list of models")
        for i, entry in enumerate(self.models):
            try:
                parse_model(entry)
            except (ValueError, TypeError) as exc:
                raise SpecError(f"field 'models': entry {i + 1}: {exc}") from None
        self.quantizations = _str_list("quantizations", self.quantizations)
        self.tasks = _str_list("tasks", self.tasks)
        self.include_path = _str_list("include_path", self.include_path, allow_empty=True)
        for level in self.quantizations:
            try:
                check_level(level)
            except QuantizationError as exc:
                raise SpecError(f"field 'quantizations': {exc}") from None
        _int_field("limit", self.limit, minimum=1, nullable=True)  # lm-eval reads 0 as "no documents"
        _int_field("num_fewshot", self.num_fewshot, minimum=0, nullable=True)
        _int_field("batch_size", self.batch_size, minimum=1)
        _int_field("seed", self.seed, minimum=0)
        dev = str(self.device)
        if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
            raise SpecError(f"field 'device': must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.data_dir is not None:
            if not isinstance(self.data_dir, str) or not Path(self.data_dir).expanduser().is_dir():
                raise SpecError(f"field 'data_dir': {self.data_dir!r} is not a folder")
            self.data_dir = str(Path(self.data_dir).expanduser().resolve())
        for folder in self.include_path:
            if not Path(folder).expanduser().is_dir():
                raise SpecError(f"field 'include_path': {folder!r} is not a folder")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}


def _str_list(name: str, value: Any, allow_empty: bool = False) -> list[str]:
    """A string or a list of non-empty strings -> list; anything else is a SpecError naming the field."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(f"field '{name}': give a list of names, got {value!r}")
    if not value and not allow_empty:
        raise SpecError(f"field '{name}': give at least one")
    return value


def _int_field(name: str, value: Any, minimum: int, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "a positive integer" if minimum >= 1 else "a non-negative integer"
        raise SpecError(f"field '{name}': must be {kind}{' or null' if nullable else ''}, got {value!r}")


def _compose(text: str) -> yaml.MappingNode | None:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    return node if isinstance(node, yaml.MappingNode) else None


def _key_lines(node: yaml.MappingNode | None) -> dict[str, int]:
    """Line number (1-based) of each top-level key, from the YAML node tree."""
    if node is None:
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def _model_entries(node: yaml.MappingNode | None) -> list[yaml.Node]:
    """The nodes of the `models` list (one per entry), for their line numbers."""
    for key, value in node.value if node is not None else []:
        if isinstance(key, yaml.ScalarNode) and key.value == "models" and isinstance(value, yaml.SequenceNode):
            return list(value.value)
    return []


def _check_yaml_booleans(entries: list[yaml.Node], source: str) -> None:
    """Boolean fields of model entries must be written true or false: YAML 1.1 also reads yes/no/on/off as
    booleans, which a reader of the spec may not expect (and quoted 'false' is a string, refused later)."""
    from explorer.models.sources import BOOL_FIELDS

    for i, entry in enumerate(entries):
        for key, value in entry.value if isinstance(entry, yaml.MappingNode) else []:
            loose = isinstance(value, yaml.ScalarNode) and value.tag.endswith(":bool")
            if key.value in BOOL_FIELDS and loose and value.value.lower() not in ("true", "false"):
                raise SpecError(
                    f"{source} line {value.start_mark.line + 1}: field 'models': entry {i + 1}: "
                    f"{key.value} must be true or false (a YAML boolean, unquoted), got {value.value!r}"
                )


def _where(msg: str, lines: dict[str, int], entries: list[yaml.Node]) -> str:
    """' line N' for a SweepSpec error: the model entry's own line, else the field's line."""
    bad = msg.split("'")[1] if msg.startswith("field '") else None
    if bad == "models" and msg.startswith("field 'models': entry "):
        number, _, rest = msg.removeprefix("field 'models': entry ").partition(": ")
        entry = entries[int(number) - 1] if 0 < int(number) <= len(entries) else None
        if entry is not None:  # the line of the entry's field the message starts with, else of the entry
            keys = entry.value if isinstance(entry, yaml.MappingNode) else []
            line = next((k.start_mark.line for k, _ in keys if rest.startswith(str(k.value))), entry.start_mark.line)
            return f" line {line + 1}"
    return f" line {lines[bad]}" if bad in lines else ""


def parse_spec(text: str, source: str = "<spec>", overrides: dict[str, Any] | None = None) -> SweepSpec:
    """Parse YAML text into a SweepSpec; every error is one line: '<source> line N: field ...: problem'."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}{where}: not valid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: the spec must be a mapping of fields (models, quantizations, tasks, ...)")
    raw = {**raw, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    node = _compose(text)
    lines, entries = _key_lines(node), _model_entries(node)
    known = [f.name for f in fields(SweepSpec)]
    for key in raw:
        if key not in known:
            where = f" line {lines[key]}" if key in lines else ""
            raise SpecError(
                f"{source}{where}: unknown field {key!r}{did_you_mean(key, known, n=1, cutoff=0.6)}; "
                f"known fields: {', '.join(known)}"
            )
    if "models" not in (overrides or {}):
        _check_yaml_booleans(entries, source)
    try:
        return SweepSpec(**raw)
    except SpecError as exc:
        raise SpecError(f"{source}{_where(str(exc), lines, entries)}: {exc}") from None
    except TypeError as exc:  # wrong value types caught by dataclass construction
        raise SpecError(f"{source}: {exc}") from None


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> SweepSpec:
    """Read a spec YAML file (overrides, e.g. from the CLI, win over the file's values)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} not found")
    return parse_spec(path.read_text(), source=str(path), overrides=overrides)
