#!/usr/bin/env bash
# Track the two objects of the bundled sample clip and say where the result is.
set -u
PY=${PY:-.venv/bin/python}
WEIGHTS=${WEIGHTS:-XMem}
OUT=${DEMO_OUT:-demo-output}
SAMPLE=examples/sample

if ! "$PY" -m xmem weights download "$WEIGHTS" >/dev/null 2>/tmp/xmem-demo-weights.log \
   && ! [ -f "$WEIGHTS" ]; then
    echo "The demo needs XMem weights, and none could be found or downloaded:"
    sed 's/^/  /' /tmp/xmem-demo-weights.log
    echo "Get them on a machine with internet access (\`xmem weights download XMem\`, or the URL"
    echo "above), copy the file to the path above, or run: make demo WEIGHTS=/path/to/XMem.pth"
    exit 0
fi

"$PY" -m xmem track "$SAMPLE/video.mp4" --masks "$SAMPLE/masks/00000.png" \
    --out "$OUT/masks" --overlay "$OUT/overlay.mp4" --weights "$WEIGHTS" || exit $?
echo
echo "Result: one mask per frame in $OUT/masks/ and an overlay video to watch: $OUT/overlay.mp4"
