"""Tests for xmem.io.frames / xmem.io.video: image folders and video files."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFile

from xmem.errors import XMemError
from xmem.io import ImageFolderSource, VideoSource, open_frames
from xmem.io.source import natural_sort_key
from xmem.io.video import CHUNK

W, H = 96, 64


def synthetic_frame(i: int, width: int = W, height: int = H) -> np.ndarray:
    """A frame that differs per index: index-dependent background and a moving square."""
    img = np.zeros((height, width, 3), dtype=np.uint8)
    img[..., 0] = (i * 7) % 256
    img[..., 1] = 100
    img[..., 2] = 255 - (i * 5) % 256
    x = (2 * i) % (width - 16)
    img[8:24, x : x + 16] = (255, 255, 255)
    return img


def make_video(
    path: Path,
    n: int = 36,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    fps: int = 25,
) -> Path:
    with av.open(str(path), mode="w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(synthetic_frame(i), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def keyframe_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(bool(f.key_frame) for f in container.decode(video=0))


def save_frames(folder: Path, names: list[str], ext: str = ".png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(synthetic_frame(i)).save(folder / f"{name}{ext}")


# -- image folders -----------------------------------------------------------------------


def test_natural_sort_key() -> None:
    names = ["frame_10", "frame_2", "frame_1", "Frame_3"]
    assert sorted(names, key=natural_sort_key) == ["frame_1", "frame_2", "Frame_3", "frame_10"]
    padded = ["00010", "00002", "00000", "00001"]
    assert sorted(padded, key=natural_sort_key) == sorted(padded)


def test_image_folder_natural_order_and_pixels(tmp_path: Path) -> None:
    names = ["frame_1", "frame_2", "frame_10"]
    save_frames(tmp_path, names)
    with open_frames(tmp_path) as src:
        assert isinstance(src, ImageFolderSource)
        assert src.names == names
        assert (len(src), src.height, src.width, src.fps) == (3, H, W, 24.0)
        frames = list(src.read([2, 0]))
    assert [i for i, _ in frames] == [2, 0]
    assert frames[0][1].dtype == np.uint8 and frames[0][1].shape == (H, W, 3)
    np.testing.assert_array_equal(frames[1][1], synthetic_frame(0))
    np.testing.assert_array_equal(frames[0][1], synthetic_frame(2))


def test_image_folder_modes_convert_to_rgb(tmp_path: Path) -> None:
    rgb = synthetic_frame(0)
    Image.fromarray(rgb).convert("L").save(tmp_path / "a.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "b.PNG")
    Image.fromarray(rgb).convert("P").save(tmp_path / "c.png")
    with open_frames(tmp_path) as src:
        for _, frame in src.read(range(3)):
            assert frame.shape == (H, W, 3) and frame.dtype == np.uint8


def test_hidden_files_and_subfolders_ignored(tmp_path: Path) -> None:
    save_frames(tmp_path, ["00000", "00001"], ext=".jpg")
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "sub").mkdir()
    assert open_frames(tmp_path).names == ["00000", "00001"]


def test_stray_file_error(tmp_path: Path) -> None:
    save_frames(tmp_path, ["00000"])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(XMemError, match="stray file 'notes.txt'"):
        open_frames(tmp_path)


def test_empty_folder_error(tmp_path: Path) -> None:
    with pytest.raises(XMemError, match="no images"):
        open_frames(tmp_path)


def test_duplicate_stem_error(tmp_path: Path) -> None:
    save_frames(tmp_path, ["a"], ext=".jpg")
    save_frames(tmp_path, ["a"], ext=".png")
    with pytest.raises(XMemError, match="same name"):
        open_frames(tmp_path)


def test_different_sizes_error(tmp_path: Path) -> None:
    save_frames(tmp_path, ["00000", "00001"])
    Image.fromarray(synthetic_frame(2, width=48, height=32)).save(tmp_path / "00002.png")
    with pytest.raises(XMemError, match=r"00002\.png.*48x32.*96x64"):
        open_frames(tmp_path)


def test_unreadable_header_error(tmp_path: Path) -> None:
    save_frames(tmp_path, ["00000"])
    (tmp_path / "00001.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(XMemError, match=r"00001\.jpg"):
        open_frames(tmp_path)


@pytest.mark.parametrize("pad_truncated", [False, True])
@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_truncated_image_error_at_read(
    tmp_path: Path, ext: str, pad_truncated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # some libraries (e.g. the Supervisely SDK) tell PIL to pad truncated files, process-wide
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", pad_truncated)
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    for name in ("00000", "00001"):
        Image.fromarray(noise).save(tmp_path / f"{name}{ext}")
    victim = tmp_path / f"00001{ext}"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # header intact, pixel data cut
    src = open_frames(tmp_path)  # headers are fine
    frames = src.read(range(2))
    next(frames)
    with pytest.raises(XMemError, match=f"00001{ext}"):
        next(frames)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is pad_truncated  # restored


def test_missing_path_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(XMemError, match="does not exist"):
        open_frames(tmp_path / "nope")
    odd = tmp_path / "clip.xyz"
    odd.write_bytes(b"x")
    with pytest.raises(XMemError, match=r"clip\.xyz.*\.mp4"):
        open_frames(odd)


def test_read_index_out_of_range(tmp_path: Path) -> None:
    save_frames(tmp_path, ["00000"])
    with pytest.raises(IndexError):
        open_frames(tmp_path).read([1])


# -- videos ------------------------------------------------------------------------------

VIDEO_CASES = {
    "x264-gop10-bframes": ("clip.mp4", "libx264", {"g": "10", "bf": "2", "crf": "18"}),
    "mpeg4-gop8": ("clip.mp4", "mpeg4", {"g": "8", "bf": "1", "qscale": "3"}),
    "mpeg4-mkv": ("clip.mkv", "mpeg4", {"g": "7"}),
}


@pytest.mark.parametrize("case", list(VIDEO_CASES))
def test_video_reverse_equals_forward(tmp_path: Path, case: str) -> None:
    name, codec, options = VIDEO_CASES[case]
    n = 36
    path = make_video(tmp_path / name, n=n, codec=codec, options=options)
    assert keyframe_count(path) > 1  # seeking really has to find earlier keyframes
    with open_frames(path) as src:
        assert isinstance(src, VideoSource)
        assert len(src) == n and src.names[:2] == ["00000", "00001"]
        assert (src.height, src.width) == (H, W)
        assert src.fps == pytest.approx(25.0)
        forward = list(src.read(range(n)))
        backward = list(src.read(list(reversed(range(n)))))
        mixed_order = [5, 3, 20, 21, 22, 0, 35, 34, 17, 17]
        mixed = list(src.read(mixed_order))
    assert [i for i, _ in forward] == list(range(n))
    assert [i for i, _ in backward] == list(reversed(range(n)))
    assert [i for i, _ in mixed] == mixed_order
    for i, frame in backward:
        assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
        np.testing.assert_array_equal(frame, forward[i][1])
    for i, frame in mixed:
        np.testing.assert_array_equal(frame, forward[i][1])
    # frames are distinguishable and decode close to what was encoded
    assert not np.array_equal(forward[0][1], forward[1][1])
    err = np.abs(forward[10][1].astype(int) - synthetic_frame(10).astype(int)).mean()
    assert err < 12


def test_video_partial_reads_resume(tmp_path: Path) -> None:
    path = make_video(tmp_path / "clip.mp4", n=30, options={"g": "10"})
    with open_frames(path) as src:
        whole = dict(src.read(range(30)))
        first = list(src.read(range(12)))
        rest = list(src.read(range(12, 30)))
        abandoned = src.read(range(30))
        next(abandoned)
        again = dict(src.read(range(30)))
    for i, frame in first + rest:
        np.testing.assert_array_equal(frame, whole[i])
    for i, frame in again.items():
        np.testing.assert_array_equal(frame, whole[i])


def test_video_twin_shares_the_index_and_reads_independently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_video(tmp_path / "clip.mp4", n=30, options={"g": "10"})
    with open_frames(path) as src:
        assert isinstance(src, VideoSource)
        scans: list[VideoSource] = []
        monkeypatch.setattr(VideoSource, "_prescan", lambda self: scans.append(self))
        twin = src.twin()
        assert scans == []  # no second scan of the whole video
        assert twin is not src and twin.names == src.names and twin.fps == src.fps
        assert (twin.width, twin.height) == (src.width, src.height)
        first = src.read([0, 1, 2, 20, 9])
        second = twin.read([20, 9, 0, 1, 2])
        a, b = {}, {}
        for (i, x), (j, y) in zip(first, second, strict=True):  # interleaved cursors
            a[i], b[j] = x, y
        for i in a:
            np.testing.assert_array_equal(a[i], b[i])
        twin.close()
        np.testing.assert_array_equal(dict(src.read([5]))[5], dict(twin.read([5]))[5])
        twin.close()


def test_video_reverse_read_is_chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_video(tmp_path / "clip.mp4", n=40, options={"g": "10"})
    spans: list[tuple[int, int]] = []
    real_forward = VideoSource._forward

    def spy(self: VideoSource, lo: int, hi: int):  # type: ignore[no-untyped-def]
        spans.append((lo, hi))
        return real_forward(self, lo, hi)

    monkeypatch.setattr(VideoSource, "_forward", spy)
    with open_frames(path) as src:
        order = [i for i, _ in src.read(list(reversed(range(40))))]
    assert order == list(reversed(range(40)))
    assert spans and all(hi - lo + 1 <= CHUNK for lo, hi in spans)


def test_video_fallbacks_without_seeking(tmp_path: Path) -> None:
    path = make_video(tmp_path / "clip.mp4", n=30, options={"g": "10"})
    with open_frames(path) as src:
        forward = dict(src.read(range(30)))
    with open_frames(path) as src:
        assert isinstance(src, VideoSource)
        src._seekable = False  # as for a video without usable timestamps
        for i, frame in src.read(list(reversed(range(30)))):
            np.testing.assert_array_equal(frame, forward[i])
    with open_frames(path) as src:
        assert isinstance(src, VideoSource)
        src._pts[20] = -12345  # a timestamp mismatch after seeking -> sequential decoding
        for i, frame in src.read(list(reversed(range(30)))):
            np.testing.assert_array_equal(frame, forward[i])
        assert not src._seekable


def test_truncated_mp4_moov_at_end(tmp_path: Path) -> None:
    path = make_video(tmp_path / "clip.mp4", n=40)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(XMemError, match=r"clip\.mp4"):
        with open_frames(path) as src:
            for _ in src.read(range(len(src))):
                pass


def test_truncated_mp4_faststart(tmp_path: Path) -> None:
    path = make_video(tmp_path / "clip.mp4", n=40, container_options={"movflags": "faststart"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(XMemError, match=r"clip\.mp4.*truncated"):
        with open_frames(path) as src:
            for _ in src.read(range(len(src))):
                pass


def test_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("definitely not a video\n" * 10)
    with pytest.raises(XMemError, match=r"fake\.mp4") as info:
        open_frames(fake)
    assert "\n" not in str(info.value) and "Errno" not in str(info.value)
    (tmp_path / "empty.mov").write_bytes(b"")
    with pytest.raises(XMemError, match=r"empty\.mov"):
        open_frames(tmp_path / "empty.mov")


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "sound.mkv"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        samples = np.zeros((1, 800), dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(XMemError, match=r"sound\.mkv.*no video stream"):
        open_frames(path)
