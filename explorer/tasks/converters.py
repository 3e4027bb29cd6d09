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


def _read_jsonl(path: Path) -> list[Record]:
    """Read a JSON-lines file (blank lines skipped)."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines of a text file."""
    with path.open(encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()]


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


def convert_arc(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """ARC: Test -> ``test``, Dev -> ``validation``."""
    test, dev = files
    return {
        "test": [arc_record(r) for r in _read_jsonl(data_dir / test)],
        "validation": [arc_record(r) for r in _read_jsonl(data_dir / dev)],
    }


def convert_piqa(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """PIQA: valid.jsonl + valid-labels.lst -> ``validation`` (goal, sol1, sol2, label int)."""
    rows = _read_jsonl(data_dir / files[0])
    labels = _read_lines(data_dir / files[1])
    if len(rows) != len(labels):
        raise ValueError(f"piqa: {len(rows)} items but {len(labels)} labels")
    return {
        "validation": [
            {"goal": r["goal"], "sol1": r["sol1"], "sol2": r["sol2"], "label": int(lab)}
            for r, lab in zip(rows, labels, strict=True)
        ]
    }


def convert_boolq(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """BoolQ (SuperGLUE jsonl) -> ``validation`` with int label (1 = true)."""
    rows = _read_jsonl(data_dir / files[0])
    return {
        "validation": [
            {
                "question": r["question"],
                "passage": r["passage"],
                "idx": r.get("idx", i),
                "label": boolq_label(r["label"]),
            }
            for i, r in enumerate(rows)
        ]
    }


def convert_sciq(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """SciQ: JSON list (HF fields) -> ``test``."""
    with (data_dir / files[0]).open(encoding="utf-8") as fh:
        rows = json.load(fh)
    keys = ("question", "distractor3", "distractor1", "distractor2", "correct_answer", "support")
    return {"test": [{k: r[k] for k in keys} for r in rows]}


def convert_winogrande(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """Winogrande (llm-foundry dev) -> ``validation``."""
    return {"validation": [winogrande_record(r) for r in _read_jsonl(data_dir / files[0])]}


def convert_hellaswag(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """HellaSwag (derived 6-line text, bz2) -> ``validation``."""
    with bz2.open(data_dir / files[0], "rt", encoding="utf-8") as fh:
        return {"validation": hellaswag_records(fh.read())}


def convert_lambada(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """LAMBADA (OpenAI) -> ``test`` with ``text``."""
    return {"test": [{"text": r["text"]} for r in _read_jsonl(data_dir / files[0])]}


def convert_gsm8k(data_dir: Path, files: tuple[str, ...]) -> Splits:
    """GSM8K -> ``test`` with ``question``, ``answer``."""
    rows = _read_jsonl(data_dir / files[0])
    return {"test": [{"question": r["question"], "answer": r["answer"]} for r in rows]}


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
