"""DAVIS J&F metrics: hand-worked cases and a randomized cross-check against brute force."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from xmem.eval.metrics import (
    Statistics,
    boundary_radius,
    f_measure,
    frame_scores,
    jaccard,
    statistics,
)
from xmem.eval.morphology import boundary_map, dilate, disk


def _mask(shape: tuple[int, int], *pixels: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    for y, x in pixels:
        m[y, x] = True
    return m


def _rect(shape: tuple[int, int], rows: slice, cols: slice) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[rows, cols] = True
    return m


def _grid(text: str) -> np.ndarray:
    """A boolean array from rows of 0/1 characters."""
    return np.array([[c == "1" for c in row] for row in text.split()], dtype=bool)


# --------------------------------------------------------------------------- disk / radius


def test_disk_exact() -> None:
    np.testing.assert_array_equal(disk(0), [[True]])
    # dy^2 + dx^2 <= 1: the 4-neighbourhood cross
    np.testing.assert_array_equal(disk(1), _grid("010 111 010"))
    # r = 2: |dy| = 2 -> dx = 0; |dy| = 1 -> |dx| <= 1 (1 + 4 > 4); dy = 0 -> |dx| <= 2
    np.testing.assert_array_equal(disk(2), _grid("00100 01110 11111 01110 00100"))
    assert disk(8).shape == (17, 17)
    assert disk(2).dtype == np.bool_
    with pytest.raises(ValueError):
        disk(-1)


def test_boundary_radius() -> None:
    # sqrt(480^2 + 854^2) = sqrt(959716) = 979.65...; * 0.008 = 7.837 -> ceil 8
    assert boundary_radius(480, 854) == 8
    # 1080p: sqrt(1080^2 + 1920^2) = 2202.9; * 0.008 = 17.62 -> 18
    assert boundary_radius(1080, 1920) == 18
    # tiny images still get a one-pixel tolerance: 0.008 * 14.1 = 0.11 -> 1
    assert boundary_radius(10, 10) == 1
    # bound_th >= 1 is a radius in pixels
    assert boundary_radius(480, 854, 3) == 3
    with pytest.raises(ValueError):
        boundary_radius(10, 10, 0)
    with pytest.raises(ValueError):
        boundary_radius(10, 10, 2.5)


# --------------------------------------------------------------------------- dilation


def test_dilate_single_pixel_is_disk() -> None:
    for r in range(5):
        m = _mask((2 * r + 1, 2 * r + 1), (r, r))
        np.testing.assert_array_equal(dilate(m, r), disk(r))


def test_dilate_clips_at_image_border() -> None:
    # a pixel in the corner: only the disk's bottom-right quadrant lies inside the image
    m = _mask((4, 5), (0, 0))
    expected = np.zeros((4, 5), dtype=bool)
    expected[:3, :3] = disk(2)[2:, 2:]
    np.testing.assert_array_equal(dilate(m, 2), expected)
    # radius far bigger than the image: every pixel within the radius, nothing wraps around
    m = _mask((3, 4), (0, 0))
    np.testing.assert_array_equal(dilate(m, 50), np.ones((3, 4), dtype=bool))
    np.testing.assert_array_equal(dilate(np.zeros((3, 4), bool), 3), np.zeros((3, 4), bool))
    np.testing.assert_array_equal(dilate(m, 0), m)


# --------------------------------------------------------------------------- boundary map


def test_boundary_one_pixel_interior() -> None:
    # A pixel differing from its right, bottom or bottom-right neighbour is on the boundary:
    # the object pixel itself (all its neighbours are background), its left neighbour (right
    # differs), the pixel above (bottom differs) and the one above-left (bottom-right differs).
    m = _mask((6, 7), (2, 3))
    expected = _mask((6, 7), (2, 3), (2, 2), (1, 3), (1, 2))
    np.testing.assert_array_equal(boundary_map(m), expected)


def test_boundary_one_pixel_on_edges() -> None:
    # right edge (2, 6): the last column only compares with the pixel below: 1 ^ 0 -> boundary;
    # (1, 6): 0 ^ 1 -> boundary; (2, 5) and (1, 5) as for an interior pixel.
    m = _mask((6, 7), (2, 6))
    np.testing.assert_array_equal(boundary_map(m), _mask((6, 7), (2, 6), (2, 5), (1, 6), (1, 5)))
    # bottom edge (5, 3): the last row only compares with the right neighbour: 1 ^ 0 -> boundary
    m = _mask((6, 7), (5, 3))
    np.testing.assert_array_equal(boundary_map(m), _mask((6, 7), (5, 3), (5, 2), (4, 3), (4, 2)))
    # bottom-right corner: the corner pixel is never a boundary pixel, its three up/left
    # neighbours are
    m = _mask((6, 7), (5, 6))
    np.testing.assert_array_equal(boundary_map(m), _mask((6, 7), (5, 5), (4, 6), (4, 5)))
    # top-left corner: nothing lies above or left of it, so only the pixel itself
    m = _mask((6, 7), (0, 0))
    np.testing.assert_array_equal(boundary_map(m), _mask((6, 7), (0, 0)))


def test_boundary_objects_touching_edges() -> None:
    # A rectangle touching the right edge (rows 1-2, cols 4-5 of a 5 x 6 image):
    #   (0, 3) bottom-right is 1; (0, 4) bottom is 1; (0, 5) last column, below is 1;
    #   (1, 3), (2, 3) right is 1; (1, 4) all neighbours 1 -> no; (2, 4) bottom is 0;
    #   (1, 5) last column, 1 ^ 1 -> no; (2, 5) last column, 1 ^ 0 -> yes.
    m = _grid("000000 000011 000011 000000 000000")
    expected = _grid("000111 000100 000111 000000 000000")
    np.testing.assert_array_equal(boundary_map(m), expected)
    # An object filling the whole right half: the last column only sees vertical changes and
    # the last row only horizontal ones, so the image edge adds no boundary; the boundary is
    # the background column left of the object (its right neighbour differs), rows 0-3.
    m = _rect((4, 6), slice(None), slice(3, None))
    np.testing.assert_array_equal(boundary_map(m), _rect((4, 6), slice(None), slice(2, 3)))
    # Left half: the object's own last column (its right neighbour differs); column 0 is not a
    # boundary (nothing is compared across the first row/column).
    m = _rect((4, 6), slice(None), slice(0, 3))
    np.testing.assert_array_equal(boundary_map(m), _rect((4, 6), slice(None), slice(2, 3)))
    # Top two rows: row 1 (the pixel below differs), including the last column (1 ^ 0).
    m = _rect((5, 6), slice(0, 2), slice(None))
    np.testing.assert_array_equal(boundary_map(m), _rect((5, 6), slice(1, 2), slice(None)))
    # Bottom two rows: row 2 (background whose bottom neighbour differs).
    m = _rect((5, 6), slice(3, None), slice(None))
    np.testing.assert_array_equal(boundary_map(m), _rect((5, 6), slice(2, 3), slice(None)))
    # The whole image: no pixel differs from a compared neighbour -> no boundary at all.
    assert not boundary_map(np.ones((5, 6), dtype=bool)).any()


# --------------------------------------------------------------------------- J and F


def test_empty_prediction() -> None:
    gt = _rect((20, 20), slice(5, 10), slice(5, 12))
    pred = np.zeros_like(gt)
    assert jaccard(gt, pred) == 0.0  # 0 / 35
    assert f_measure(gt, pred) == 0.0  # no predicted boundary: P = 1, R = 0 -> F = 0


def test_empty_ground_truth() -> None:
    pred = _rect((20, 20), slice(5, 10), slice(5, 12))
    gt = np.zeros_like(pred)
    assert jaccard(gt, pred) == 0.0
    assert f_measure(gt, pred) == 0.0  # no ground-truth boundary: P = 0, R = 1 -> F = 0


def test_both_empty() -> None:
    empty = np.zeros((20, 20), dtype=bool)
    assert jaccard(empty, empty) == 1.0  # empty union counts as a perfect match
    assert f_measure(empty, empty) == 1.0  # no boundary on either side: P = R = 1


def test_identical_masks() -> None:
    m = _rect((30, 40), slice(3, 20), slice(10, 40))  # touches the right edge too
    assert jaccard(m, m) == 1.0
    assert f_measure(m, m) == 1.0


def test_whole_image_masks_have_no_boundary() -> None:
    full = np.ones((8, 9), dtype=bool)
    assert f_measure(full, full) == 1.0  # neither has a boundary pixel
    holed = full.copy()
    holed[4, 4] = False
    # prediction has a boundary, ground truth has none: P = 0, R = 1 -> F = 0
    assert f_measure(full, holed) == 0.0
    assert jaccard(full, holed) == 71 / 72


def test_one_pixel_objects() -> None:
    shape = (20, 20)
    gt = _mask(shape, (10, 10))  # boundary {(10,10), (10,9), (9,10), (9,9)}
    assert jaccard(gt, gt) == 1.0
    # shifted by two columns: no overlap, union of two pixels
    right2 = _mask(shape, (10, 12))  # boundary {(10,12), (10,11), (9,12), (9,11)}
    assert jaccard(gt, right2) == 0.0
    # radius 2: every boundary pixel has a counterpart at distance <= 2 -> F = 1
    assert f_measure(gt, right2, bound_th=2) == 1.0
    # radius 1: (10,12) and (9,12) are 2 away from the ground truth -> P = 2/4; likewise
    # (10,9) and (9,9) -> R = 2/4; F = 0.5
    assert f_measure(gt, right2, bound_th=1) == 0.5
    # the default tolerance of a 20 x 20 image is ceil(0.008 * 28.3) = 1 pixel
    assert f_measure(gt, right2) == 0.5
    # diagonal shift with radius 1 (the disk has no corners): pred boundary
    # {(11,11), (11,10), (10,11), (10,10)}; (11,11) is sqrt(2) from (10,10) -> P = 3/4, and
    # (9,9) is sqrt(2) from (10,10) -> R = 3/4; F = 0.75 (a square kernel would give 1)
    diag = _mask(shape, (11, 11))
    assert f_measure(gt, diag, bound_th=1) == 0.75
    # far away: nothing matches -> P = R = 0 -> F = 0
    far = _mask(shape, (3, 17))
    assert f_measure(gt, far, bound_th=2) == 0.0


def test_extra_predicted_blob_halves_precision() -> None:
    shape = (30, 30)
    gt = _rect(shape, slice(5, 9), slice(5, 9))  # 4 x 4 square
    pred = gt | _rect(shape, slice(20, 24), slice(20, 24))  # plus a far 4 x 4 square
    # gt boundary = outline of rows 4-8 x cols 4-8: 5*5 - 3*3 = 16 pixels, all on the predicted
    # boundary (R = 1); pred boundary = that outline plus the far square's 16 -> P = 16/32.
    # F = 2 * 0.5 * 1 / 1.5 = 2/3
    assert f_measure(gt, pred, bound_th=2) == pytest.approx(2 / 3, abs=1e-15)
    # swapping the roles swaps P and R; F is symmetric
    assert f_measure(pred, gt, bound_th=2) == pytest.approx(2 / 3, abs=1e-15)
    assert jaccard(gt, pred) == 0.5  # 16 / 32


def test_void_pixels_are_excluded() -> None:
    shape = (12, 12)
    gt = _rect(shape, slice(2, 6), slice(2, 6))  # 16 pixels
    pred = _rect(shape, slice(2, 6), slice(2, 10))  # 32 pixels, contains gt
    assert jaccard(gt, pred) == 0.5  # 16 / 32
    assert f_measure(gt, pred) < 1.0
    # void over columns 6.. removes exactly the extra prediction: 16 / 16, and the void-masked
    # prediction equals the ground truth, so the boundaries coincide
    void = _rect(shape, slice(None), slice(6, None))
    assert jaccard(gt, pred, void) == 1.0
    assert f_measure(gt, pred, void) == 1.0
    # shifted prediction: inter = rows 2-5 x cols 4-5 = 8, union = 16 + 16 - 8 = 24 -> 1/3;
    # void over columns 6-7 drops the 8 prediction-only pixels there: 8 / 16
    shifted = _rect(shape, slice(2, 6), slice(4, 8))
    assert jaccard(gt, shifted) == pytest.approx(1 / 3, abs=1e-15)
    assert jaccard(gt, shifted, _rect(shape, slice(None), slice(6, 8))) == 0.5
    # everything void: nothing is left to compare -> both scores 1
    everything = np.ones(shape, dtype=bool)
    assert jaccard(gt, shifted, everything) == 1.0
    assert f_measure(gt, shifted, everything) == 1.0


def test_shape_mismatch() -> None:
    a = np.zeros((4, 5), dtype=np.uint8)
    b = np.zeros((5, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(5, 4\)"):
        frame_scores(a, b, [1])
    with pytest.raises(ValueError, match=r"\(5, 4\)"):
        frame_scores(a, a, [1], void=b.astype(bool))
    with pytest.raises(ValueError):
        jaccard(a, b)
    with pytest.raises(ValueError):
        f_measure(a, b)
    with pytest.raises(ValueError):
        frame_scores(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), [1])


# --------------------------------------------------------------------------- frame_scores


def test_frame_scores_multi_object() -> None:
    gt = np.zeros((10, 12), dtype=np.uint8)
    pred = np.zeros_like(gt)
    gt[1:4, 1:4] = 1
    pred[1:4, 1:4] = 1  # object 1: exact
    gt[6:8, 1:5] = 2  # rows 6-7, cols 1-4
    pred[6:8, 3:7] = 2  # rows 6-7, cols 3-6 (shifted right by two)
    gt[1:3, 8:11] = 5
    pred[1:3, 8:11] = 3  # object 5 predicted with a wrong id: absent from the prediction
    # radius for 10 x 12: ceil(0.008 * 15.6) = 1
    j, f = frame_scores(gt, pred, [1, 2, 5, 7])
    assert j.dtype == np.float64 and f.dtype == np.float64
    # object 2: inter = rows 6-7 x cols 3-4 = 4, union = 8 + 8 - 4 = 12 -> J = 1/3.
    # Boundaries are rectangle outlines shifted half a pixel up-left: gt = outline of rows 5-7 x
    # cols 0-4, pred = outline of rows 5-7 x cols 2-6 (12 pixels each). With radius 1 the pred
    # pixels (5,6), (6,6), (7,6) have no gt pixel within 1 -> P = 9/12; gt pixels (5,0), (6,0),
    # (7,0) likewise -> R = 9/12; F = 0.75.
    # object 5 missing -> J = 0, F = 0 (P = 1, R = 0); object 7 in neither -> 1, 1.
    np.testing.assert_array_equal(j, [1.0, 1 / 3, 0.0, 1.0])
    np.testing.assert_array_equal(f, [1.0, 0.75, 0.0, 1.0])
    # consistent with the single-mask functions
    assert f[1] == f_measure(gt == 2, pred == 2)
    assert j[1] == jaccard(gt == 2, pred == 2)
    # void as in DAVIS (label 255 in the annotation)
    gt_void = gt.copy()
    gt_void[6:8, 5:7] = 255  # hides the prediction-only part of object 2
    j, f = frame_scores(gt_void, pred, [2], void=gt_void == 255)
    # inter 4, union = gt 8 + pred 4 (non-void) - 4 = 8 -> 0.5
    assert j[0] == 0.5
    assert f[0] == f_measure(gt == 2, pred == 2, void=gt_void == 255)
    empty_j, empty_f = frame_scores(gt, pred, [])
    assert empty_j.shape == (0,) and empty_f.shape == (0,)


# --------------------------------------------------------------------------- statistics


def test_statistics_hand_values() -> None:
    # T = 5: linspace(1, 5, 5) = 1..5 -> ids 0..4; bins v[0:2], v[1:3], v[2:4], v[3:5]
    s = statistics([0.9, 0.8, 0.6, 0.4, 0.2])
    assert isinstance(s, Statistics)
    assert s.mean == pytest.approx(0.58)  # 2.9 / 5
    assert s.recall == pytest.approx(0.6)  # 0.9, 0.8, 0.6 are > 0.5
    assert s.decay == pytest.approx(0.55)  # (0.9 + 0.8)/2 - (0.4 + 0.2)/2
    assert statistics(np.ones(5)) == Statistics(1.0, 1.0, 0.0)
    # T = 9: linspace(1, 9, 5) = 1, 3, 5, 7, 9 -> ids 0, 2, 4, 6, 8: first bin v[0:3], last v[6:9]
    s = statistics(np.arange(9) / 8)
    assert s.decay == pytest.approx(1 / 8 - 7 / 8)
    assert s.mean == pytest.approx(0.5)
    assert s.recall == pytest.approx(4 / 9)  # 5/8, 6/8, 7/8, 8/8
    # T = 1: every bin is v[0:1] -> decay 0
    assert statistics([0.7]) == Statistics(0.7, 1.0, 0.0)


def test_statistics_nan_handling() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # mean over the non-NaN values; a NaN frame counts as "not above 0.5" in the recall
        # (5 frames, 1 above); first bin v[0:2] = [1, nan] -> 1, last bin v[3:5] = [0, nan] -> 0
        s = statistics([1.0, math.nan, 0.4, 0.0, math.nan])
        assert s.mean == pytest.approx(1.4 / 3)
        assert s.recall == pytest.approx(0.2)
        assert s.decay == pytest.approx(1.0)
        # all NaN: mean and decay undefined, recall 0 (no frame above 0.5); no warnings
        s = statistics([math.nan, math.nan])
        assert math.isnan(s.mean) and math.isnan(s.decay) and s.recall == 0.0
        # empty: everything NaN, no warnings
        s = statistics([])
        assert all(math.isnan(x) for x in s)
    with pytest.raises(ValueError):
        statistics(np.zeros((2, 3)))


def test_statistics_long_sequence_no_uint8_wrap() -> None:
    # T = 300: linspace(1, 300, 5) = 1, 75.75, 150.5, 225.25, 300 -> ids 0, 75, 150, 224, 299.
    # The toolkit's uint8 cast would turn 299 into 43 (an empty last bin -> NaN decay).
    v = np.arange(300) / 299
    s = statistics(v)
    # first bin v[0:76]: mean index 37.5; last bin v[224:300]: mean index 261.5
    assert s.decay == pytest.approx((37.5 - 261.5) / 299)
    assert s.mean == pytest.approx(0.5)
    assert s.recall == pytest.approx(0.5)  # i / 299 > 0.5 for i = 150..299


# --------------------------------------------------------------------------- randomized


def _ref_boundary(seg: np.ndarray) -> np.ndarray:
    """Literal transcription of the boundary definition with shifted e / s / se copies."""
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return np.asarray(b)


def _near(points: np.ndarray, sources: np.ndarray, radius: int) -> np.ndarray:
    """For each point (N x 2), whether some source point (M x 2) has dy^2 + dx^2 <= r^2."""
    if len(sources) == 0:
        return np.zeros(len(points), dtype=bool)
    d2 = ((points[:, None, :] - sources[None, :, :]) ** 2).sum(axis=-1)
    return np.asarray((d2 <= radius * radius).any(axis=1))


def _ref_dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    h, w = mask.shape
    grid = np.argwhere(np.ones((h, w), dtype=bool))
    return _near(grid, np.argwhere(mask), radius).reshape(h, w)


def _ref_f(gt: np.ndarray, pred: np.ndarray, void: np.ndarray, radius: int) -> float:
    gb = np.argwhere(_ref_boundary(gt & ~void))
    pb = np.argwhere(_ref_boundary(pred & ~void))
    if len(pb) == 0 and len(gb) > 0:
        p, r = 1.0, 0.0
    elif len(pb) > 0 and len(gb) == 0:
        p, r = 0.0, 1.0
    elif len(pb) == 0 and len(gb) == 0:
        p, r = 1.0, 1.0
    else:
        p = _near(pb, gb, radius).sum() / len(pb)
        r = _near(gb, pb, radius).sum() / len(gb)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _blobs(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A union of random discs/ellipses, centres possibly outside the image (touching edges)."""
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w), dtype=bool)
    for _ in range(int(rng.integers(0, 4))):
        cy = rng.uniform(-0.2, 1.2) * h
        cx = rng.uniform(-0.2, 1.2) * w
        ay = rng.uniform(0.5, 0.5 * h + 1)
        ax = rng.uniform(0.5, 0.5 * w + 1)
        m |= ((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2 <= 1
    if rng.random() < 0.3:  # ragged edges / isolated pixels
        m ^= rng.random((h, w)) < 0.05
    return m


def test_random_cross_check_against_brute_force() -> None:
    rng = np.random.default_rng(1234)
    for _ in range(150):
        h = int(rng.integers(1, 36))
        w = int(rng.integers(1, 36))
        gt = _blobs(rng, h, w)
        pred = gt.copy() if rng.random() < 0.2 else _blobs(rng, h, w)
        if rng.random() < 0.5:
            pred = np.roll(gt, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), (0, 1))
        void = rng.random((h, w)) < 0.1 if rng.random() < 0.3 else np.zeros((h, w), bool)
        radius = int(rng.integers(0, 7))

        np.testing.assert_array_equal(boundary_map(gt), _ref_boundary(gt))
        np.testing.assert_array_equal(dilate(gt, radius), _ref_dilate(gt, radius))
        gb = _ref_boundary(gt)
        np.testing.assert_array_equal(dilate(gb, radius), _ref_dilate(gb, radius))

        pix = max(radius, 1)
        assert f_measure(gt, pred, void, bound_th=pix) == pytest.approx(
            _ref_f(gt, pred, void, pix), abs=1e-12
        )
        default_r = boundary_radius(h, w)
        assert f_measure(gt, pred, void) == pytest.approx(
            _ref_f(gt, pred, void, default_r), abs=1e-12
        )
        keep = ~void
        union = int(((gt | pred) & keep).sum())
        ref_j = 1.0 if union == 0 else int((gt & pred & keep).sum()) / union
        assert jaccard(gt, pred, void) == pytest.approx(ref_j, abs=1e-15)


def test_random_frame_scores_match_per_object_calls() -> None:
    rng = np.random.default_rng(99)
    h, w = 48, 64
    gt = np.zeros((h, w), dtype=np.uint8)
    pred = np.zeros((h, w), dtype=np.uint8)
    for k in (1, 2, 5):
        gt[_blobs(rng, h, w)] = k
        pred[_blobs(rng, h, w)] = k
    void = rng.random((h, w)) < 0.05
    j, f = frame_scores(gt, pred, [1, 2, 5], void)
    r = boundary_radius(h, w)
    for i, k in enumerate((1, 2, 5)):
        g, p = gt == k, pred == k
        assert f[i] == pytest.approx(_ref_f(g, p, void, r), abs=1e-12)
        keep = ~void
        union = int(((g | p) & keep).sum())
        assert j[i] == pytest.approx(
            1.0 if union == 0 else int((g & p & keep).sum()) / union, abs=1e-15
        )
