#!/usr/bin/env bash
# Wheels the GPU device image lacks (Python 3.12, x86-64, no internet there), into .whl/ (git-ignored).
# The device image already has torch, transformers, accelerate, pandas, pyarrow, nvidia-ml-py, xxhash,
# sacrebleu, scikit-learn, jinja2, tqdm. Keep the total small: the working tree travels (64 MiB at most).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PKGS=(lm_eval==0.4.13 datasets==5.2.0 evaluate==0.4.6 dill==0.4.1 multiprocess==0.70.19 more_itertools==11.2.1
      pytablewriter==1.2.1 DataProperty==1.1.1 mbstrdecoder==1.1.5 typepy==1.3.5 tabledata==1.3.5 tcolorpy==0.1.7
      pathvalidate==3.3.1 chardet==6.0.0.post1 rouge-score==0.1.2 nltk==3.10.4 word2number==1.1 sqlitedict==2.1.0
      )  # polars stays home: the device side writes JSON only
PLAT=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
for pkg in "${PKGS[@]}"; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLAT[@]}" \
      -d .whl "$pkg" 2>/dev/null || "$PY" -m pip wheel -q --no-deps -w .whl "$pkg"   # pure-Python sdists
done
du -sh .whl
