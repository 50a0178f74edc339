"""Task metrics for machine-perception quality (MPQ): how much a codec hurts a model.

A perception model (detector, segmenter, OCR, ASR) runs on the original and on the
decoded signal; the original's output (or a label, when there is one) is the reference
and the decoded one's output is scored against it. Pure numpy/python, no model imports.

Empty-case conventions (so a blank frame or a silent clip never gives NaN or inf):
agreeing on "nothing" is perfect (1.0 for IoU/F1, 0.0 for error rates); anything
against nothing is fully wrong (F1 0.0, error rate 1.0).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import BadInputError


def _boxes(x) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise BadInputError(f"boxes must be an (N, 4) array of [x0, y0, x1, y1], got shape {arr.shape}")
    return arr


def box_iou(a, b) -> np.ndarray:
    """(N, M) IoU between boxes ``[x0, y0, x1, y1]``; degenerate boxes (zero or negative
    width/height) have area 0 and IoU 0 with everything, so the result is never NaN."""
    a, b = _boxes(a), _boxes(b)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


@dataclass(frozen=True)
class BoxMatch:
    """Detection agreement: counts, P/R/F1, mean IoU of matched pairs, and the matched
    ``pairs`` as (reference index, predicted index). Empty denominators give 1.0 (nothing
    to get wrong), so both-empty scores 1.0 everywhere and exactly-one-empty has F1 0.0;
    ``mean_iou`` is 1.0 when both are empty and 0.0 when there are boxes but no match."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    mean_iou: float
    pairs: tuple[tuple[int, int], ...] = ()


def match_boxes(reference, predicted, threshold: float = 0.5) -> BoxMatch:
    """Greedy one-to-one matching by descending IoU (ties: lower reference index, then
    lower predicted index), as detection benchmarks do; a pair needs IoU >= threshold."""
    if not 0.0 < threshold <= 1.0:
        raise BadInputError(f"IoU threshold must be in (0, 1], got {threshold}")
    iou = box_iou(reference, predicted)
    n_ref, n_pred = iou.shape
    ri, pi = np.nonzero(iou >= threshold)
    order = np.lexsort((pi, ri, -iou[ri, pi]))  # last key is primary
    used_r, used_p, pairs, ious = set(), set(), [], []
    for k in order:
        r, p = int(ri[k]), int(pi[k])
        if r not in used_r and p not in used_p:
            used_r.add(r)
            used_p.add(p)
            pairs.append((r, p))
            ious.append(float(iou[r, p]))
    tp = len(pairs)
    fp, fn = n_pred - tp, n_ref - tp
    precision = tp / n_pred if n_pred else 1.0
    recall = tp / n_ref if n_ref else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0
    if ious:
        mean_iou = float(np.mean(ious))
    else:
        mean_iou = 1.0 if n_ref == n_pred == 0 else 0.0
    return BoxMatch(tp, fp, fn, precision, recall, f1, mean_iou, tuple(pairs))


def mask_iou(a, b, threshold: float = 0.5) -> float:
    """IoU of two same-shape masks; boolean masks are used as they are, anything else
    (0/1, probabilities) is foreground where ``>= threshold``. Both empty -> 1.0."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise BadInputError(f"mask shapes differ: {a.shape} vs {b.shape}")
    a = a if a.dtype == bool else a >= threshold
    b = b if b.dtype == bool else b >= threshold
    union = int(np.count_nonzero(a | b))
    return float(np.count_nonzero(a & b)) / union if union else 1.0


def normalize_text(s: str) -> str:
    """Lowercase, NFKC, punctuation to spaces (apostrophes between letters/digits kept,
    curly ones straightened), whitespace collapsed: transcripts then differ in words,
    not in formatting."""
    s = unicodedata.normalize("NFKC", s).lower().replace("\u2019", "'")
    out = []
    for i, c in enumerate(s):
        if unicodedata.category(c).startswith("P"):
            inner = c == "'" and 0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum()
            c = c if inner else " "
        out.append(c)
    return " ".join("".join(out).split())


def edit_distance(ref_seq: Sequence, hyp_seq: Sequence) -> int:
    """Levenshtein distance (unit-cost substitution/insertion/deletion) between two
    sequences of words or characters, in two rows of memory."""
    prev = list(range(len(hyp_seq) + 1))
    for i, r in enumerate(ref_seq, 1):
        cur = [i] + [0] * len(hyp_seq)
        for j, h in enumerate(hyp_seq, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def edit_counts(ref: str, hyp: str, unit: str = "word") -> tuple:
    """(edits, reference units, hypothesis units) of one normalised text pair, in words
    or characters: additive, so corpus rates pool them (``pooled_error_rate``)."""
    split = str.split if unit == "word" else list
    r, h = split(normalize_text(ref)), split(normalize_text(hyp))
    return edit_distance(r, h), len(r), len(h)


def pooled_error_rate(edits: float, n_ref: float, n_hyp: float) -> float:
    """edits / reference units; nothing to say: silence is right, any output is fully wrong."""
    if n_ref == 0:
        return 0.0 if n_hyp == 0 else 1.0
    return edits / n_ref


def _error_rate(refs, hyps, unit: str) -> float:
    refs = [refs] if isinstance(refs, str) else list(refs)
    hyps = [hyps] if isinstance(hyps, str) else list(hyps)
    if len(refs) != len(hyps):
        raise BadInputError(f"{len(refs)} references but {len(hyps)} hypotheses")
    counts = [edit_counts(r, h, unit) for r, h in zip(refs, hyps)]
    return pooled_error_rate(*(sum(c[i] for c in counts) for i in range(3)))


def word_error_rate(refs: str | Sequence[str], hyps: str | Sequence[str]) -> float:
    """Corpus WER: total word edits / total reference words, after ``normalize_text``.
    A string or a list of strings for each side (lists of equal length). Can exceed 1.
    Zero reference words: 0.0 if the hypotheses are empty too, else 1.0."""
    return _error_rate(refs, hyps, "word")


def char_error_rate(refs: str | Sequence[str], hyps: str | Sequence[str]) -> float:
    """Corpus CER: total character edits / total reference characters of the normalized
    text, single spaces between words counted as characters (so a lost word boundary
    costs one edit). Same input and empty conventions as ``word_error_rate``."""
    return _error_rate(refs, hyps, "char")
