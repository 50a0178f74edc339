"""An example ``codec eval mpq`` plugin: MNIST digit classification.

How much do codecs hurt a digit classifier? This file is a complete task written
against the public interface (``lvc.eval.mpq.tasks``), the way a plugin outside the
package would be; the classifier itself (a ~55k-parameter CNN trained on the first
8,000 MNIST t10k digits, never on the 2,000 held-out ones) ships in
``assets/weights/mnist-classifier.safetensors`` and comes from ``lvc.eval.mpq.mnist``.

    python -m lvc.eval.mpq.mnist digits runs/mpq-data/mnist --count 100
    codec eval mpq --task examples/mnist_task.py:MnistClassification \\
        --dataset runs/mpq-data/mnist -c jpeg:5,20,50 -c webp:0,20,50 --out results/mpq-mnist

Dataset: a folder of digit PNGs named ``<anything>-label<d>.png`` (``00012-label7.png``);
the digit in the name is the label (a PNG without one is evaluated against the
original's prediction only). Images are coded as they are stored (8-bit gray for the
written digits; every shipped image codec accepts 28x28 gray, ``--scale 4`` writes
112x112 digits for codecs that need larger images); the classifier averages colour to
gray and area-resamples to 28x28. Metric: accuracy, pooled over the dataset (correct
predictions / digits): against the prediction on the original, and against the labels.
"""

from __future__ import annotations

from pathlib import Path

from lvc.eval.mpq.tasks import ImageTask, Sample, list_files, pooled, ratio


class MnistClassification(ImageTask):
    name = "mnist-classification"
    metric = "accuracy"
    higher_is_better = True
    description = "MNIST digit classifier (lvc.eval.mpq.mnist): accuracy"

    def __init__(self):
        self._classifier = None

    def unavailable(self) -> str | None:
        from lvc.eval.mpq import mnist

        return mnist.unavailable()

    def setup(self) -> None:
        from lvc.eval.mpq import mnist

        self._classifier = mnist.load_classifier()  # checks the file's sha256

    def label(self, path: Path):
        from lvc.eval.mpq.mnist import label_of

        return label_of(path)

    def load(self, dataset: Path, limit: int | None = None) -> list:
        """The PNGs of ``dataset`` as stored (gray stays gray: codecs code one channel)."""
        from lvc.formats.image_io import read_image
        from lvc.formats.media import as_image

        return [Sample(p.name, as_image(read_image(p).data, str(p)), self.label(p))
                for p in list_files(dataset, {".png"})[:limit]]

    def predict(self, media) -> int:
        if self._classifier is None:
            self.setup()
        return self._classifier.predict(media.data)

    def compare(self, reference, prediction) -> dict:
        return {"correct": int(int(reference) == int(prediction)), "n": 1}

    def metrics(self, stats: list) -> dict:
        correct, n = pooled(stats, "correct", "n")
        return {"accuracy": ratio(correct, n, 1.0), "digits": n}
