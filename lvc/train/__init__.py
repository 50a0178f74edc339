"""Shared training pieces: the one training loop every learned codec trains on
(``loop.py``: CPU/CUDA, fp32/bf16, torchrun data parallel, time budgets), image crops
(``data.py``), resumable no-pickle checkpoints and JSONL logs (``checkpoint.py``) and the
prepared GPU plan (``plan.py``, ``plan_import.py``).

Codec-specific tasks (``lvc.codecs.<name>.train``) say what to train; run them with
``python -m lvc.train <codec> ...`` (or under ``torchrun --nproc_per_node N -m lvc.train``).
"""
