"""Reported results: the file format and its checks, the join to random-weight cost, protocol groups, and the
claim query, on hand-made tables with answers computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from explorer.analysis.claim import claim, quant_view
from explorer.analysis.reported import cost_for, join_reported, label_configs, random_cost_rows, select_reported
from explorer.models.architectures import param_count
from explorer.records.reported import COLUMNS, ReportedError, load_reported

HEADER = "model,params_b,quant,method,task,metric,value,num_fewshot,harness,source,source_date,protocol_group,notes"
ROW = "org/Model-7B,7,fp16,none (FP16 baseline),arc_easy,acc,0.75,0,lm-eval 0.4.5,https://x/doc.md,2024-01-01,P1,"
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "reported"


def _csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "rep.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_a_valid_file_becomes_reported_rows(tmp_path: Path) -> None:
    rows = load_reported(_csv(tmp_path, ROW, ROW.replace("org/Model-7B", "org/Model-7B-Instruct")))
    assert rows.height == 2 and set(rows["accuracy_provenance"]) == {"reported"}
    assert rows["model_kind"].to_list() == ["base", "instruct"]  # from the id when the column is absent
    assert rows.row(0, named=True)["value"] == 0.75 and rows["source"][0] == "https://x/doc.md"
    assert rows["source_line"].to_list() == [2, 3]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            ROW.replace("https://x/doc.md", ""),
            "rep.csv:2: field 'source': is missing or empty (every row names its source)",
        ),
        (ROW.replace(",0.75,", ",75,"), "rep.csv:2: field 'value': 75.0 is outside [0, 1] (give fractions"),
        (ROW.replace("arc_easy", "arc_esay"), "rep.csv:2: field 'task': unknown lm-eval task 'arc_esay' (did you mean"),
        (ROW.replace(",0.75,0,", ",0.75,zero,"), "rep.csv:2: field 'num_fewshot': 'zero' is not a number"),
        (ROW.replace(",acc,", ",,"), "rep.csv:2: field 'metric': is missing or empty"),
    ],
)
def test_bad_rows_are_one_line_naming_file_line_and_field(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(ReportedError) as err:
        load_reported(_csv(tmp_path, ROW, row))
    text = str(err.value)
    assert message.replace("rep.csv:2", "rep.csv:3") in text and "\n" not in text


def test_bad_headers_and_other_harnesses(tmp_path: Path) -> None:
    with pytest.raises(ReportedError, match=r"rep.csv:1: field 'sourse': unknown column \(did you mean 'source'"):
        load_reported(_csv(tmp_path, ROW, header=HEADER.replace("source,", "sourse,")))
    with pytest.raises(ReportedError, match="field 'harness': column missing from the header"):
        load_reported(_csv(tmp_path, header=HEADER.replace("harness,", "")))
    arch = _csv(tmp_path, ROW + ",base,llama-2-7bb", header=HEADER + ",model_kind,architecture")
    with pytest.raises(ReportedError, match=r"unknown architecture 'llama-2-7bb' \(did you mean 'llama-2-7b'"):
        load_reported(arch)
    lighteval = ROW.replace("arc_easy", "mmlu_cloze").replace("lm-eval 0.4.5", "lighteval")
    assert load_reported(_csv(tmp_path, lighteval))["task"].to_list() == ["mmlu_cloze"]  # its own task names
    assert set(COLUMNS) >= set(HEADER.split(","))


def test_the_shipped_file_keeps_every_source() -> None:
    rows = load_reported(SHIPPED)
    assert rows.height == 751 and rows["source"].null_count() == 0 and rows["architecture"].null_count() == 0
    qwen = rows.filter(pl.col("model") == "Qwen/Qwen2.5-7B-Instruct")
    assert set(qwen["model_kind"]) == {"instruct"} and set(qwen["architecture"]) == {"qwen2.5-7b"}
    assert set(rows.filter(pl.col("model") == "meta-llama/Llama-2-70b-hf")["model_kind"]) == {"base"}
    assert set(rows["protocol_group"]) == {"P1_lmeval_0shot_acc", "P2_openllm_v1_fewshot", "P3_lighteval_0shot",
                                           "P4_vendor_card_mixed_shots"}  # fmt: skip


def test_labels_keep_studies_and_runs_apart() -> None:
    rows = label_configs(select_reported(load_reported(SHIPPED), "all", [0], "acc"))
    dup = rows.group_by("model", "quant", "task", "metric", "num_fewshot").len().filter(pl.col("len") > 1)
    assert dup.is_empty(), dup  # never two figures under one configuration and task
    llama = rows.filter((pl.col("model") == "meta-llama/Llama-3.1-8B") & (pl.col("task") == "arc_easy"))
    assert {"bf16 [gguf_alg_ext_acc.md@10b9f523 #1]", "bf16 [gguf_alg_ext_acc.md@10b9f523 #2]",
            "gguf_q4_k_m GGUF"} <= set(llama["quant"])  # fmt: skip
    assert set(rows.filter(pl.col("model") == "meta-llama/Llama-2-7b-hf")["quant"]) >= {"fp16", "int4 GPTQ", "int3 AWQ"}


def _cost_cell(arch: str, quant: str, task: str, params: float, seconds: float, **over) -> dict:
    from explorer.models.architectures import ARCHITECTURES

    cfg = ARCHITECTURES[arch]
    weight = {"bf16": 2.0, "int8": 1.0, "int4": 0.5}[quant] * params
    return {
        "cell_id": f"{arch}-{quant}-{task}", "model": f"random:{arch}", "quant": quant, "task": task,
        "quant_backend": f"backend-{quant}", "weights": "random", "status": "ok", "metric": "acc", "value": 0.99,
        "device_s_per_query": seconds, "device_name": "TestCPU", "device_kind": "cpu", "model_params": int(params),
        "weight_bytes": int(weight), "peak_mem_bytes": int(weight + 1e9), "n_docs": 10, "model_calls": 10,
        "tokens_in_per_query": 100.0, "tokens_read_per_query": 90.0, "tokens_out_per_query": 0.0,
        "n_layers": cfg["num_hidden_layers"], "hidden_size": cfg["hidden_size"],
        "n_kv_heads": cfg["num_key_value_heads"], "head_dim": cfg["hidden_size"] // cfg["num_attention_heads"],
        "vocab_size": cfg["vocab_size"], "tied_embeddings": cfg["tie_word_embeddings"], **over,
    }  # fmt: skip


def _reported(*rows: tuple) -> pl.DataFrame:
    """rows: (model, architecture, quant, method, task, value[, protocol_group, harness])."""
    out = []
    for r in rows:
        group, harness = (r[6], r[7]) if len(r) > 6 else ("P1", "lm-eval 0.4.5")
        out.append({"model": r[0], "architecture": r[1], "quant": r[2], "quant_method": r[3], "task": r[4],
                    "value": r[5], "metric": "acc", "num_fewshot": 0, "harness": harness, "protocol_group": group,
                    "source": "https://x/doc.md", "model_kind": "base", "accuracy_provenance": "reported"})  # fmt: skip
    return pl.DataFrame(out)


def test_join_names_both_methods_and_says_why_no_cost() -> None:
    cells = [_cost_cell("llama-2-7b", q, "arc_easy", 6.7e9, s) for q, s in (("bf16", 4.0), ("int4", 9.0))]
    cost = random_cost_rows(pl.DataFrame(cells))
    rep = label_configs(_reported(
        ("meta-llama/Llama-2-7b-hf", "llama-2-7b", "fp16", "none (FP16 baseline)", "arc_easy", 0.76),
        ("meta-llama/Llama-2-7b-hf", "llama-2-7b", "int4", "GPTQ W4A16 g128", "arc_easy", 0.75),
        ("meta-llama/Llama-2-7b-hf", "llama-2-7b", "int3", "GPTQ W3A16 g128", "arc_easy", 0.70),
        ("meta-llama/Llama-2-7b-hf", "llama-2-7b", "fp16", "none (FP16 baseline)", "piqa", 0.78),
    ))  # fmt: skip
    joined = join_reported(rep, cost).sort("task", "quant")
    fp16, int3, int4 = joined.filter(pl.col("task") == "arc_easy").iter_rows(named=True)
    assert (fp16["quant"], fp16["cost_quant"], fp16["device_s_per_query"], fp16["value"]) == ("fp16", "bf16", 4.0, 0.76)
    assert (int4["quant"], int4["quant_method"], int4["quant_backend"], int4["device_s_per_query"]) == (
        "int4 GPTQ", "GPTQ W4A16 g128", "backend-int4", 9.0)  # fmt: skip
    assert int4["value"] == 0.75 and int4["cost_weights"] == "random"  # the report's accuracy, never the 0.99
    assert int3["cost_note"].startswith("no explorer level stores weights like int3")
    piqa = joined.filter(pl.col("task") == "piqa").row(0, named=True)
    assert piqa["cost_note"] == "no cost measured for llama-2-7b at bf16 on piqa"


def test_an_architecture_too_large_to_measure_is_reshaped_from_the_largest_measured() -> None:
    small = _cost_cell("llama-3.2-1b", "bf16", "arc_easy", 1.24e9, 0.8)
    big = _cost_cell("llama-3.1-8b", "bf16", "arc_easy", 8.03e9, 5.0, efficiency=0.4)
    cost = cost_for(random_cost_rows(pl.DataFrame([small, big])), ["llama-3.1-70b"])
    row = cost.filter(pl.col("architecture") == "llama-3.1-70b").row(0, named=True)
    params = param_count("llama-3.1-70b")
    embed8, embed70 = 128256 * 4096 * 2, 128256 * 8192 * 2  # untied: input embedding and head
    per_param = (2.0 * 8.03e9 - 2.0 * embed8) / (8.03e9 - embed8)  # 2 bytes: the bf16 rate measured on the 8B
    assert row["model_params"] == params and row["weight_bytes"] == int(per_param * (params - embed70) + 2 * embed70)
    assert row["peak_mem_bytes"] == pytest.approx(row["weight_bytes"] + 1e9, rel=1e-9)  # the 8B's working set
    assert row["n_layers"] == 80 and row["device_s_per_query"] is None and row["device_name"] is None
    assert row["efficiency_borrowed"] == 0.4 and "work of random:llama-3.1-8b" in row["cost_origin"]
    assert row["tokens_read_per_query"] == 90.0  # the same stand-in tokenizer: the same tokens


def _table(*rows: tuple) -> pl.DataFrame:
    """A deployment table: (model, quant, hardware, value, monthly_usd[, harness, accuracy_provenance, doc])."""
    out = []
    for r in rows:
        harness, prov, doc = (r[5], r[6], r[7]) if len(r) > 5 else (None, "measured", None)
        out.append({"model": r[0], "quant": r[1], "quant_level": r[1].split()[0], "hardware": r[2], "task": "t",
                    "value": r[3], "monthly_usd": r[4], "excluded_reason": None, "harness": harness,
                    "num_fewshot": 0, "metric": "acc", "accuracy_provenance": prov, "cost_provenance": "projected",
                    "service_source": "projected from TestCPU", "source_doc": doc})  # fmt: skip
    return pl.DataFrame(out)


def test_claim_by_hand_within_one_protocol() -> None:
    table = _table(
        ("big", "bf16", "H100", 0.80, 2000.0, "lm-eval 0.4.5", "reported", "a.md"),
        ("big", "bf16", "L4", 0.80, 1000.0, "lm-eval 0.4.5", "reported", "a.md"),  # its cheapest deployment
        ("mid", "bf16", "L4", 0.74, 300.0, "lm-eval 0.4.5", "reported", "b.md"),
        ("small", "int4", "CPU", 0.73, 20.0),  # measured here: lm-eval, 0-shot, acc: the same protocol
        ("tiny", "bf16", "CPU", 0.90, 5.0, "lighteval", "reported", "c.md"),  # another protocol: never compared
    )
    got = claim(table, fraction=0.9)
    # the most accurate is "tiny", alone in its protocol: it is compared with itself only
    assert got["reference"]["model"] == "tiny" and got["chosen"]["model"] == "tiny" and got["n_compared"] == 1
    got = claim(table, reference=("big", "bf16"), fraction=0.9)  # 0.9 x 0.80 = 0.72: small (0.73) qualifies
    assert (got["chosen"]["model"], got["reference"]["hardware"]) == ("small", "L4")
    assert got["accuracy_share"] == pytest.approx(0.73 / 0.80) and got["cost_share"] == pytest.approx(20 / 1000)
    assert got["protocol"] == "lm-eval 0-shot acc" and got["n_compared"] == 3 and got["n_other_protocols"] == 1
    assert got["sentence"].startswith("small int4 reaches 91% of big bf16's t accuracy at 2.0% of its monthly bill")
    assert "accuracy measured here" in got["sentence"] and "accuracy reported (a.md)" in got["sentence"]
    strict = claim(table, reference=("big", "bf16"), fraction=0.95)  # 0.76: only big itself
    assert strict["chosen"]["model"] == "big" and strict["cost_share"] == pytest.approx(1.0)
    assert strict["sentence"].startswith("nothing cheaper reaches 95% of big bf16's t accuracy: it is the answer")
    assert "100%" not in strict["sentence"] and "1x" not in strict["sentence"]
    with pytest.raises(ValueError, match="no servable deployment of the reference huge bf16"):
        claim(table, reference=("huge", "bf16"))


def test_quantization_view_against_each_studys_baseline() -> None:
    table = _table(
        ("m", "fp16", "L4", 0.80, 1000.0, "lm-eval", "reported", "a.md"),
        ("m", "int4 GPTQ", "L4", 0.78, 400.0, "lm-eval", "reported", "a.md"),
        ("m", "int4 GPTQ", "T4", 0.78, 300.0, "lm-eval", "reported", "a.md"),  # its cheapest deployment
        ("m", "int4 AWQ", "L4", 0.79, 400.0, "lm-eval", "reported", "b.md"),  # another study: no baseline there
    ).with_columns(pl.lit("llama-2-7b").alias("architecture"))
    view = quant_view(table)
    (row,) = view.iter_rows(named=True)
    assert (row["quant"], row["family"], row["hardware"]) == ("int4 GPTQ", "llama-2", "T4")
    assert row["accuracy_lost_points"] == pytest.approx(2.0) and row["bill_saved"] == pytest.approx(0.7)


def test_random_accuracy_never_leaks_and_protocols_stay_apart(tmp_path: Path, capsys) -> None:
    from explorer.analysis.report import build_report, load_inputs
    from explorer.cli import main
    from explorer.deployment.workload import Workload
    from explorer.hardware.catalog import load_catalog
    from explorer.records.files import write_record

    cell = _cost_cell("llama-2-7b", "bf16", "arc_easy", 6.7e9, 4.0)
    arch_keys = ("n_layers", "hidden_size", "n_kv_heads", "head_dim", "vocab_size", "tied_embeddings")
    record = {**{k: v for k, v in cell.items() if k not in ("metric", "value", *arch_keys)},
              "metrics": [{"metric": "acc", "value": 0.99, "stderr": 0.01}],
              "architecture": {k: cell[k] for k in ("n_layers", "hidden_size", "n_kv_heads", "head_dim",
                                                     "vocab_size", "tied_embeddings")}}  # fmt: skip
    write_record(tmp_path, record)
    rep = _csv(tmp_path, ROW.replace("org/Model-7B", "meta-llama/Llama-2-7b-hf") + ",base,llama-2-7b",
               ROW.replace("org/Model-7B", "other/Cloze").replace("arc_easy,acc,0.75", "arc_easy,acc,0.95")
               .replace("lm-eval 0.4.5", "lighteval").replace(",P1,", ",P3,") + ",base,llama-2-7b",
               header=HEADER + ",model_kind,architecture")  # fmt: skip
    inputs = load_inputs(tmp_path, reported=rep, cost_dirs=())
    table = build_report(inputs, load_catalog(), Workload(hardware=("L4",))).table
    assert 0.99 not in table["value"].to_list() and not table["model"].str.starts_with("random:").any()
    assert set(table["model"]) == {"meta-llama/Llama-2-7b-hf"}  # the lighteval row is another protocol
    assert set(table["accuracy_provenance"]) == {"reported"} and set(table["value"]) == {0.75}
    everything = build_report(inputs, load_catalog(), Workload(hardware=("L4",)), protocols="all").table
    assert set(everything["model"]) == {"meta-llama/Llama-2-7b-hf", "other/Cloze"}
    assert main(["frontier", str(tmp_path), "--json", "--reported", str(rep), "--hardware", "L4"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows and all(r["accuracy_provenance"] == "reported" and r["cost_provenance"] for r in rows)
    assert main(["table", str(tmp_path)]) == 0
    assert "0.99" not in capsys.readouterr().out  # the table command blanks a random cell's accuracy


def test_reported_rows_get_their_tasks_chance_for_chance_normalising(capsys) -> None:
    """BoolQ has 2 choices: a reported 0.884 is (0.884 - 0.5) / 0.5 = 0.768 chance-normalised, like measured rows."""
    from explorer.cli import main

    shipped = Path(__file__).resolve().parents[1] / "data" / "demo_cpu"
    assert main(["frontier", str(shipped), "--task", "boolq", "--chance-normalised", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert main(["frontier", str(shipped), "--task", "boolq", "--json"]) == 0
    raw = json.loads(capsys.readouterr().out)["rows"]
    key = lambda r: (r["model"], r["quant"], r["hardware"], r["task"])  # noqa: E731
    plain = {key(r): r["accuracy"] for r in raw if r["task"] == "boolq"}
    reported = [r for r in rows if r["accuracy_provenance"] == "reported" and r["task"] == "boolq"]
    assert reported
    for r in reported:
        assert r["accuracy"] == pytest.approx((plain[key(r)] - 0.5) / 0.5)


def test_no_claim_against_a_reference_below_chance() -> None:
    rows = _table(
        ("a", "bf16", "x", -0.18, 64.0, "lm-eval", "measured", "d"),
        ("b", "int4", "x", -0.3, 64.0, "lm-eval", "measured", "d"),
    )
    with pytest.raises(ValueError, match="not above chance on t"):
        claim(rows, task="t")
