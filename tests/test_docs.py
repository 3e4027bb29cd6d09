"""The documents' text beside per-document results (explorer/records/docs.py): docs/<task>.jsonl written by the
worker and by scripts/backfill_docs.py, joined into the rows the app shows."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from explorer.records import integrity
from explorer.records.docs import MAX_TEXT_CHARS, doc_row, doc_texts, load_docs, read_docs, trim_text, write_docs
from explorer.records.files import docs_path, read_records, write_record, write_samples
from explorer.records.store import SAMPLE_SCHEMA, load_samples

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "demo_cpu"


def _doc(task: str, doc_id: int, doc_hash: str, question: str, choices: list[str], gold: str) -> dict:
    return dict(task=task, doc_id=doc_id, doc_hash=doc_hash, question=question, choices=choices, gold=gold)


def _sample(task: str, doc_id: int, doc_hash: str | None, target: str, pred: str, logliks: list | None) -> dict:
    row = dict(cell_id="c1", task=task, doc_id=doc_id, doc_hash=doc_hash, filter="none", target=target, pred=pred)
    return row | dict(correct=float(pred == target), confidence=0.5 if logliks else None, logliks=logliks)


def test_trim_text_keeps_start_and_end() -> None:
    assert trim_text("short") == "short"
    text = "A" * 500 + "Question: why?"
    cut = trim_text(text, 40)
    assert cut == "A" * 18 + " … " + "A" * 5 + "Question: why?" and len(cut) == 40
    assert len(trim_text("x" * 5000)) == MAX_TEXT_CHARS


def test_round_trip_on_hand_written_samples_and_docs(tmp_path: Path) -> None:
    first = [
        _doc("mc", 0, "h0", "Q0?", ["red", "blue", "green"], "blue"),
        _doc("mc", 1, "h1", "old text", ["yes", "no"], "yes"),
        _doc("gen", 0, "g0", "2 + 2 =", [], "4"),
    ]
    assert write_docs(tmp_path, first) == [docs_path(tmp_path, "gen"), docs_path(tmp_path, "mc")]
    write_docs(tmp_path, [_doc("mc", 1, "h1", "Q1?", ["yes", "no"], "no"), _doc("mc", 2, "h2", "Q2?", ["a", "b"], "a")])
    lines = docs_path(tmp_path, "mc").read_text().splitlines()
    assert [json.loads(line)["question"] for line in lines] == ["Q0?", "Q1?", "Q2?"]  # merged, h1 replaced
    assert load_docs(tmp_path).height == 4 and load_docs(tmp_path, "gen")["gold"].to_list() == ["4"]
    samples = pl.DataFrame(
        [
            _sample("mc", 1, "h1", "1", "0", [-1.0, -2.0]),
            _sample("mc", 0, "h0", "1", "1", [-3.0, -1.0, -4.0]),
            _sample("mc", 5, "unknown", "0", "1", [-2.0, -1.0]),  # no docs row: index kept as it is
            _sample("gen", 0, "g0", "4", "5", None),
            _sample("mc", 2, None, "0", "0", [-1.0, -3.0]),  # no doc_hash: found by doc id
        ],
        schema=SAMPLE_SCHEMA,
    )
    rows = doc_texts(samples, load_docs(tmp_path)).rows()
    assert rows == [
        ("mc", 1, "Q1?", "no", "yes", 0.0, 0.5),
        ("mc", 0, "Q0?", "blue", "blue", 1.0, 0.5),
        ("mc", 5, None, "0", "1", 0.0, 0.5),
        ("gen", 0, "2 + 2 =", "4", "5", 0.0, None),
        ("mc", 2, "Q2?", "a", "a", 1.0, 0.5),
    ]
    assert doc_texts(samples, None)["question"].null_count() == 5  # a folder without docs/: ids only


def test_damaged_docs_lines_are_left_out_and_bad_rows_refused(tmp_path: Path) -> None:
    write_docs(tmp_path, [_doc("t", i, f"h{i}", f"Q{i}", ["x", "y"], "x") for i in range(3)])
    path = docs_path(tmp_path, "t")
    path.write_bytes(path.read_bytes()[:-20])  # the last line cut
    assert [r["doc_id"] for r in read_docs(path)] == [0, 1]
    assert load_docs(tmp_path, "t")["doc_hash"].to_list() == ["h0", "h1"]
    with pytest.raises(ValueError, match="not a docs row"):
        write_docs(tmp_path, [{"task": "t", "doc_id": 3, "question": "no hash", "choices": [], "gold": ""}])
    assert load_docs(tmp_path / "nothing").is_empty()


class FakeTask:
    """An lm-eval-like task object: doc_to_text / doc_to_choice / doc_to_target over its docs."""

    OUTPUT_TYPE = "multiple_choice"
    multiple_input = 0

    def doc_to_text(self, doc: dict) -> str:
        return f"Question: {doc['q']}\nAnswer:"

    def doc_to_choice(self, doc: dict) -> list[str]:
        return doc["options"]

    def doc_to_target(self, doc: dict):
        return doc["label"]


def test_doc_row_uses_the_task_objects_texts() -> None:
    task = FakeTask()
    row = doc_row(task, "fake", 3, "abc", {"q": "Sky?", "options": ["blue", "green"], "label": 0})
    assert row == _doc("fake", 3, "abc", "Question: Sky?\nAnswer:", ["blue", "green"], "blue")
    several = doc_row(task, "fake", 4, "d", {"q": "P" * 900, "options": ["a", "b", "c"], "label": [0, 2]})
    assert several["gold"] == "a | c" and len(several["question"]) == MAX_TEXT_CHARS
    assert several["question"].endswith("PPP\nAnswer:")
    task.multiple_input = 2  # Winogrande-like: the gold index comes from doc_to_text, the choices are contexts
    task.doc_to_text = lambda doc: 1
    wino = doc_row(task, "w", 0, "e", {"q": "", "options": ["Ann _", "Bob _"], "label": "ran home."})
    assert (wino["question"], wino["gold"]) == ("… ran home.", "Bob _")
    task.OUTPUT_TYPE, task.multiple_input = "generate_until", 0
    task.doc_to_text = lambda doc: doc["q"]
    assert doc_row(task, "g", 0, "f", {"q": "1+1=", "label": "2"})["choices"] == []


# ------------------------------------------------------------------------------------------ shipped results
def test_shipped_demo_cpu_has_the_text_of_every_document() -> None:
    docs = load_docs(SHIPPED)
    assert sorted(set(docs["task"])) == ["arc_easy", "boolq", "piqa"] and docs.height == 300
    samples = load_samples(SHIPPED)
    assert samples.join(docs, on=["task", "doc_hash"], how="anti").is_empty()  # every row of every cell
    for task in ("arc_easy", "piqa", "boolq"):
        cid = next(r["cell_id"] for r in read_records(SHIPPED) if r["task"] == task and r["model"] == "smollm2-135m")
        one = samples.filter(pl.col("cell_id") == cid)
        shown = doc_texts(one, load_docs(SHIPPED, task))
        assert shown.height == one.height == 100
        assert shown["question"].str.len_chars().min() > 10 and shown["gold"].str.len_chars().min() > 0
        choices = one.join(docs, on=["task", "doc_hash"], how="left")["choices"].to_list()
        for row, options in zip(shown.iter_rows(named=True), choices, strict=True):
            assert row["pred"] in options and row["gold"] in options
            assert (row["pred"] == row["gold"]) == (row["correct"] == 1.0)  # lm-eval's acc, read as text
    assert integrity.all_damage(SHIPPED) == []  # `explorer check data/demo_cpu`: docs/ is not a result file


def _backfill_module():
    spec = importlib.util.spec_from_file_location("backfill_docs", REPO / "scripts" / "backfill_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_backfill_refuses_other_documents(tmp_path: Path) -> None:
    backfill = _backfill_module()
    prepared = SimpleNamespace(sources={"t": "data_dir:/x"}, fingerprints={"t": "f" * 64})
    rec = {"cell_id": "c1", "task_source": "data_dir:/y", "key": {"task_fingerprint": "e" * 64}}
    rec["versions"] = {"lm_eval": "0.4.13"}
    assert backfill.source_problems("t", [rec], prepared, "0.4.13") == [
        "t: cell c1 task fingerprint eeeeeeeeeeeeeeee, the data dir's is ffffffffffffffff: other documents"
    ]
    assert backfill.source_problems("t", [rec | {"key": {"task_fingerprint": "f" * 64}}], prepared, "0.4.13") == []
    docs = [
        {"q": "Sky?", "options": ["blue", "green"], "label": 0},
        {"q": "Sea?", "options": ["wet", "dry"], "label": 0},
    ]
    task = FakeTask()
    task.doc_iterator = lambda limit: enumerate(docs[:limit])
    record = {"cell_id": "c1", "model": "m", "quant": "bf16", "task": "t", "status": "ok", "n_docs": 2, "limit": 2}
    write_record(tmp_path, record | {"metrics": [{"metric": "acc", "value": 0.5, "stderr": None}]})
    good = backfill.lm_eval_doc_hash(docs[0])
    write_samples(
        tmp_path,
        "c1",
        [_sample("t", 0, good, "0", "0", [-1.0, -2.0]), _sample("t", 1, "x" * 64, "0", "1", [-2.0, -1.0])],
    )
    rows, problems = backfill.task_rows(task, "t", [record], tmp_path)
    assert rows == [_doc("t", 0, good, "Question: Sky?\nAnswer:", ["blue", "green"], "blue")]
    assert problems == [
        f"t: cell c1 doc_id 1: doc_hash xxxxxxxxxxxx, the document here has {backfill.lm_eval_doc_hash(docs[1])[:12]}"
    ]


# ------------------------------------------------------------------------------------------ the worker


@pytest.fixture(scope="module")
def worker_setup(tmp_path_factory, gen_task_yaml):
    """The worker's evaluate_cell inputs, in this process: tiny-random-llama in lm-eval's HFLM (as the worker
    wraps it), a TaskManager of the generated explorer_arith (multiple choice) and a tiny generation task only
    (lm-eval's 14k built-in YAMLs are not scanned: seconds, not a sweep's minute)."""
    import torch
    from lm_eval.tasks import TaskManager

    from explorer.models.sources import load_model, parse_model
    from explorer.runner.timed_lm import TimedHFLM
    from explorer.tasks.synthetic import prepare_synthetic_task

    root = tmp_path_factory.mktemp("worker")
    arith, _ = prepare_synthetic_task("explorer_arith", root / "cache")
    gen = root / "usertasks"
    gen.mkdir()
    data = gen / "gen.jsonl"
    data.write_text("".join(json.dumps({"question": f"{i} + {i} =", "answer": str(2 * i)}) + "\n" for i in range(3)))
    (gen / "tiny_gen.yaml").write_text(gen_task_yaml(data, 4))
    tm = TaskManager(include_path=[str(arith), str(gen)], include_defaults=False)
    model, tok = load_model(parse_model("tiny-random-llama"), torch.float32, "cpu", log=lambda *_: None)
    lm = TimedHFLM(pretrained=model, tokenizer=tok, batch_size=4, device="cpu", softmax_dtype="float32")
    return lm, tm


def _run_cell(worker_setup, out: Path, task: str) -> dict:
    from explorer.runner.trackers import EnergyTracker
    from explorer.runner.worker import evaluate_cell

    lm, tm = worker_setup
    from explorer.runner.jobs import Cell, EvalJob

    job = EvalJob("tiny", str(out), "cpu", {"kind": "tiny", "ref": "tiny"}, "tiny", "fp32", run_id="r1", limit=3,
                  batch_size=4)  # fmt: skip
    cell = Cell(f"cell-{task}", task, task)
    record = evaluate_cell(lm, job, cell, tm, EnergyTracker("cpu"), {})
    write_record(out, record)
    return record


def test_the_worker_writes_the_docs_of_a_finished_cell(worker_setup, tmp_path: Path) -> None:
    assert [_run_cell(worker_setup, tmp_path, t)["status"] for t in ("explorer_arith", "tiny_gen")] == ["ok", "ok"]
    gen = load_docs(tmp_path, "tiny_gen")
    assert gen.select("doc_id", "question", "choices", "gold").rows() == [
        (i, f"{i} + {i} =", [], str(2 * i)) for i in range(3)
    ]
    arith = load_docs(tmp_path, "explorer_arith")
    assert arith["doc_id"].to_list() == [0, 1, 2] and all(q.startswith("Question: What is ") for q in arith["question"])
    assert all(len(c) == 4 and g in c for c, g in zip(arith["choices"], arith["gold"], strict=True))
    samples = load_samples(tmp_path)
    assert samples.height == 6 and samples.join(load_docs(tmp_path), on=["task", "doc_hash"], how="anti").is_empty()
    mc = samples.filter(pl.col("task") == "explorer_arith")
    choices = mc.join(arith, on=["task", "doc_hash"], how="left")["choices"].to_list()
    for row, s, options in zip(
        doc_texts(mc, arith).iter_rows(named=True), mc.iter_rows(named=True), choices, strict=True
    ):
        assert (row["gold"], row["pred"]) == (options[int(s["target"])], options[int(s["pred"])])
    assert integrity.all_damage(tmp_path) == []


def test_a_docs_failure_never_fails_the_cell(worker_setup, tmp_path: Path, monkeypatch, capsys) -> None:
    import explorer.records.docs as docs_module

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(docs_module, "write_cell_docs", broken)
    record = _run_cell(worker_setup, tmp_path, "tiny_gen")
    assert record["status"] == "ok" and record["samples_lines"] == 3 and not (tmp_path / "docs").exists()
    assert "OSError: disk full" in capsys.readouterr().err
