"""The machine-perception task interface and the task registry.

A task wraps a perception model that consumes one modality. The harness
(``runner.py``) runs it on every original sample and on every decoded one, and asks
the task to compare the two outputs (or a label with an output). Comparisons return
*additive* statistics (counts such as true positives or edit operations), so a
dataset's metric is pooled over all samples rather than averaged per sample: an
image without faces then neither helps nor hurts face detection.

Write a task by subclassing ``ImageTask`` / ``AudioTask`` (or ``Task``) and
implementing ``predict``, ``compare`` and ``metrics``; optionally ``unavailable``,
``setup`` and ``label``. Register it through the entry-point group ``lvc.mpq_tasks``
(``name = "package.module:Class"``) or pass ``--task package.module:Class`` (or
``--task path/to/file.py:Class``) to ``codec eval mpq``. ``examples/mnist_task.py`` is a complete plugin.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import BadInputError, CodecUnavailableError, MissingFileError
from ...formats.media import Media

BUILTIN = {
    "face-detection": "lvc.eval.mpq.vision:FaceDetection",
    "person-segmentation": "lvc.eval.mpq.vision:PersonSegmentation",
    "ocr": "lvc.eval.mpq.ocr:OCR",
    "asr": "lvc.eval.mpq.asr:ASR",
}
ENTRY_POINT_GROUP = "lvc.mpq_tasks"


@dataclass
class Sample:
    """One input: a name (unique in the dataset), the media, and its label if any."""

    name: str
    media: Media
    label: Any = None


class Task:
    """A perception model on one modality. ``metric`` names the key of ``metrics()``
    that the curves and comparisons use; ``higher_is_better`` orders codecs."""

    name = "task"
    modality = "image"
    metric = "score"
    higher_is_better = True
    description = ""

    def unavailable(self) -> str | None:
        """Why the task cannot run here (a missing package or model), else None."""
        return None

    def setup(self) -> None:
        """Load the model (called once per process, before the first ``predict``)."""

    def load(self, dataset: Path, limit: int | None = None) -> list:
        """The samples of a dataset folder (``Sample`` list, sorted by name)."""
        raise NotImplementedError

    def predict(self, media: Media) -> Any:
        raise NotImplementedError

    def compare(self, reference: Any, prediction: Any) -> dict:
        """Additive statistics of ``prediction`` against ``reference`` (a prediction on
        the original, or a label)."""
        raise NotImplementedError

    def metrics(self, stats: list) -> dict:
        """Dataset metrics from the samples' statistics; must contain ``self.metric``."""
        raise NotImplementedError

    def rate(self, media: Media, nbytes: int) -> float:
        """Rate of one coded sample in the task's unit (``rate_unit``)."""
        raise NotImplementedError

    rate_unit = "bpp"


def pooled(stats: list, *keys) -> list:
    """Sums of ``keys`` over the samples' statistics."""
    return [sum(float(s[k]) for s in stats) for k in keys]


def ratio(num: float, den: float, empty: float) -> float:
    """num / den, or ``empty`` when there was nothing to count."""
    return num / den if den else empty


def list_files(dataset, suffixes: set) -> list:
    """Sorted non-hidden files of ``dataset`` with one of ``suffixes`` (lowercase)."""
    folder = Path(dataset)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: no such dataset directory")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes)
    if not files:
        raise BadInputError(f"{folder}: no {'/'.join(sorted(suffixes))} files to evaluate")
    return files


def missing_module(*modules) -> str | None:
    """'needs X (pip install -e .[perception])' for the first module that does not import."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # ImportError, or a broken install raising anything
            return f"needs {name} (pip install -e .[perception]): {type(exc).__name__}: {exc}"
    return None


def _entry_points() -> dict:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def task_paths() -> dict:
    """Every known task name -> ``module:Class`` (built-ins, then installed plugins)."""
    return {**BUILTIN, **_entry_points()}


def _import(module: str):
    """A module by dotted name, or a ``.py`` file by path (a plugin not installed)."""
    if not module.endswith(".py"):
        return importlib.import_module(module)
    spec = importlib.util.spec_from_file_location(Path(module).stem, module)
    if spec is None or not Path(module).is_file():
        raise ImportError(f"no such file {module}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_task(name: str) -> Task:
    """A task instance by registered name, ``module:Class`` or ``path/file.py:Class``."""
    path = task_paths().get(name, name if ":" in name else None)
    if path is None:
        raise BadInputError(f"unknown task {name!r} (known: {', '.join(task_paths())}; "
                            "or give module:Class)")
    module, _, cls = path.rpartition(":")
    try:
        task = getattr(_import(module), cls)()
    except (ImportError, AttributeError, OSError) as exc:
        raise BadInputError(f"cannot load task {name!r} from {path}: {exc}") from None
    if not isinstance(task, Task):
        raise BadInputError(f"{path} is not an lvc.eval.mpq.Task")
    return task


def ready_task(name: str) -> Task:
    """``load_task`` that also refuses a task whose model or package is missing."""
    task = load_task(name)
    reason = task.unavailable()
    if reason:
        raise CodecUnavailableError(f"task {task.name} is unavailable: {reason}")
    return task


def task_status() -> dict:
    """name -> None (ready) or why not, for every known task."""
    out = {}
    for name in task_paths():
        try:
            out[name] = load_task(name).unavailable()
        except BadInputError as exc:
            out[name] = str(exc)
    return out


class TextErrorRate:
    """Mixin for text-output tasks: statistics are edit counts of normalised words
    (``unit = "word"``) or characters, the metric their pooled error rate."""

    unit = "word"

    def compare(self, reference, prediction) -> dict:
        from ..mpq_metrics import edit_counts

        edits, n, hyp = edit_counts(reference, prediction, self.unit)
        return {"edits": edits, f"{self.unit}s": n, f"hyp_{self.unit}s": hyp}

    def metrics(self, stats: list) -> dict:
        from ..mpq_metrics import pooled_error_rate

        n = f"{self.unit}s"
        edits, total, hyp = pooled(stats, "edits", n, f"hyp_{n}")
        return {self.metric: pooled_error_rate(edits, total, hyp), n: total}


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}


class ImageTask(Task):
    """A task on 8-bit RGB images read from a folder; labels from ``label(path)``."""

    modality = "image"
    rate_unit = "bpp"

    def label(self, path: Path) -> Any:
        return None

    def load(self, dataset: Path, limit: int | None = None) -> list:
        from ...formats.image_io import read_image
        from ...formats.media import as_image, to_rgb8

        return [Sample(p.name, as_image(to_rgb8(read_image(p).data), str(p)), self.label(p))
                for p in list_files(dataset, IMAGE_SUFFIXES)[:limit]]

    def rate(self, media: Media, nbytes: int) -> float:
        h, w = media.shape[:2]
        return 8.0 * nbytes / (h * w)


class AudioTask(Task):
    """A task on audio files (WAV/FLAC/OGG) of a folder; labels from ``label(path)``."""

    modality = "audio"
    rate_unit = "kbps"

    def label(self, path: Path) -> Any:
        return None

    def load(self, dataset: Path, limit: int | None = None) -> list:
        from ...formats.io import read_media

        return [Sample(p.name, read_media(p), self.label(p))
                for p in list_files(dataset, AUDIO_SUFFIXES)[:limit]]

    def rate(self, media: Media, nbytes: int) -> float:
        return 8.0 * nbytes / (media.shape[0] / media.sample_rate) / 1000.0
