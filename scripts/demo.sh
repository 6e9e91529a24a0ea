#!/usr/bin/env bash
# Track the two objects of the bundled sample clip and say where the result is.
set -u
PY=${PY:-.venv/bin/python}
WEIGHTS=${WEIGHTS:-}
OUT=${DEMO_OUT:-demo-output}
SAMPLE=examples/sample
LOG=/tmp/xmem-demo-weights.log

if [ -z "$WEIGHTS" ]; then
    # the default: XMem when cached, else the xmem-lite0 model bundled with the package
    WEIGHTS=$("$PY" -c '
import sys
from xmem.errors import XMemError
from xmem.model.weights import resolve_weights
try:
    print(resolve_weights(None))
except XMemError as e:
    sys.exit(f"error: {e}")
' 2>"$LOG")
    case "$WEIGHTS" in
        */xmem/weights/*) echo "Using the xmem-lite0 model bundled with the package (offline default).";;
    esac
fi
if [ -z "$WEIGHTS" ] || { ! [ -f "$WEIGHTS" ] \
   && ! "$PY" -m xmem weights download "$WEIGHTS" >/dev/null 2>"$LOG"; }; then
    echo "The demo needs XMem weights, and none could be found or downloaded:"
    sed 's/^/  /' "$LOG"
    echo "Get them on a machine with internet access (\`xmem weights download XMem\`, or the URL"
    echo "above), copy the file to the path above, or run: make demo WEIGHTS=/path/to/XMem.pth"
    exit 0
fi

"$PY" -m xmem track "$SAMPLE/video.mp4" --masks "$SAMPLE/masks/00000.png" \
    --out "$OUT/masks" --overlay "$OUT/overlay.mp4" --weights "$WEIGHTS" || exit $?
echo
echo "Result: one mask per frame in $OUT/masks/ and an overlay video to watch: $OUT/overlay.mp4"
