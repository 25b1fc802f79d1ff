#!/usr/bin/env bash
# The GPU path, proven in one short run (about 5 minutes on one GPU): README's install (only if the
# project is not importable yet), the default tests on the GPU, then one and twenty people through
# `unsir forget --report` and through the app's /forget, and three epochs of `unsir train` under torchrun
# on every GPU (photos/s per GPU); writes benchmarks/GPU.md.
#
#   bash benchmarks/gpu_check.sh
#
# LFW is read from $SCIKIT_LEARN_DATA (default: shared/data/scikit_learn_data beside or inside the
# repository, as on the development machines).
set -euo pipefail
cd "$(dirname "$0")/.."
for home in "${SCIKIT_LEARN_DATA:-}" shared/data/scikit_learn_data ../shared/data/scikit_learn_data; do
  if [[ -n "$home" && -d "$home" ]]; then export SCIKIT_LEARN_DATA="$(cd "$home" && pwd)"; break; fi
done
export GRADIO_ANALYTICS_ENABLED=False
TESTS_LIMIT=180  # seconds; what is left of the 5 minutes goes to the timings

python -c "import unsir, demo, gradio_client, pytest" 2>/dev/null || pip install -e ".[test]"  # README's install
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this check is for a GPU')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

# The default selection, without the browser test: it needs Debian's chromium, which README's install
# does not bring. The tests train and unlearn on default_device(), the GPU here.
tests_command="python -m pytest -q -m 'not slow and not browser'"
log="$(mktemp)"
started=$SECONDS
set +e
timeout "$TESTS_LIMIT" bash -c "$tests_command" >"$log" 2>&1
tests_exit=$?
set -e
tail -n 5 "$log"

python benchmarks/gpu_check.py --tests-command "$tests_command" --tests-exit "$tests_exit" \
  --tests-seconds "$((SECONDS - started))" --tests-log "$log"
