"""Shared training pieces: image crops, resumable no-pickle checkpoints, JSONL logs.

Codec-specific training scripts (``lvc.codecs.<name>.train``) build on these; run
them with ``python -m lvc.train <codec> ...``.
"""
