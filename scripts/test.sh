#!/usr/bin/env bash
# Install keras_transfer with all three backends and the test tools, then run
# the whole test suite once per Keras backend (one process per backend).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k dann`.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BACKENDS=${BACKENDS:-"jax torch tensorflow"}
WORKERS=${WORKERS:-2}

"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[all,test]" || exit 1

# Tiny nets on few cores: one thread per worker (torch runs ~10x slower otherwise).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
# Benchmark data for the loader tests (never committed; see docs/datasets.md).
export KERAS_TRANSFER_DATA=${KERAS_TRANSFER_DATA:-"$(cd .. && pwd)/shared/data"}

"$PYTHON" -m ruff check keras_transfer tests benchmarks examples scripts || exit 1

status=0
for backend in $BACKENDS; do
  echo "=== KERAS_BACKEND=$backend ==="
  start=$SECONDS
  KERAS_BACKEND=$backend "$PYTHON" -m pytest -n "$WORKERS" -q -p no:cacheprovider "$@"
  rc=$?
  echo "=== $backend: exit $rc in $((SECONDS - start)) s ==="
  # pytest exit code 5 means "no tests collected" (e.g. a -k filter): not a failure.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then status=1; fi
done
exit $status
