#!/usr/bin/env bash
# Everything issue 6 still needs from a GPU, in one call of the workplace's device tool (the
# lent H200 machine has PyTorch with CUDA but not PyAV). Writes logs and benchmark JSON under
# $OUT (the device tool's folder; out/gpu when run elsewhere).
#
# Here, once per checkout (the wheel is ignored by git, 36 MB, and travels with `carry`):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 -d .whl av==18.1.0
# Then, with the device tool:
#   run(command="bash scripts/gpu_session.sh tests", carry=[".whl"], timeout_s=600)
#   run(command="bash scripts/gpu_session.sh bench", carry=[".whl"], timeout_s=600)
# Phases: tests (the CUDA tests of tests/test_speed.py and tests/test_golden.py), bench (the
# side-by-side rows of docs/benchmark.md), profile (one profiled run of the fastest path).
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
PHASES=${*:-tests bench}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
    >"$OUT/machine.txt" 2>&1
if ! python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))' \
    >>"$OUT/machine.txt" 2>&1; then
    echo "no CUDA device here: this script is for the lent GPU machine" >&2
    exit 2
fi

bench() {  # NAME ARGS...: one benchmark row, its JSON and the lines it printed
    local name=$1
    shift
    echo "== $name: xmem benchmark $*" | tee -a "$OUT/bench.log"
    python3 -m xmem benchmark "$@" --json "$OUT/$name.json" 2>&1 | tee -a "$OUT/bench.log"
}

status=0
for phase in $PHASES; do
    case $phase in
    tests)
        python3 -m pytest -q -rs -p no:cacheprovider tests/test_speed.py tests/test_golden.py \
            2>&1 | tee "$OUT/tests.log" || status=1
        ;;
    bench)
        common=(--model xmem --objects 1 --frames 300 --device cuda --no-stage-times)
        bench fp32 "${common[@]}" --compare || status=1
        bench bf16 "${common[@]}" --precision bf16 --channels-last all --compare || status=1
        bench bf16-graphs "${common[@]}" --precision bf16 --channels-last all \
            --compile reduce-overhead --warmup 20 --compare || status=1
        ;;
    profile)
        bench stages --model xmem --objects 1 --frames 100 --device cuda --precision bf16 \
            --channels-last all --compile reduce-overhead --warmup 20 || status=1
        ;;
    *)
        echo "unknown phase $phase (tests, bench, profile)" >&2
        exit 2
        ;;
    esac
done
exit $status
