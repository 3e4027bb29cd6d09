"""Tests for explorer.tasks: converters on the real data, offline task configs, generated tasks, errors."""

from __future__ import annotations

import bz2
import collections
import dataclasses
import importlib.util
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from explorer.tasks import synthetic
from explorer.tasks.converters import SPECS
from explorer.tasks.offline import (
    DATA_KEYS,
    OFFLINE_TASKS,
    SYNTHETIC_TASKS,
    demo_tasks,
    find_data_dir,
    lm_eval_tasks_dir,
    prepare_synthetic_task,
    prepare_tasks,
    task_manager,
)

DATA_DIR = find_data_dir()
HAVE_DATA = (
    DATA_DIR is not None
    and DATA_DIR.is_dir()
    and not any(not (DATA_DIR / f).is_file() for s in SPECS.values() for f in s.files)
)
needs_data = pytest.mark.skipif(
    not HAVE_DATA, reason=f"benchmark data dir not found (set EXPLORER_DATA_DIR; looked at {DATA_DIR})"
)


def _lm_eval_module(rel: str):
    """Import a helper module of lm-eval's own tasks folder (e.g. winogrande/preprocess_winogrande.py)."""
    path = lm_eval_tasks_dir() / rel
    spec = importlib.util.spec_from_file_location(f"_lm_eval_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def converted() -> dict[str, dict[str, list[dict]]]:
    return {name: spec.records(DATA_DIR) for name, spec in SPECS.items()} if HAVE_DATA else {}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare_tasks(list(OFFLINE_TASKS), DATA_DIR, tmp_path_factory.mktemp("task_cache"))


@pytest.fixture(scope="module")
def loaded(prepared):
    """Every offline task built by lm-eval's TaskManager from the prepared include path (data loaded)."""
    return task_manager(prepared.include_path).load(list(OFFLINE_TASKS))["tasks"]


# ------------------------------------------------------------------------------------------ converters

COUNTS = [
    ("arc_easy", "test", 2376),
    ("arc_easy", "validation", 570),
    ("arc_challenge", "test", 1172),
    ("arc_challenge", "validation", 299),
    ("piqa", "validation", 1838),
    ("boolq", "validation", 3270),
    ("sciq", "test", 1000),
    ("winogrande", "validation", 1267),
    ("hellaswag", "validation", 10042),
    ("lambada_openai", "test", 5153),
    ("gsm8k", "test", 1319),
]


@needs_data
@pytest.mark.parametrize(("name", "split", "n"), COUNTS)
def test_converter_counts(converted, name: str, split: str, n: int) -> None:
    assert len(converted[name][split]) == n


@needs_data
def test_converter_first_records_and_labels(converted) -> None:
    arc = converted["arc_easy"]["test"][0]
    question = "Which statement best explains why photosynthesis is the foundation of most food webs?"
    assert arc["question"] == question
    assert arc["choices"]["label"] == ["A", "B", "C", "D"] and arc["answerKey"] == "A"
    for name in ("arc_easy", "arc_challenge"):
        for split in converted[name].values():
            assert all(r["answerKey"] in r["choices"]["label"] for r in split)
    piqa = converted["piqa"]["validation"]
    assert piqa[0]["goal"] == "How do I ready a guinea pig cage for it's new occupants?"
    assert piqa[0]["label"] == 0
    assert {r["label"] for r in piqa} == {0, 1}
    boolq = converted["boolq"]["validation"]
    assert boolq[0]["question"] == "does ethanol take more energy make that produces"
    assert boolq[0]["label"] == 0
    assert {r["label"] for r in boolq} == {0, 1}
    assert converted["sciq"]["test"][0]["correct_answer"] == "oxidants"
    wino = converted["winogrande"]["validation"]
    assert wino[0] == {
        "sentence": "Sarah was a much better surgeon than Maria so _ always got the easier cases.",
        "option1": "Sarah",
        "option2": "Maria",
        "answer": "2",
    }
    assert {r["answer"] for r in wino} == {"1", "2"}
    hs = converted["hellaswag"]["validation"]
    assert hs[0]["activity_label"] == "Roof shingle removal"
    assert hs[0]["ctx_a"] == "A man is sitting on a roof. he"
    assert hs[0]["label"] == "3" and len(hs[0]["endings"]) == 4
    assert all(len(r["endings"]) == 4 and 0 <= int(r["label"]) <= 3 for r in hs)
    assert converted["lambada_openai"]["test"][0]["text"].startswith("In my palm is a clear stone")
    assert converted["gsm8k"]["test"][0]["answer"].endswith("#### 18")


@needs_data
def test_winogrande_matches_llm_foundry_through_lm_eval_utils(converted) -> None:
    utils = _lm_eval_module("winogrande/preprocess_winogrande.py")
    with (DATA_DIR / SPECS["winogrande"].files[0]).open(encoding="utf-8") as fh:
        originals = [json.loads(line) for line in fh]
    docs = converted["winogrande"]["validation"]
    assert len(docs) == len(originals)
    for doc, orig in zip(docs, originals, strict=True):
        assert utils.doc_to_choice(doc) == orig["context_options"]
        assert utils.doc_to_target(doc) == orig["continuation"]
        assert utils.doc_to_text(doc) == orig["gold"]


@needs_data
def test_hellaswag_query_is_the_source_context(converted) -> None:
    utils = _lm_eval_module("hellaswag/utils.py")
    with bz2.open(DATA_DIR / SPECS["hellaswag"].files[0], "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    docs = converted["hellaswag"]["validation"][:500]
    for i, doc in enumerate(docs):
        ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
        assert utils.preprocess(doc["activity_label"] + ": " + ctx) == utils.preprocess(lines[6 * i])


# ------------------------------------------------------------------------------------- lm-eval configs


@needs_data
def test_prepare_is_stable(prepared, tmp_path) -> None:
    again = prepare_tasks(list(OFFLINE_TASKS), DATA_DIR, tmp_path)
    assert again.fingerprints == prepared.fingerprints and again.definitions == prepared.definitions
    assert all(len(fp) == 64 for fp in prepared.fingerprints.values())
    assert len(set(prepared.definitions.values())) == len(OFFLINE_TASKS) and prepared.all_local
    assert len(set(prepared.fingerprints.values())) == len(OFFLINE_TASKS)
    assert prepared.lm_eval_names == {n: n for n in OFFLINE_TASKS}
    assert set(prepared.sources.values()) == {f"data_dir:{DATA_DIR}"}


@needs_data
@pytest.mark.parametrize("name", OFFLINE_TASKS)
def test_offline_config_equals_lm_eval_builtin_except_data(loaded, name: str) -> None:
    from lm_eval.config.task import TaskConfig
    from lm_eval.tasks._yaml_loader import load_yaml

    raw = load_yaml(lm_eval_tasks_dir() / SPECS[name].lm_eval_yaml)
    raw.pop("tag", None)
    ref = TaskConfig(**raw)
    ours = loaded[name].config
    assert ours.task == name
    assert ours.dataset_path == "json"
    for field in dataclasses.fields(TaskConfig):
        mine, theirs = getattr(ours, field.name), getattr(ref, field.name)
        if field.name in DATA_KEYS:
            continue
        if field.name == "fewshot_config":  # derived from fewshot_split
            mine, theirs = dataclasses.replace(mine, split=None), dataclasses.replace(theirs, split=None)
        if field.name == "metadata":
            mine = {k: v for k, v in mine.items() if k != "config_source"}
        assert mine == theirs, field.name
    for key in ("doc_to_text", "doc_to_target", "doc_to_choice", "metric_list", "output_type"):
        assert getattr(ours, key) == raw.get(key, getattr(ref, key)), key


@needs_data
def test_arc_easy_prompt_and_splits(loaded) -> None:
    task = loaded["arc_easy"]
    doc = task.test_docs()[0]
    question = "Which statement best explains why photosynthesis is the foundation of most food webs?"
    expected = f"Question: {question}\nAnswer:"
    assert task.doc_to_text(doc) == expected
    assert task.fewshot_context(doc, 0) == expected
    assert task.doc_to_target(doc) == 0
    assert task.doc_to_choice(doc)[0] == "Sunlight is the source of energy for nearly all ecosystems."
    assert len(task.test_docs()) == 2376 and len(task.fewshot_docs()) == 570


@needs_data
def test_same_split_fewshot_excludes_the_doc(loaded) -> None:
    gsm = loaded["gsm8k"].config
    assert gsm.test_split == gsm.fewshot_split == "test" and gsm.num_fewshot == 5
    for name in ("piqa", "boolq", "winogrande", "hellaswag"):
        cfg = loaded[name].config
        assert cfg.test_split == cfg.fewshot_split == "validation", name


# ------------------------------------------------------------------------------------------- generated


@pytest.mark.parametrize("name", SYNTHETIC_TASKS)
def test_synthetic_deterministic_and_valid(name: str) -> None:
    a, b = synthetic.generate_splits(name), synthetic.generate_splits(name)
    for split in ("test", "validation"):
        assert synthetic.to_jsonl(a[split]) == synthetic.to_jsonl(b[split])
    other = synthetic.generate_splits(name, seed=synthetic.DEFAULT_SEED + 1)
    assert synthetic.to_jsonl(other["test"]) != synthetic.to_jsonl(a["test"])
    assert len(a["test"]) == synthetic.N_TEST and len(a["validation"]) == synthetic.N_VALIDATION
    for doc in a["test"] + a["validation"]:
        assert len(doc["choices"]) == 4 == len(set(doc["choices"]))
        assert doc["choices"][doc["label"]] == doc["answer"]
    counts = collections.Counter(d["label"] for d in a["test"])
    assert set(counts) == {0, 1, 2, 3} and max(counts.values()) - min(counts.values()) <= 1
    assert not {d["question"] for d in a["validation"]} & {d["question"] for d in a["test"]}


def test_synthetic_prepare_same_fingerprint_and_bytes(tmp_path) -> None:
    f1, fp1 = prepare_synthetic_task("explorer_arith", tmp_path / "a")
    f2, fp2 = prepare_synthetic_task("explorer_arith", tmp_path / "b")
    assert fp1 == fp2 and len(fp1) == 64
    assert (f1 / "test.jsonl").read_bytes() == (f2 / "test.jsonl").read_bytes()
    prepared = prepare_tasks(list(SYNTHETIC_TASKS), None, tmp_path / "c")
    assert set(prepared.sources.values()) == {"generated"} and prepared.fingerprints["explorer_arith"] == fp1
    assert len(prepared.include_path) == 2 and all(Path(p).is_dir() for p in prepared.include_path)


# ------------------------------------------------------------------------------------------ api/errors


def test_unknown_task_suggests(tmp_path) -> None:
    with pytest.raises(ValueError, match="did you mean") as err:
        prepare_tasks(["arc_easyy"], None, tmp_path)
    assert "arc_easy" in str(err.value)


def test_missing_file_names_file(tmp_path) -> None:
    (tmp_path / "arc_easy").mkdir()
    (tmp_path / "arc_easy" / "ARC-Easy-Test.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match=r"ARC-Easy-Dev\.jsonl") as err:
        prepare_tasks(["arc_easy"], tmp_path, tmp_path / "cache")
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_passthrough_and_user_dir(tmp_path) -> None:
    plain = prepare_tasks(["arc_easy", "gsm8k"], None, tmp_path / "cache")
    assert plain.sources == {"arc_easy": "lm_eval", "gsm8k": "lm_eval"} and plain.fingerprints["gsm8k"] == ""
    assert plain.include_path == []
    user = tmp_path / "mytasks"
    user.mkdir()
    (user / "mine.yaml").write_text("task: my_local_task\ndataset_path: json\noutput_type: multiple_choice\n")
    got = prepare_tasks(["my_local_task", "explorer_pattern"], None, tmp_path / "cache", include_dirs=[user])
    assert got.sources["my_local_task"] == f"user_dir:{user.resolve()}"
    assert len(got.fingerprints["my_local_task"]) == 64
    assert got.include_path[-1] == str(user.resolve())


def test_demo_tasks_and_find_data_dir(tmp_path, monkeypatch) -> None:
    assert demo_tasks(None) == list(SYNTHETIC_TASKS)
    assert demo_tasks(tmp_path) == list(SYNTHETIC_TASKS)
    if HAVE_DATA:
        assert demo_tasks(DATA_DIR) == ["arc_easy", "piqa", "boolq"]
    assert find_data_dir(tmp_path) == tmp_path.resolve()
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(tmp_path))
    assert find_data_dir() == tmp_path.resolve()
