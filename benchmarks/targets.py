"""The tracked performance figures and their targets: the one place that holds them.

The asv suite (``benchmarks/asv_suite``), ``benchmarks/track.py`` and
``benchmarks/entropy_bench.py`` all read this table. A figure named ``*_x_*`` is a ratio
against a baseline measured in the same run (so machines and busy hours cancel out);
the others are absolute rates, kept as guards against regressions on this kind of
machine. ``target=None``: tracked only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str  # "group.figure": the group is the measurement that produces it
    op: str  # ">=" or "<=" ("" when tracked only)
    target: float | None
    unit: str
    source: str  # where the target comes from

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]

    def met(self, value: float | None) -> bool | None:
        """True/False against the target; None when there is no target or no value."""
        if value is None or self.target is None:
            return None
        return value >= self.target if self.op == ">=" else value <= self.target


TARGETS = (
    Target("entropy.residual_encode_x_compressai", ">=", 3.0, "x", "DESIGN / issue 26"),
    Target("entropy.residual_decode_x_compressai", ">=", 1.5, "x", "DESIGN / issue 26"),
    Target("entropy.factorized_encode_x_compressai", ">=", 3.0, "x", "issue 26"),
    Target("entropy.factorized_decode_x_compressai", ">=", 2.0, "x", "issue 26"),
    Target("entropy.residual_bits_over_ideal_pct", "<=", 0.05, "%", "DESIGN / issue 26"),
    Target("entropy.factorized_bits_over_ideal_pct", "<=", 0.05, "%", "DESIGN / issue 26"),
    Target("liveaction.encode_x_avif", ">=", 5.0, "x", "issues 4 and 23 (AVIF speed 6)"),
    Target("liveaction.encode_x_webp", ">=", 1.0, "x", "issue 4 stretch (WebP method 4)"),
    Target("liveaction.decode_x_webp", "", None, "x", "tracked only"),
    Target("liveaction.decode_mps", ">=", 3.0, "MP/s", "issue 23"),
    Target("pc.mnist_encode_images_per_s", ">=", 100.0, "img/s",
           "guard: README 134 img/s (MNIST)"),
    Target("pc.mnist_decode_images_per_s", ">=", 100.0, "img/s",
           "guard: README 103 img/s (MNIST)"),
    Target("container.unpack_x_crc32", ">=", 0.5, "x",
           "guard: parsing a 16 MiB file costs at most 2x its checksums"),
    Target("container.small_unpacks_per_ms", ">=", 40.0, "1/ms",
           "guard: 91/ms measured at 80ff165"),
)
BY_NAME = {t.name: t for t in TARGETS}


def of_group(group: str) -> list:
    """The figure names one measurement group produces."""
    return [t.name for t in TARGETS if t.group == group]


def describe(t: Target) -> str:
    return f"{t.op} {t.target:g}{t.unit if t.unit in ('x', '%') else ' ' + t.unit}" \
        if t.target is not None else "-"
