"""Machine-perception quality (``codec eval mpq``): how much a codec hurts the models
that consume its output. ``tasks`` holds the task interface and registry, ``runner``
the sweep; the built-in tasks live in ``vision``, ``ocr`` and ``asr``."""

from .tasks import AudioTask, ImageTask, Sample, Task, load_task, task_status

__all__ = ["AudioTask", "ImageTask", "Sample", "Task", "load_task", "task_status"]
