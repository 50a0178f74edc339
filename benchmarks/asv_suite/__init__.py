"""airspeed velocity (asv) suite: the tracked figures of ``benchmarks/targets.py``.

Run through ``python benchmarks/track.py`` (see the README's "Performance tracking")."""
