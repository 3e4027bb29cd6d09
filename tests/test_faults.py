"""Sweeps that fail loudly (exit codes, plan-time refusals, bad data named by file and line, unwritable folders)
and cells whose identity is complete (library versions, task definitions, per-task fingerprints)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.config.spec import SweepSpec
from explorer.launcher import executors
from explorer.launcher import sweep as sweep_mod
from explorer.launcher.executors import JobEnd
from explorer.launcher.sweep import plan_sweep
from explorer.records.files import read_records
from explorer.tasks.offline import lm_eval_cache_tag, lm_eval_tasks_dir, prepare_tasks

USER_TASK = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{text}"
doc_to_target: 0
doc_to_choice: ["yes", "no"]
metric_list:
  - metric: acc
"""


def _user_task(folder: Path, name: str, text: str = "Q: {{q}}", data: str = '{"q": "1"}\n') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_text(data)
    path = folder / f"{name}.yaml"
    path.write_text(USER_TASK.format(name=name, data=folder / f"{name}.jsonl", text=text))
    return path


def _spec_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text("models: [tiny-random-llama]\nlimit: 2\nbatch_size: 4\ndevice: cpu\n" + body)
    return path


def _sweep(spec: Path, out: Path, *extra: str) -> int:
    return main(["sweep", str(spec), "--out", str(out), "--quiet", *extra])


# ------------------------------------------------------------------------------------------ exit codes


def test_exit_1_names_each_failed_cell_then_0_when_every_cell_is_ok(tmp_path, capsys) -> None:
    tasks = tmp_path / "mytasks"
    _user_task(tasks, "broken_local", data="this is not JSON\n")  # the worker cannot load it: that cell fails
    body = f"quantizations: [bf16]\ntasks: [explorer_arith, broken_local]\ninclude_path: [{tasks}]\n"
    spec = _spec_file(tmp_path, body)
    out = tmp_path / "out"
    assert _sweep(spec, out) == 1
    err = capsys.readouterr().err
    failed = [ln for ln in err.splitlines() if ln.startswith("failed cell: ")]
    assert len(failed) == 1 and failed[0].startswith("failed cell: tiny-random-llama bf16 broken_local: "), err
    assert "1 of 2 cells failed (exit 1)" in err
    statuses = sorted((r["task"], r["status"]) for r in read_records(out))
    assert statuses == [("broken_local", "failed"), ("explorer_arith", "ok")]
    logs = sorted(p.name for p in (out / "logs").iterdir())
    # kept as failed by --skip-failed: still not every cell ok, and nothing runs
    assert _sweep(spec, out, "--skip-failed") == 1
    assert "failed cell: tiny-random-llama bf16 broken_local" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "logs").iterdir()) == logs
    # a spec whose every cell is ok (here: already done) exits 0
    assert _sweep(_spec_file(tmp_path, "quantizations: [bf16]\ntasks: [explorer_arith]\n"), out) == 0
    captured = capsys.readouterr()
    assert "1 already done" in captured.out and "failed cell" not in captured.err


def test_nf4_on_cpu_is_refused_at_plan_time(tmp_path, capsys, monkeypatch) -> None:
    started = []
    monkeypatch.setattr(executors, "run_one", lambda *a, **k: started.append(a) or JobEnd(a[0]))
    spec = _spec_file(tmp_path, "quantizations: [bf16, nf4]\ntasks: [explorer_arith]\n")
    assert _sweep(spec, tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: field 'quantizations': quantization 'nf4' is not available on cpu")
    assert "available on cpu: fp32, bf16, fp16, int8, int4" in err and "\n" not in err
    assert started == [] and not (tmp_path / "out").exists()  # no worker, not even the folder


def test_out_is_a_file_is_one_line_exit_2(tmp_path, capsys) -> None:
    (tmp_path / "taken").write_text("a file\n")
    spec = _spec_file(tmp_path, "tasks: [explorer_arith]\n")
    assert _sweep(spec, tmp_path / "taken") == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: results folder {tmp_path / 'taken'} is a file: give a folder (it is created when missing)"
    assert _sweep(spec, tmp_path / "taken" / "sub") == 2
    assert capsys.readouterr().err.startswith(f"error: cannot create the results folder {tmp_path / 'taken' / 'sub'}")


def test_unwritable_out_folder_is_exit_2(tmp_path, capsys) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes (the ENOSPC test covers the write path)")
        assert _sweep(_spec_file(tmp_path, "tasks: [explorer_arith]\n"), folder) == 2
        assert "is not writable" in capsys.readouterr().err
    finally:
        folder.chmod(0o700)


def test_disk_full_while_writing_a_failed_record_is_one_line_and_damages_nothing(tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "out"
    (out / "records").mkdir(parents=True)
    earlier = out / "records" / "0123456789abcdef.json"
    earlier.write_text(json.dumps({"cell_id": "0123456789abcdef", "status": "ok"}))
    before = earlier.read_bytes()

    def dead_worker(job, *args, **kwargs):  # the worker died (e.g. the disk filled up under it)
        return JobEnd(job, set(), "worker killed by SIGKILL")

    def full(out_dir, record):
        raise OSError(errno.ENOSPC, "No space left on device", str(out_dir / "records" / f"{record['cell_id']}.json"))

    monkeypatch.setattr(executors, "run_one", dead_worker)
    monkeypatch.setattr(sweep_mod, "write_record", full)
    assert _sweep(_spec_file(tmp_path, "tasks: [explorer_arith]\n"), out) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {out / 'records'}"), lines
    assert "No space left on device" in lines[0] and "records written so far are intact" in lines[0]
    assert earlier.read_bytes() == before and sorted(p.name for p in (out / "records").iterdir()) == [earlier.name]


# ------------------------------------------------------------------------------------------ bad benchmark data

ARC = {"id": "q1", "question": {"stem": "Which?", "choices": [{"text": "a", "label": "A"}]}, "answerKey": "A"}


def _arc_dir(tmp_path: Path, test_text: str) -> Path:
    data = tmp_path / "data"
    (data / "arc_easy").mkdir(parents=True)
    (data / "arc_easy" / "ARC-Easy-Test.jsonl").write_text(test_text)
    (data / "arc_easy" / "ARC-Easy-Dev.jsonl").write_text(json.dumps(ARC) + "\n")
    return data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            json.dumps(ARC) + "\n" + json.dumps(ARC)[:10],
            r"ARC-Easy-Test\.jsonl line 2: not valid JSON \(Unterminated string",
        ),
        (json.dumps({"id": "q1", "query": "?"}) + "\n", r"ARC-Easy-Test\.jsonl line 1: missing key 'question'"),
        ("\n", r"ARC-Easy-Test\.jsonl: no records \(the file is empty\)"),
        ("[1, 2]\n", r"ARC-Easy-Test\.jsonl line 1: a JSON list, not an object"),
    ],
)
def test_bad_arc_file_names_file_line_and_layout(tmp_path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        prepare_tasks(["arc_easy"], _arc_dir(tmp_path, text), tmp_path / "cache")
    assert "expected" in str(err.value) and "answerKey" in str(err.value) and "\n" not in str(err.value)


def test_bad_data_is_exit_2_before_any_worker(tmp_path, capsys) -> None:
    data = _arc_dir(tmp_path, json.dumps(ARC)[:30])
    spec = _spec_file(tmp_path, "tasks: [arc_easy]\n")
    assert _sweep(spec, tmp_path / "out", "--data-dir", str(data)) == 2
    err = capsys.readouterr().err
    assert f"{data / 'arc_easy' / 'ARC-Easy-Test.jsonl'} line 1: not valid JSON" in err
    assert not (tmp_path / "out" / "jobs").exists()


@pytest.mark.parametrize(
    ("task", "files", "message"),
    [
        ("piqa", {"piqa/valid.jsonl": '{"goal": "g", "sol1": "a", "sol2": "b"}\n', "piqa/valid-labels.lst": "2\n"},
         r"valid-labels\.lst line 1: label '2'; expected 0 or 1"),
        ("piqa", {"piqa/valid.jsonl": '{"goal": "g", "sol1": "a"}\n', "piqa/valid-labels.lst": "0\n"},
         r"valid\.jsonl line 1: missing key 'sol2'"),
        ("boolq", {"boolq/val.jsonl": '{"question": "q", "passage": "p", "label": "maybe"}\n'},
         r"val\.jsonl line 1: ValueError: unexpected BoolQ label 'maybe'"),
        ("sciq", {"sciq/sciq_test.json": '{"question": "q"}'}, r"sciq_test\.json: not a list"),
        ("gsm8k", {"gsm8k/test.jsonl": ""}, r"test\.jsonl: no records \(the file is empty\)"),
    ],
)  # fmt: skip
def test_other_bad_files(tmp_path, task: str, files: dict[str, str], message: str) -> None:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    with pytest.raises(ValueError, match=message):
        prepare_tasks([task], tmp_path, tmp_path / "cache")


# ------------------------------------------------------------------------------------------ cell identity


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _ids(spec: SweepSpec, out: Path) -> dict[tuple[str, str], str]:
    plan = plan_sweep(spec, out)
    return {(job.quant, cell.task): cell.cell_id for job in plan.jobs for cell in job.cells}


def test_key_holds_library_versions(tmp_path, own_cache, monkeypatch) -> None:
    from explorer.quant import registry

    spec = SweepSpec(
        models=["tiny-random-llama"], quantizations=["bf16", "int8"], tasks=["explorer_arith"], device="cpu"
    )
    plan = plan_sweep(spec, tmp_path)
    keys = {job.quant: job.cells[0].key for job in plan.jobs}
    assert keys["bf16"]["key_version"] == 2 and set(keys["bf16"]["versions"]) == {"lm_eval", "transformers", "torch"}
    assert keys["int8"]["versions"]["torchao"] == registry.package_version("torchao") != "not installed"
    assert len(keys["bf16"]["task_definition"]) == 64
    ids = _ids(spec, tmp_path)
    real = registry.package_version
    for pkg, changed in (("lm_eval", {"bf16", "int8"}), ("torch", {"bf16", "int8"}), ("torchao", {"int8"})):
        monkeypatch.setattr(registry, "package_version", lambda n, pkg=pkg: "9.9.9" if n == pkg else real(n))
        now = _ids(spec, tmp_path)
        assert {q for (q, _), cid in now.items() if cid != ids[(q, "explorer_arith")]} == changed, pkg
    monkeypatch.setattr(registry, "package_version", real)
    assert _ids(spec, tmp_path) == ids


def test_editing_one_yaml_of_an_include_folder_changes_only_that_task(tmp_path, own_cache) -> None:
    folder = tmp_path / "mytasks"
    a, _ = _user_task(folder, "task_a"), _user_task(folder, "task_b")
    before = prepare_tasks(["task_a", "task_b"], None, own_cache, include_dirs=[folder])
    spec = SweepSpec(models=["tiny-random-llama"], tasks=["task_a", "task_b"], device="cpu", include_path=[str(folder)])
    ids = _ids(spec, tmp_path)
    a.write_text(a.read_text().replace('"Q: ', '"Question: '))
    after = prepare_tasks(["task_a", "task_b"], None, own_cache, include_dirs=[folder])
    assert after.definitions["task_a"] != before.definitions["task_a"]
    assert after.fingerprints["task_a"] != before.fingerprints["task_a"]
    assert (after.definitions["task_b"], after.fingerprints["task_b"]) == (
        before.definitions["task_b"],
        before.fingerprints["task_b"],
    )
    now = _ids(spec, tmp_path)
    assert now[("bf16", "task_a")] != ids[("bf16", "task_a")] and now[("bf16", "task_b")] == ids[("bf16", "task_b")]
    (folder / "task_b.jsonl").write_text('{"q": "2"}\n')  # its data: only task_b's fingerprint moves
    data = prepare_tasks(["task_a", "task_b"], None, own_cache, include_dirs=[folder])
    assert data.fingerprints["task_a"] == after.fingerprints["task_a"]
    assert data.fingerprints["task_b"] != after.fingerprints["task_b"]
    assert data.definitions["task_b"] == after.definitions["task_b"]
    assert data.all_local and data.local == {"task_a": True, "task_b": True}


def test_a_missing_user_data_file_is_a_plan_time_error(tmp_path, own_cache) -> None:
    folder = tmp_path / "mytasks"
    _user_task(folder, "task_a")
    (folder / "task_a.jsonl").unlink()
    with pytest.raises(ValueError, match=r"task 'task_a' \(include folder .*\): data file '.*task_a\.jsonl' not found"):
        prepare_tasks(["task_a"], None, own_cache, include_dirs=[folder])


def test_lm_eval_task_yaml_content_is_in_the_definition(tmp_path, own_cache, monkeypatch) -> None:
    from explorer.tasks import offline

    copy = tmp_path / "lm_eval_tasks"
    shutil.copytree(lm_eval_tasks_dir() / "arc", copy / "arc")
    monkeypatch.setattr(offline, "lm_eval_tasks_dir", lambda: copy)
    data = _arc_dir(tmp_path, json.dumps(ARC) + "\n")
    first = prepare_tasks(["arc_easy", "arc_challenge"], None, own_cache)  # hub tasks: lm-eval's YAMLs
    offline_first = prepare_tasks(["arc_easy"], data, own_cache)
    arc_easy = copy / "arc" / "arc_easy.yaml"
    arc_easy.write_text(arc_easy.read_text().replace("Answer:", "A:"))
    second = prepare_tasks(["arc_easy", "arc_challenge"], None, own_cache)
    assert second.definitions["arc_easy"] != first.definitions["arc_easy"]
    assert second.definitions["arc_challenge"] != first.definitions["arc_challenge"]  # it includes arc_easy.yaml
    assert prepare_tasks(["arc_easy"], data, own_cache).definitions["arc_easy"] != offline_first.definitions["arc_easy"]
    assert first.local == {"arc_easy": False, "arc_challenge": False} and offline_first.all_local


def test_generated_task_folders_are_keyed_by_lm_eval_install(tmp_path) -> None:
    from explorer.quant.registry import package_version

    tag = lm_eval_cache_tag()
    assert tag.startswith(f"lm_eval-{package_version('lm_eval')}-") and len(tag.rsplit("-", 1)[1]) == 8
    prepared = prepare_tasks(["explorer_arith"], None, tmp_path)
    assert Path(prepared.include_path[0]).parent == (tmp_path / tag).resolve()


def test_hf_offline_flags_follow_the_tasks(tmp_path, own_cache, monkeypatch) -> None:
    """Every task local (generated, data dir, a user task on local files): the worker runs with the HF offline
    flags; a task from the hub: it does not."""
    envs: list[dict] = []

    class FakeWorker:
        def __init__(self, cmd, env, **kwargs):
            envs.append(env)

        def poll(self):
            return 0

    from explorer.launcher import process

    monkeypatch.setattr(process.subprocess, "Popen", FakeWorker)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    folder = tmp_path / "mytasks"
    _user_task(folder, "task_a")
    (folder / "hub_task.yaml").write_text("task: hub_task\ndataset_path: some-org/some-dataset\n")
    for tasks, offline_flags in ((["task_a", "explorer_arith"], True), (["task_a", "hub_task"], False)):
        spec = SweepSpec(models=["tiny-random-llama"], tasks=tasks, device="cpu", include_path=[str(folder)])
        sweep_mod.run_sweep(spec, tmp_path / "out", progress=False)
        env = envs.pop()
        assert (env.get("HF_HUB_OFFLINE"), env.get("HF_DATASETS_OFFLINE")) == (
            ("1", "1") if offline_flags else (None, None)
        )


@pytest.mark.parametrize(("folder", "key_version"), [("data/demo_cpu", 2), ("data/random_cpu", None)])
def test_shipped_results_still_load_under_their_old_keys(folder: str, key_version: int | None) -> None:
    from explorer.records.store import load_evals

    root = Path(__file__).resolve().parents[1] / folder
    records = read_records(root)
    # random_cpu was written before key v2 and is never re-keyed; demo_cpu was re-run (2026-12-06) under v2
    assert records and all(r["key"].get("key_version") == key_version for r in records)
    evals = load_evals(root)
    assert evals.height >= len(records) and set(evals["cell_id"]) == {r["cell_id"] for r in records}
