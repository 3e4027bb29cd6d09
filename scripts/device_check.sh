#!/usr/bin/env bash
# Device check, one command on a CUDA machine without internet (see explorer/launcher/device_check.py):
#   here:   bash scripts/make_wheelhouse.sh          (once; .whl/ is carried to the device)
#   there:  bash scripts/device_check.sh              (writes $OUT/device_check.tar.gz + manifest.json)
# Then unpack the archive under data/gpu/ and commit it: every number in it is measured on that device.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device_check_out}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
export EXPLORER_CACHE_DIR=/tmp/explorer-cache
mkdir -p "$OUT"
python3 -m explorer.launcher.device_check --out /tmp/device_check "$@" 2>&1 | tee "$OUT/device_check.log"
cp /tmp/device_check.tar.gz /tmp/device_check/manifest.json "$OUT/" 2>/dev/null
ls -la "$OUT"
