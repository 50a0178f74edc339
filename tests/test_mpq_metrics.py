"""MPQ task metrics on constructed cases with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from lvc.errors import BadInputError
from lvc.eval.mpq_metrics import (
    BoxMatch,
    box_iou,
    char_error_rate,
    edit_distance,
    mask_iou,
    match_boxes,
    normalize_text,
    word_error_rate,
)

# ----------------------------------------------------------------------------- boxes


def test_box_iou_identical_partial_disjoint():
    a = [[0, 0, 2, 2]]
    b = [[0, 0, 2, 2], [1, 0, 3, 2], [0, 0, 2, 1], [2, 0, 4, 2], [5, 5, 6, 6]]
    # identical 1; shifted by half: inter 2 / union 6; half height: 2 / 4;
    # sharing an edge: 0; far away: 0
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 1 / 3, 0.5, 0.0, 0.0]])


def test_box_iou_shape_and_symmetry():
    a = np.array([[0, 0, 4, 4], [2, 2, 6, 6]], dtype=float)
    b = np.array([[0, 0, 4, 4], [1, 1, 3, 3], [10, 10, 11, 11]], dtype=float)
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    # [2,2,6,6] vs [0,0,4,4]: inter 4, union 28; vs [1,1,3,3]: inter 1, union 19
    np.testing.assert_allclose(iou, [[1.0, 0.25, 0.0], [4 / 28, 1 / 19, 0.0]])
    np.testing.assert_allclose(box_iou(b, a), iou.T)


def test_box_iou_empty_and_degenerate():
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1], [1, 1, 2, 2]]).shape == (0, 2)
    assert box_iou([[0, 0, 1, 1]], []).shape == (1, 0)
    assert box_iou([], []).shape == (0, 0)
    # zero-area and inverted boxes: IoU 0, even with themselves, never NaN
    degenerate = [[1, 1, 1, 3], [2, 2, 0, 0]]
    iou = box_iou(degenerate, degenerate + [[0, 0, 3, 3]])
    assert not np.isnan(iou).any()
    np.testing.assert_array_equal(iou, np.zeros((2, 3)))


def test_box_iou_bad_shape():
    with pytest.raises(BadInputError, match=r"\(N, 4\)"):
        box_iou([[0, 0, 1]], [[0, 0, 1, 1]])


def test_match_boxes_extra_and_missed():
    ref = [[0, 0, 10, 10], [20, 20, 30, 30]]
    # first matches ref 0 with IoU 80/100; second overlaps nothing
    pred = [[0, 0, 10, 8], [50, 50, 60, 60]]
    m = match_boxes(ref, pred)
    assert (m.tp, m.fp, m.fn) == (1, 1, 1)
    assert m.precision == pytest.approx(0.5)
    assert m.recall == pytest.approx(0.5)
    assert m.f1 == pytest.approx(0.5)
    assert m.mean_iou == pytest.approx(0.8)
    assert m.pairs == ((0, 0),)


def test_match_boxes_threshold_is_inclusive():
    ref = [[0, 0, 2, 2]]
    pred = [[0, 0, 2, 1]]  # IoU exactly 0.5
    assert match_boxes(ref, pred, threshold=0.5).tp == 1
    m = match_boxes(ref, pred, threshold=0.6)
    assert (m.tp, m.fp, m.fn, m.f1, m.mean_iou) == (0, 1, 1, 0.0, 0.0)
    with pytest.raises(BadInputError):
        match_boxes(ref, pred, threshold=0.0)


def test_match_boxes_tie_goes_to_lower_index():
    # the prediction overlaps both references with IoU 9/11
    ref = [[0, 0, 10, 1], [2, 0, 12, 1]]
    pred = [[1, 0, 11, 1]]
    iou = box_iou(ref, pred)
    assert iou[0, 0] == iou[1, 0] == pytest.approx(9 / 11)
    m = match_boxes(ref, pred)
    assert m.pairs == ((0, 0),)
    assert (m.tp, m.fp, m.fn) == (1, 0, 1)
    # and symmetric: two identical predictions for one reference -> lower pred index
    m = match_boxes([[1, 0, 11, 1]], [[0, 0, 10, 1], [2, 0, 12, 1]])
    assert m.pairs == ((0, 0),)


def test_match_boxes_is_greedy_not_optimal():
    ref = [[0, 0, 10, 1], [3, 0, 9, 1]]
    pred = [[0, 0, 9, 1], [0, 0, 6, 1]]
    # IoU: r0-p0 0.9, r1-p0 6/9, r0-p1 0.6, r1-p1 1/3. Optimal assignment would make
    # two matches (r0-p1, r1-p0); greedy takes r0-p0 first and is left with r1-p1 < 0.5.
    np.testing.assert_allclose(box_iou(ref, pred), [[0.9, 0.6], [6 / 9, 1 / 3]])
    m = match_boxes(ref, pred)
    assert m.pairs == ((0, 0),)
    assert (m.tp, m.fp, m.fn) == (1, 1, 1)
    assert m.mean_iou == pytest.approx(0.9)


def test_match_boxes_perfect():
    boxes = [[0, 0, 1, 1], [5, 5, 7, 7], [2, 2, 3, 4]]
    m = match_boxes(boxes, boxes[::-1])
    assert m == BoxMatch(3, 0, 0, 1.0, 1.0, 1.0, 1.0, ((0, 2), (1, 1), (2, 0)))


def test_match_boxes_empty_conventions():
    assert match_boxes([], []) == BoxMatch(0, 0, 0, 1.0, 1.0, 1.0, 1.0, ())
    # detections where the reference has none: all false positives
    assert match_boxes([], [[0, 0, 1, 1], [2, 2, 3, 3]]) == BoxMatch(0, 2, 0, 0.0, 1.0, 0.0, 0.0, ())
    # everything missed
    assert match_boxes([[0, 0, 1, 1]], np.zeros((0, 4))) == BoxMatch(0, 0, 1, 1.0, 0.0, 0.0, 0.0, ())


# ----------------------------------------------------------------------------- masks


def test_mask_iou_exact():
    a = np.array([[1, 1, 0], [0, 0, 0]], dtype=bool)
    b = np.array([[0, 1, 1], [0, 0, 0]], dtype=bool)
    assert mask_iou(a, b) == pytest.approx(1 / 3)
    assert mask_iou(a, a) == 1.0
    assert mask_iou(a, ~a) == 0.0
    # 0/1 integers behave like booleans
    assert mask_iou(a.astype(np.uint8), b.astype(np.int64)) == pytest.approx(1 / 3)


def test_mask_iou_thresholds_probabilities():
    prob = np.array([[0.9, 0.4], [0.5, 0.1]])
    ref = np.array([[True, False], [False, False]])
    # >= 0.5 -> [[T, F], [T, F]]: inter 1, union 2
    assert mask_iou(prob, ref) == pytest.approx(0.5)
    # >= 0.3 -> [[T, T], [T, F]]: inter 1, union 3
    assert mask_iou(prob, ref, threshold=0.3) == pytest.approx(1 / 3)
    # >= 0.95 -> empty vs one pixel
    assert mask_iou(prob, ref, threshold=0.95) == 0.0


def test_mask_iou_empty_and_shape_mismatch():
    assert mask_iou(np.zeros((3, 3), bool), np.zeros((3, 3))) == 1.0
    assert mask_iou(np.zeros((0, 0)), np.zeros((0, 0))) == 1.0
    with pytest.raises(BadInputError, match=r"mask shapes differ: \(2, 3\) vs \(3, 2\)"):
        mask_iou(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError):  # BadInputError is a ValueError
        mask_iou(np.zeros(4), np.zeros(5))


# ----------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Hello, World!", "hello world"),
        ("  many   spaces\tand\nlines ", "many spaces and lines"),
        ("Don't STOP\u2014now!", "don't stop now"),
        ("don\u2019t", "don't"),  # curly apostrophe straightened, kept in the word
        ("'quoted' rock 'n' roll", "quoted rock n roll"),  # edge apostrophes dropped
        ("well-known e.g. 3.5", "well known e g 3 5"),
        ("\ufb01ne \uff21\uff22\uff23", "fine abc"),  # NFKC: ligature, full-width
        ("\u00bfQu\u00e9? \u00abs\u00ed\u00bb", "qu\u00e9 s\u00ed"),  # accents kept
        ("!!! ...", ""),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("abc", "") == 3
    assert edit_distance("", "") == 0
    assert edit_distance("flaw", "lawn") == 2
    assert edit_distance(["a", "b", "c"], ["a", "c", "d"]) == 2
    assert edit_distance(("x", "y"), ["x", "y"]) == 0


def test_wer_classic():
    # "sat" -> "sit" (substitution), second "the" dropped (deletion): 2 / 6
    assert word_error_rate("the cat sat on the mat", "the cat sit on mat") == pytest.approx(2 / 6)
    # insertions count too and can push WER above 1
    assert word_error_rate("a", "b c d") == pytest.approx(3.0)


def test_wer_normalizes_and_is_corpus_level():
    assert word_error_rate("Hello, World!", "hello world") == 0.0
    # corpus: (1 + 0) edits over (2 + 3) words = 0.2, not the mean of 0.5 and 0.0
    assert word_error_rate(["a b", "c d e"], ["a x", "c d e"]) == pytest.approx(1 / 5)
    assert word_error_rate(("a b",), ["a b"]) == 0.0


def test_cer():
    # one deleted "l" over the 11 characters of "hello world" (space counted)
    assert char_error_rate("Hello world", "helo world") == pytest.approx(1 / 11)
    # a lost word boundary is one edit over 5 characters
    assert char_error_rate("ab cd", "abcd") == pytest.approx(1 / 5)
    assert char_error_rate("Hello, World!", "hello world") == 0.0
    # corpus: (1 + 1) edits over (3 + 2) characters
    assert char_error_rate(["abc", "de"], ["abd", "d"]) == pytest.approx(2 / 5)


def test_error_rate_empty_conventions():
    for rate in (word_error_rate, char_error_rate):
        assert rate("", "") == 0.0
        assert rate("?!", " ") == 0.0  # only punctuation: no reference units
        assert rate("", "hello there") == 1.0
        assert rate([], []) == 0.0
        assert rate(["", ""], ["", "x"]) == 1.0
        assert rate("a b", "") == 1.0  # everything deleted


def test_error_rate_length_mismatch():
    for rate in (word_error_rate, char_error_rate):
        with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
            rate(["a", "b"], ["a"])
        with pytest.raises(ValueError):
            rate("a", ["a", "b"])
