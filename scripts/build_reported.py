"""Build data/reported/reported_results.csv from the compiled table (../shared/reported/reported_results.csv).

Every row and column is kept as compiled (each row names its source); two columns are added: `model_kind` (base
or instruct, from the id and the compiler's caveats) and `architecture` (the explorer architecture of the
model's shape, so its cost can be measured on random weights). Run from the repository root:
    .venv/bin/python scripts/build_reported.py [SOURCE_CSV]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ARCH = {
    "mistralai/Mistral-7B-v0.1": "mistral-7b",
    "meta-llama/Llama-2-7b-hf": "llama-2-7b",
    "meta-llama/Llama-2-13b-hf": "llama-2-13b",
    "meta-llama/Llama-2-70b-hf": "llama-2-70b",
    "meta-llama/Meta-Llama-3-8B-Instruct": "llama-3.1-8b",  # Llama 3 and 3.1 8B share one shape
    "meta-llama/Meta-Llama-3-70B-Instruct": "llama-3.1-70b",
    "meta-llama/Llama-3.1-8B": "llama-3.1-8b",
    "meta-llama/Llama-3.1-8B-Instruct": "llama-3.1-8b",
    "meta-llama/Llama-3.2-1B": "llama-3.2-1b",
    "Qwen/Qwen2.5-0.5B": "qwen2.5-0.5b",
    "Qwen/Qwen2.5-1.5B": "qwen2.5-1.5b",
    "Qwen/Qwen2.5-7B-Instruct": "qwen2.5-7b",
    "Qwen/Qwen2.5-14B-Instruct": "qwen2.5-14b",
    "Qwen/Qwen2.5-32B-Instruct": "qwen2.5-32b",
    "Qwen/Qwen2.5-72B-Instruct": "qwen2.5-72b",
    "google/gemma-3-1b-pt": "gemma3-1b",
    "google/gemma-3-4b-pt": "gemma3-4b",
    "google/gemma-3-12b-pt": "gemma3-12b",
    "google/gemma-3-27b-pt": "gemma3-27b",
    "HuggingFaceTB/SmolLM2-360M": "smollm2-360m",
    "HuggingFaceTB/SmolLM2-1.7B": "smollm2-1.7b",
}


def main(argv: list[str]) -> int:
    src = Path(argv[0]) if argv else Path("../shared/reported/reported_results.csv")
    out = Path("data/reported/reported_results.csv")
    with src.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    missing = sorted({r["model"] for r in rows} - set(ARCH))
    if missing:
        print(f"no architecture for: {', '.join(missing)} (add them to ARCH)", file=sys.stderr)
        return 2
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*header, "model_kind", "architecture"])
        writer.writeheader()
        for r in rows:
            kind = "instruct" if "instruct" in r["model"].lower() else "base"
            writer.writerow({**r, "model_kind": kind, "architecture": ARCH[r["model"]]})
    print(f"{len(rows)} rows -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
