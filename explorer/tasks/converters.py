"""Converters from the ORIGINAL layout of standard benchmarks to the Hugging Face layout lm-eval expects.

Each converter reads files below a user-given data directory (layout as in ``shared/benchmarks``) and
returns ``{split: [record, ...]}`` in the field layout of the Hugging Face dataset that lm-eval's own task
YAML reads, so that lm-eval's own prompts, targets and metrics apply unchanged. ``SPECS`` says, per
lm-eval task name, which files are needed, which lm-eval YAML is reused and how the splits are wired.
"""

from __future__ import annotations

import bz2
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Bump when any converter's output changes: it is part of every offline task's fingerprint.
CONVERTER_VERSION = 1

Record = dict[str, Any]
Splits = dict[str, list[Record]]


def _open_text(path: Path) -> str:
    """The UTF-8 text of a data file; errors name the file."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}); expected the original benchmark file") from None


def _read_jsonl(path: Path, expected: str) -> list[tuple[int, Record]]:
    """(line number, object) of each non-blank line of a JSON-lines file; a bad line, a line that is not an
    object, or a file without records is one error naming the file, the line and what was `expected`."""
    rows: list[tuple[int, Record]] = []
    for number, line in enumerate(_open_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg}, column {exc.colno}; a truncated or cut file?)"
            raise ValueError(f"{path} line {number}: {problem}; expected per line {expected}") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{path} line {number}: a JSON {type(raw).__name__}, not an object; expected {expected}")
        rows.append((number, raw))
    if not rows:
        raise ValueError(f"{path}: no records (the file is empty); expected one JSON object per line: {expected}")
    return rows


def _convert_rows(path: Path, rows: list[tuple[int, Record]], fn: Callable[[Record], Record], expected: str) -> list:
    """``fn`` over every row; a missing key or a bad value is an error naming the file, the line and the layout."""
    out = []
    for number, raw in rows:
        try:
            out.append(fn(raw))
        except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
            problem = f"missing key {exc.args[0]!r}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
            raise ValueError(f"{path} line {number}: {problem}; expected {expected}") from None
    return out


def _jsonl(data_dir: Path, rel: str, fn: Callable[[Record], Record], expected: str) -> list[Record]:
    """Read and convert one JSON-lines file (see ``_read_jsonl`` and ``_convert_rows`` for the errors)."""
    path = data_dir / rel
    return _convert_rows(path, _read_jsonl(path, expected), fn, expected)


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-empty lines of a text file."""
    return [(n, line.strip()) for n, line in enumerate(_open_text(path).split("\n"), 1) if line.strip()]


# ---------------------------------------------------------------------------------------------- records


def arc_record(raw: Record) -> Record:
    """ARC original (``question.stem``, ``question.choices[]``) -> HF ai2_arc layout."""
    choices = raw["question"]["choices"]
    return {
        "id": raw["id"],
        "question": raw["question"]["stem"],
        "choices": {"text": [c["text"] for c in choices], "label": [c["label"] for c in choices]},
        "answerKey": raw["answerKey"],
    }


def boolq_label(value: Any) -> int:
    """BoolQ label ("true"/"false" strings, bools or 0/1) -> int, 1 meaning yes/true."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low not in ("true", "false", "1", "0"):
            raise ValueError(f"unexpected BoolQ label {value!r}")
        return int(low in ("true", "1"))
    return int(bool(value))


def winogrande_record(raw: Record) -> Record:
    """llm-foundry Winogrande (``context_options[2]``, ``continuation``, ``gold``) -> HF winogrande layout.

    lm-eval's winogrande utils build context i as ``sentence[:sentence.index("_")] + option_i`` and the
    target as ``sentence[index + 1:].strip()``. With P the longest common prefix of both contexts, cut
    back to just after its last whitespace (so options are whole words where possible),
    ``option_i = ctx_i[len(P):]`` and ``sentence = P + "_ " + continuation`` reproduce the llm-foundry
    contexts and continuation exactly.
    """
    ctx1, ctx2 = raw["context_options"]
    n = 0
    while n < min(len(ctx1), len(ctx2)) and ctx1[n] == ctx2[n]:
        n += 1
    prefix = ctx1[:n]
    cut = max(prefix.rfind(" "), prefix.rfind("\n"))
    prefix = prefix[: cut + 1]
    continuation = raw["continuation"]
    if "_" in prefix:
        raise ValueError(f"winogrande context contains '_' before the blank: {prefix!r}")
    if continuation != continuation.strip():
        raise ValueError(f"winogrande continuation has surrounding whitespace: {continuation!r}")
    return {
        "sentence": prefix + "_ " + continuation,
        "option1": ctx1[len(prefix) :],
        "option2": ctx2[len(prefix) :],
        "answer": str(int(raw["gold"]) + 1),
    }


def hellaswag_records(text: str) -> list[Record]:
    """HellaSwag 6-line text format -> HF hellaswag layout.

    Each item is 6 lines: ``activity_label: context``, the gold index, and 4 endings. The source is
    DERIVED (already preprocessed): ``ctx_a``/``ctx_b`` are lost, so the whole context goes to ``ctx_a``
    and ``ctx_b`` is empty. lm-eval's ``process_docs`` then gives the query ``preprocess(line 1)``; it
    differs slightly from lm-eval's ``hellaswag`` (e.g. ``ctx_b`` is not capitalized there).
    """
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % 6:
        raise ValueError(f"hellaswag text has {len(lines)} lines, not a multiple of 6")
    out = []
    for i in range(0, len(lines), 6):
        head, label, *endings = lines[i : i + 6]
        activity, sep, ctx = head.partition(": ")
        if not sep:
            activity, ctx = "", head
        if not label.strip().isdigit():
            raise ValueError(f"line {i + 2}: gold index {label!r} is not an integer (item {i // 6 + 1})")
        out.append(
            {
                "ind": i // 6,
                "activity_label": activity,
                "ctx_a": ctx,
                "ctx_b": "",
                "ctx": ctx,
                "endings": endings,
                "split": "val",
                "label": str(int(label)),
            }
        )
    return out


# ---------------------------------------------------------------------------------------------- per task


_ARC_LAYOUT = "an object with id, question {stem, choices [{text, label}]} and answerKey"


def convert_arc(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """ARC: Test -> ``test``, Dev -> ``validation``."""
    test, dev = files
    return {
        "test": _jsonl(data_dir, test, arc_record, _ARC_LAYOUT),
        "validation": _jsonl(data_dir, dev, arc_record, _ARC_LAYOUT),
    }


def _piqa_item(raw: Record) -> Record:
    return {"goal": raw["goal"], "sol1": raw["sol1"], "sol2": raw["sol2"]}


def _boolq_item(raw: Record) -> Record:
    label = boolq_label(raw["label"])
    return {"question": raw["question"], "passage": raw["passage"], "idx": raw["idx"], "label": label}


def convert_piqa(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """PIQA: valid.jsonl + valid-labels.lst -> ``validation`` (goal, sol1, sol2, label int)."""
    rows = _jsonl(data_dir, files[0], _piqa_item, "an object with goal, sol1 and sol2")
    labels = _read_lines(data_dir / files[1])
    if len(rows) != len(labels):
        raise ValueError(
            f"{data_dir / files[1]}: {len(labels)} labels for the {len(rows)} items of {data_dir / files[0]}; "
            "expected one label (0 or 1) per item"
        )
    for number, lab in labels:
        if lab not in ("0", "1"):
            raise ValueError(f"{data_dir / files[1]} line {number}: label {lab!r}; expected 0 or 1")
    return {"validation": [{**r, "label": int(lab)} for r, (_, lab) in zip(rows, labels, strict=True)]}


def convert_boolq(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """BoolQ (SuperGLUE jsonl) -> ``validation`` with int label (1 = true)."""
    path = data_dir / files[0]
    layout = 'an object with question, passage and label ("true"/"false")'
    rows = [(n, {"idx": i, **raw}) for i, (n, raw) in enumerate(_read_jsonl(path, layout))]  # idx: the file's, else i
    return {"validation": _convert_rows(path, rows, _boolq_item, layout)}


_SCIQ_KEYS = ("question", "distractor3", "distractor1", "distractor2", "correct_answer", "support")


def convert_sciq(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """SciQ: JSON list (HF fields) -> ``test``."""
    path = data_dir / files[0]
    layout = f"a JSON list of objects with {', '.join(_SCIQ_KEYS)}"
    try:
        rows = json.loads(_open_text(path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg}); expected {layout}") from None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: {'an empty list' if rows == [] else 'not a list'}; expected {layout}")
    out = []
    for i, r in enumerate(rows):
        missing = [k for k in _SCIQ_KEYS if not isinstance(r, dict) or k not in r]
        if missing:
            raise ValueError(f"{path} item {i + 1}: missing key {missing[0]!r}; expected {layout}")
        out.append({k: r[k] for k in _SCIQ_KEYS})
    return {"test": out}


def convert_winogrande(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """Winogrande (llm-foundry dev) -> ``validation``."""
    layout = "an object with context_options [2 strings], continuation and gold (0 or 1)"
    return {"validation": _jsonl(data_dir, files[0], winogrande_record, layout)}


def convert_hellaswag(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """HellaSwag (derived 6-line text, bz2) -> ``validation``."""
    path = data_dir / files[0]
    layout = "bz2 text, 6 lines per item: 'activity: context', the gold index 0-3, then 4 endings"
    try:
        with bz2.open(path, "rt", encoding="utf-8") as fh:
            docs = hellaswag_records(fh.read())
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}; expected {layout}") from None
    if not docs:
        raise ValueError(f"{path}: no records (the file is empty); expected {layout}")
    return {"validation": docs}


def convert_lambada(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """LAMBADA (OpenAI) -> ``test`` with ``text``."""
    return {"test": _jsonl(data_dir, files[0], lambda raw: {"text": raw["text"]}, "an object with text")}


def convert_gsm8k(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """GSM8K -> ``test`` with ``question``, ``answer``."""
    return {
        "test": _jsonl(
            data_dir,
            files[0],
            lambda raw: {"question": raw["question"], "answer": raw["answer"]},
            "an object with question and answer",
        )
    }


# ---------------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class OfflineSpec:
    """How to run one lm-eval task from original files.

    ``splits`` overrides lm-eval's split keys. When few-shot examples come from the evaluated split,
    ``fewshot_split == test_split`` so that lm-eval leaves the evaluated doc out of its own few-shot examples.
    """

    name: str
    lm_eval_yaml: str  # path inside the installed lm_eval/tasks folder
    files: tuple[str, ...]  # required files, relative to the data dir
    convert: Callable[[Path, tuple[str, ...]], Splits]
    splits: dict[str, str | None] = field(default_factory=dict)
    note: str = ""

    def records(self, data_dir: Path) -> Splits:
        """Convert this task's original files below ``data_dir``."""
        return self.convert(Path(data_dir), self.files)


_NO_TRAIN = {"training_split": None}
# Evaluate the only split there is; few-shot examples from the same split minus the doc itself.
_VALIDATION_ONLY = {
    "training_split": None,
    "validation_split": None,
    "test_split": "validation",
    "fewshot_split": "validation",
}
_TEST_ONLY = {"training_split": None, "validation_split": None, "test_split": "test", "fewshot_split": "test"}
_ARC = {**_NO_TRAIN, "validation_split": "validation", "test_split": "test", "fewshot_split": "validation"}

SPECS: dict[str, OfflineSpec] = {
    s.name: s
    for s in (
        OfflineSpec(
            "arc_easy",
            "arc/arc_easy.yaml",
            ("arc_easy/ARC-Easy-Test.jsonl", "arc_easy/ARC-Easy-Dev.jsonl"),
            convert_arc,
            _ARC,
            "few-shot examples from Dev (lm-eval: train)",
        ),
        OfflineSpec(
            "arc_challenge",
            "arc/arc_challenge.yaml",
            ("arc_challenge/ARC-Challenge-Test.jsonl", "arc_challenge/ARC-Challenge-Dev.jsonl"),
            convert_arc,
            _ARC,
            "few-shot examples from Dev (lm-eval: train)",
        ),
        OfflineSpec(
            "piqa",
            "piqa/piqa.yaml",
            ("piqa/valid.jsonl", "piqa/valid-labels.lst"),
            convert_piqa,
            _VALIDATION_ONLY,
            "few-shot examples from validation minus the doc (lm-eval: train)",
        ),
        OfflineSpec(
            "boolq",
            "super_glue/boolq/default.yaml",
            ("boolq/val.jsonl",),
            convert_boolq,
            _VALIDATION_ONLY,
            "few-shot examples from validation minus the doc (lm-eval: train)",
        ),
        OfflineSpec(
            "sciq",
            "sciq/sciq.yaml",
            ("sciq/sciq_test.json",),
            convert_sciq,
            _TEST_ONLY,
            "few-shot examples from test minus the doc (lm-eval: train)",
        ),
        OfflineSpec(
            "winogrande",
            "winogrande/default.yaml",
            ("winogrande/llm-foundry/winogrande.jsonl",),
            convert_winogrande,
            _VALIDATION_ONLY,
            "few-shot examples from validation minus the doc (lm-eval: train)",
        ),
        OfflineSpec(
            "hellaswag",
            "hellaswag/hellaswag.yaml",
            ("hellaswag/hellaswag_val_full.txt.bz2",),
            convert_hellaswag,
            _VALIDATION_ONLY,
            "DERIVED source: prompts differ slightly from lm-eval's hellaswag (ctx_b not capitalized)",
        ),
        OfflineSpec(
            "lambada_openai",
            "lambada/lambada_openai.yaml",
            ("lambada_openai/lambada_test.jsonl",),
            convert_lambada,
            _TEST_ONLY,
            "few-shot examples (if any) from test minus the doc",
        ),
        OfflineSpec(
            "gsm8k",
            "gsm8k/gsm8k.yaml",
            ("gsm8k/test.jsonl",),
            convert_gsm8k,
            _TEST_ONLY,
            "few-shot examples from test minus the doc (lm-eval: train)",
        ),
    )
}
