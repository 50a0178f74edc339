"""Evaluation: metrics, BD-rate, RD sweeps over image folders, plots, speed benchmarks.

Sits above codecs (cli -> eval -> codecs); nothing here is imported by a codec.
"""
