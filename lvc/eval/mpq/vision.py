"""Image perception tasks on mediapipe 0.10 (``mediapipe.solutions`` ships its models,
so nothing is downloaded): face detection (OpenCV Haar cascade as the fallback) and
selfie/person segmentation."""

from __future__ import annotations

import numpy as np

from ..mpq_metrics import match_boxes
from .tasks import ImageTask, missing_module, pooled, ratio


def _mediapipe_solutions():
    import mediapipe as mp

    return mp.solutions


def _mediapipe_missing() -> str | None:
    reason = missing_module("mediapipe")
    if reason:
        return reason
    try:
        _mediapipe_solutions()
    except AttributeError:
        return "mediapipe has no 'solutions' (pin mediapipe<0.10.15, pip install -e .[perception])"
    return None


class FaceDetection(ImageTask):
    """Faces as boxes; metric: F1 of greedy IoU >= 0.5 matching, pooled over the dataset
    (``f1``), with the mean IoU of the matched pairs (``iou``). Model: mediapipe's
    full-range detector (``model_selection=1``) at confidence 0.5, else OpenCV's frontal
    Haar cascade."""

    name = "face-detection"
    metric = "f1"
    description = "face boxes (mediapipe, Haar fallback): detection F1 / IoU"
    threshold = 0.5

    def __init__(self):
        self.backend = None
        self._model = None

    def unavailable(self) -> str | None:
        if _mediapipe_missing() is None:
            return None
        return missing_module("cv2")

    def setup(self) -> None:
        if _mediapipe_missing() is None:
            self.backend = "mediapipe"
            self._model = _mediapipe_solutions().face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.5)
        else:
            import cv2

            self.backend = "opencv-haar"
            self._model = cv2.CascadeClassifier(
                cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def predict(self, media) -> list:
        if self._model is None:
            self.setup()
        rgb = np.ascontiguousarray(media.data)
        h, w = rgb.shape[:2]
        if self.backend == "opencv-haar":
            import cv2

            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            found = self._model.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5)
            return [[float(x), float(y), float(x + bw), float(y + bh)] for x, y, bw, bh in found]
        result = self._model.process(rgb)
        boxes = []
        for det in result.detections or ():
            b = det.location_data.relative_bounding_box
            boxes.append([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w,
                          (b.ymin + b.height) * h])
        return boxes

    def compare(self, reference, prediction) -> dict:
        m = match_boxes(reference, prediction, self.threshold)
        return {"tp": m.tp, "fp": m.fp, "fn": m.fn, "iou_sum": m.mean_iou * m.tp}

    def metrics(self, stats: list) -> dict:
        tp, fp, fn, iou = pooled(stats, "tp", "fp", "fn", "iou_sum")
        return {"f1": ratio(2 * tp, 2 * tp + fp + fn, 1.0),
                "precision": ratio(tp, tp + fp, 1.0), "recall": ratio(tp, tp + fn, 1.0),
                "iou": ratio(iou, tp, 1.0 if fn == fp == 0 else 0.0), "faces": tp + fn}


class PersonSegmentation(ImageTask):
    """Person mask from mediapipe's selfie segmentation (general model, mask = p >= 0.5);
    metric: IoU of the masks pooled over the dataset (total intersection / total union,
    1.0 when no image has a person in either)."""

    name = "person-segmentation"
    metric = "iou"
    description = "person masks (mediapipe selfie segmentation): mask IoU"

    def __init__(self):
        self._model = None

    def unavailable(self) -> str | None:
        return _mediapipe_missing()

    def setup(self) -> None:
        self._model = _mediapipe_solutions().selfie_segmentation.SelfieSegmentation(
            model_selection=0)

    def predict(self, media) -> np.ndarray:
        if self._model is None:
            self.setup()
        mask = self._model.process(np.ascontiguousarray(media.data)).segmentation_mask
        return np.asarray(mask) >= 0.5

    def compare(self, reference, prediction) -> dict:
        a, b = np.asarray(reference, bool), np.asarray(prediction, bool)
        return {"inter": int(np.count_nonzero(a & b)), "union": int(np.count_nonzero(a | b)),
                "area": int(np.count_nonzero(a))}

    def metrics(self, stats: list) -> dict:
        inter, union, area = pooled(stats, "inter", "union", "area")
        return {"iou": ratio(inter, union, 1.0), "person_pixels": area}
