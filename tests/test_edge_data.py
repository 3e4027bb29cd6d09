"""The shipped reported llama-bench figures (data/edge/): every row has its numbers and its source."""

from __future__ import annotations

import csv
from pathlib import Path

EDGE = Path(__file__).resolve().parents[1] / "data" / "edge" / "llama_bench_reported.csv"


def test_every_reported_llama_bench_row_has_figures_and_a_source() -> None:
    rows = list(csv.DictReader(EDGE.open(encoding="utf-8")))
    assert len(rows) >= 8 and any(r["device_class"] == "arm-board" for r in rows)
    for r in rows:
        assert r["source"].startswith("https://github.com/"), r
        assert float(r["pp512_tokens_per_s"]) > float(r["tg128_tokens_per_s"]) > 0, r
        assert r["model"] and r["quant"] and r["date"][:4].isdigit(), r
