"""The tracked figures as one parameterised asv benchmark.

``setup_cache`` measures every selected group once, in its own process, so the ratios in
a group come from one run (a baseline and lvc side by side); asv then reads each figure
from that cache, and records a figure whose group could not run as skipped.
Environment: ``LVC_TRACK_QUICK=1`` (quick mode), ``LVC_TRACK_GROUPS`` (comma-separated).
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/

import measure  # noqa: E402
import targets  # noqa: E402


class Figures:
    params = [t.name for t in targets.TARGETS]
    param_names = ["figure"]
    timeout = 1800
    unit = "value"

    def setup_cache(self):
        groups = os.environ.get("LVC_TRACK_GROUPS") or ",".join(measure.GROUPS)
        return measure.run(groups.split(","), os.environ.get("LVC_TRACK_QUICK") == "1")

    def setup(self, figures, name):
        if name not in figures:  # in setup, asv records it as skipped rather than failed
            raise NotImplementedError(f"{name}: its group did not run")

    def track_figure(self, figures, name):
        return figures[name]
