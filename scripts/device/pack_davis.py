"""Pack the DAVIS 2016 train split small enough to carry to a lent GPU machine (run 6 of
xmem-lite0, docs/model-card.md), and unpack it there.

The device tool carries at most 64 MiB with the repository; the 480p JPEGs are 171 MB. So:
frames become one H.264 video per sequence at 640×360 (CRF 24), masks a bit-packed npz
(15 MB in all). There, without PyAV, OpenCV decodes them back into the DAVIS layout.

    python scripts/device/pack_davis.py pack ../shared/data/davis2016 .carry/davis   # here
    python scripts/device/pack_davis.py unpack .carry/davis /tmp/davis               # there
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SIZE = (640, 360)


def pack(source: Path, packed: Path) -> None:
    import av
    from PIL import Image

    packed.mkdir(parents=True, exist_ok=True)
    names = (source / "ImageSets/train.txt").read_text().split()
    (packed / "train.txt").write_text("\n".join(names) + "\n")
    for name in names:
        files = sorted((source / "JPEGImages/480p" / name).glob("*.jpg"))
        with av.open(str(packed / f"{name}.mp4"), "w") as video:
            stream = video.add_stream("libx264", rate=24, options={"crf": "24", "preset": "slow"})
            stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
            for f in files:
                rgb = Image.open(f).convert("RGB").resize(SIZE, Image.Resampling.LANCZOS)
                frame = av.VideoFrame.from_ndarray(np.asarray(rgb), format="rgb24")
                video.mux(stream.encode(frame))
            video.mux(stream.encode(None))
        masks = [
            np.asarray(
                Image.open(source / "Annotations/480p" / name / f"{f.stem}.png")
                .convert("L")
                .resize(SIZE, Image.Resampling.NEAREST)
            )
            > 127
            for f in files
        ]
        bits = np.packbits(np.stack(masks), axis=-1)
        np.savez_compressed(packed / f"{name}.npz", masks=bits, n=len(files))


def unpack(packed: Path, out: Path) -> None:
    import cv2

    names = (packed / "train.txt").read_text().split()
    (out / "ImageSets").mkdir(parents=True, exist_ok=True)
    (out / "ImageSets/train.txt").write_text("\n".join(names) + "\n")
    for name in names:
        data = np.load(packed / f"{name}.npz")
        masks = np.unpackbits(data["masks"], axis=-1)[..., : SIZE[0]]
        frames_dir, masks_dir = out / "JPEGImages/480p" / name, out / "Annotations/480p" / name
        frames_dir.mkdir(parents=True)
        masks_dir.mkdir(parents=True)
        capture = cv2.VideoCapture(str(packed / f"{name}.mp4"))
        t = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            cv2.imwrite(str(frames_dir / f"{t:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(str(masks_dir / f"{t:05d}.png"), masks[t].astype(np.uint8) * 255)
            t += 1
        if t != int(data["n"]) or t != len(masks):
            raise SystemExit(f"{name}: decoded {t} frames, packed {int(data['n'])}")


if __name__ == "__main__":
    command, source, target = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    (pack if command == "pack" else unpack)(source, target)
