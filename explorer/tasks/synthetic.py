"""Seeded, generated multiple-choice tasks, so that a demo runs with no benchmark data at all.

Each task is a plain lm-eval ``multiple_choice`` task (``dataset_path: json``): the generator writes
``test`` (scored) and ``validation`` (few-shot) docs with fields ``question``, ``choices`` and ``label``.
Output is a pure function of (task name, seed, sizes, ``GENERATOR_VERSION``). ``prepare_synthetic_task``
writes a task folder (jsonl + YAML) with the atomic writers that ``offline.py`` shares.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from explorer.records.files import atomic_write_bytes

# Bump whenever generated docs change: it is part of every generated task's fingerprint.
GENERATOR_VERSION = 1
DEFAULT_SEED = 1234
N_TEST = 500
N_VALIDATION = 50
N_CHOICES = 4

Doc = dict[str, Any]


def _place(rng: random.Random, answer: str, distractors: list[str], label: int) -> Doc:
    """Put ``answer`` at index ``label`` among 3 shuffled distractors."""
    others = list(distractors)
    rng.shuffle(others)
    choices = [*others[:label], answer, *others[label:]]
    return {"choices": choices, "label": label}


def _near_numbers(rng: random.Random, answer: int, k: int = N_CHOICES - 1) -> list[int]:
    """``k`` distinct non-negative numbers near ``answer`` (typical slips: +-1, +-2, +-10, ...)."""
    offsets = [1, -1, 2, -2, 10, -10, 3, -3, 5, -5, 11, -11, 9, -9, 20, -20]
    rng.shuffle(offsets)
    out: list[int] = []
    for off in offsets:
        cand = answer + off
        if cand >= 0 and cand != answer and cand not in out:
            out.append(cand)
        if len(out) == k:
            break
    return out


def arith_doc(rng: random.Random, label: int) -> Doc:
    """One arithmetic question ("What is 37 + 48?") with 4 numeric choices."""
    op = rng.choice("+-*")
    if op == "*":
        a, b = rng.randint(2, 19), rng.randint(2, 19)
        answer, sym = a * b, "*"
    elif op == "-":
        a = rng.randint(20, 199)
        b = rng.randint(1, a)
        answer, sym = a - b, "-"
    else:
        a, b = rng.randint(10, 199), rng.randint(10, 199)
        answer, sym = a + b, "+"
    doc = {"question": f"What is {a} {sym} {b}?", "answer": str(answer)}
    doc.update(_place(rng, str(answer), [str(x) for x in _near_numbers(rng, answer)], label))
    return doc


_WORDS = ["red", "blue", "green", "yellow", "cat", "dog", "sun", "moon", "apple", "pear", "up", "down"]


def pattern_doc(rng: random.Random, label: int) -> Doc:
    """One sequence-completion question (arithmetic, geometric or repeating pattern) with 4 choices."""
    kind = rng.choice(("arithmetic", "geometric", "repeating"))
    if kind == "arithmetic":
        start, step = rng.randint(1, 50), rng.choice([2, 3, 4, 5, 6, 7, 9, 11, -2, -3])
        start += 0 if step > 0 else 60
        seq = [start + step * i for i in range(rng.randint(5, 7))]
        answer = seq.pop()
        distract = [str(x) for x in _near_numbers(rng, answer)]
    elif kind == "geometric":
        start, ratio = rng.randint(1, 12), rng.choice([2, 3])
        seq = [start * ratio**i for i in range(rng.randint(5, 6))]
        answer = seq.pop()
        distract = [str(x) for x in (seq[-1] + (seq[-1] - seq[-2]), answer + start, answer * ratio)]
        if len(set([*distract, str(answer)])) < N_CHOICES:
            distract = [str(x) for x in _near_numbers(rng, answer)]
    else:
        cycle = rng.sample(_WORDS, rng.choice([2, 3]))
        length = rng.randint(5, 8)
        seq = [cycle[i % len(cycle)] for i in range(length + 1)]
        answer = seq.pop()
        pool = [w for w in cycle if w != answer] + rng.sample([w for w in _WORDS if w not in cycle], 3)
        distract = pool[: N_CHOICES - 1]
    doc = {
        "question": f"What comes next in the sequence {', '.join(map(str, seq))}, ...?",
        "answer": str(answer),
    }
    doc.update(_place(rng, str(answer), distract, label))
    return doc


GENERATORS: dict[str, Callable[[random.Random, int], Doc]] = {
    "explorer_arith": arith_doc,
    "explorer_pattern": pattern_doc,
}
SYNTHETIC_TASKS: tuple[str, ...] = tuple(GENERATORS)


def generate_docs(
    name: str, n: int, seed: int = DEFAULT_SEED, split: str = "test", exclude: frozenset[str] = frozenset()
) -> list[Doc]:
    """``n`` distinct docs for task ``name``; correct index exactly balanced up to n % 4."""
    gen = GENERATORS[name]
    rng = random.Random(f"{name}:{seed}:{split}:{GENERATOR_VERSION}")
    labels = [i % N_CHOICES for i in range(n)]
    rng.shuffle(labels)
    docs: list[Doc] = []
    seen = set(exclude)
    for label in labels:
        for _ in range(1000):
            doc = gen(rng, label)
            if doc["question"] not in seen:
                break
        else:
            raise RuntimeError(f"{name}: could not generate {n} distinct docs")
        seen.add(doc["question"])
        docs.append({"id": f"{name}-{split}-{len(docs)}", **doc})
    return docs


def generate_splits(
    name: str, seed: int = DEFAULT_SEED, n_test: int = N_TEST, n_validation: int = N_VALIDATION
) -> dict[str, list[Doc]]:
    """Test and validation docs for ``name``; no validation question repeats a test question."""
    test = generate_docs(name, n_test, seed, "test")
    val = generate_docs(name, n_validation, seed, "validation", frozenset(d["question"] for d in test))
    return {"test": test, "validation": val}


def to_jsonl(docs: list[Doc]) -> bytes:
    """Deterministic JSON-lines bytes."""
    return "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode("utf-8")


def task_config(name: str, data_files: dict[str, str]) -> dict[str, Any]:
    """The lm-eval task YAML (as a dict) for a generated task whose jsonl files are ``data_files``."""
    return {
        "task": name,
        "tag": [],
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": data_files},
        "output_type": "multiple_choice",
        "training_split": None,
        "validation_split": "validation",
        "test_split": "test",
        "fewshot_split": "validation",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "label",
        "doc_to_choice": "choices",
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
        ],
        "metadata": {"version": float(GENERATOR_VERSION)},
    }


# ---------------------------------------------------------------------------------------------- task folders
# (offline.py writes its converted tasks with these too; atomic writes are records/files.py's)


def write_if_changed(path: Path, data: bytes) -> None:
    """Atomically (re)write ``path`` unless it already holds exactly ``data``."""
    if not (path.is_file() and path.read_bytes() == data):
        atomic_write_bytes(path, data)


def yaml_bytes(cfg: dict[str, Any], header: str) -> bytes:
    """A task YAML with a comment header."""
    body = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=1000)
    return (f"# {header}\n" + body).encode("utf-8")


def prepare_synthetic_task(name: str, cache_dir: Path, seed: int = DEFAULT_SEED) -> tuple[Path, str]:
    """Generate ``name`` into ``cache_dir/<name>-<fp>/``; return (folder, fingerprint)."""
    blobs = {split: to_jsonl(docs) for split, docs in generate_splits(name, seed).items()}
    h = hashlib.sha256(f"explorer-generated|{name}|generator={GENERATOR_VERSION}|seed={seed}".encode())
    for split in sorted(blobs):
        h.update(f"|{split}|".encode())
        h.update(blobs[split])
    fp = h.hexdigest()
    folder = Path(cache_dir).resolve() / f"{name}-{fp[:16]}"
    files = {split: folder / f"{split}.jsonl" for split in sorted(blobs)}
    for split, path in files.items():
        if not path.is_file():
            atomic_write_bytes(path, blobs[split])
    cfg = task_config(name, {s: str(p) for s, p in files.items()})
    header = f"{name}: generated (generator v{GENERATOR_VERSION}, seed {seed})"
    write_if_changed(folder / f"{name}.yaml", yaml_bytes(cfg, header))
    return folder, fp
