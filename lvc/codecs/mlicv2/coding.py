"""MLICv2 bitstreams through ``lvc.entropy``: z, then every slice in two checkerboard
passes, with the very loop of the training forward pass.

One function, ``code_latents``, runs on both sides (``lvc.codecs.latent_coding``):
with an ``Encoder`` and an image it codes, with a ``Decoder`` and the latent size it
reads, and both return the same dequantized latent, from which every later context
is computed, so encoder and decoder agree bit for bit. Order: z with the
EntropyBottleneck's per-channel tables; then per slice the anchors (symbols
``round(y - mu)``, table ``build_indexes(sigma)`` of the GaussianConditional's scale
table, in channel-major order), the anchors' latent residual prediction, the
non-anchors the same way, and theirs. With ``selective`` on, elements whose
predicted scale is below it are not coded at all and take their mean, on both sides.

Run it under ``torch_utils.stable_cpu`` and ``single_thread`` (oneDNN off, one
thread): then the parameters do not depend on the caller's thread count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...entropy import FrequencyTables, channel_indexes
from ..latent_coding import bottleneck_medians, code_symbols, gaussian_tables
from .model import MLICv2, anchor_mask


@dataclass(frozen=True, eq=False)
class Tables:
    bottleneck: FrequencyTables
    gaussian: FrequencyTables


def prepare(model: MLICv2) -> Tables:
    """Freeze the entropy models' CDFs (compressai's 64-scale table) and build lvc's
    integer tables from them; call after loading weights, in eval mode."""
    from compressai.models.google import get_scale_table

    model.gaussian_conditional.update_scale_table(get_scale_table(), force=True)
    model.entropy_bottleneck.update(force=True)
    return Tables(FrequencyTables.from_entropy_bottleneck(model.entropy_bottleneck),
                  gaussian_tables(model.gaussian_conditional))


def _code_where(model, tables, coder, values, scales, means, where) -> torch.Tensor:
    """Code or read the elements of one pass (``where``: (1, 1, h, w) bool) and return a
    tensor holding their dequantized values, zero elsewhere."""
    sel = where.expand_as(scales)
    s, m = scales[sel], means[sel]
    selective = model.cfg.selective
    coded = s.abs() >= selective if selective > 0 else torch.ones_like(s, dtype=torch.bool)
    out_values = m.clone()  # skipped elements take their mean
    out_values[coded] = code_symbols(
        coder, None if values is None else values[sel][coded], m[coded],
        model.gaussian_conditional.build_indexes(s[coded]).numpy(), tables.gaussian)
    out = torch.zeros_like(scales)
    out[sel] = out_values
    return out


def code_latents(model: MLICv2, tables: Tables, coder, x=None, size=None,
                 y=None) -> torch.Tensor:
    """Encode image ``x`` (1, 3, H, W) in [0, 1] (H, W multiples of 64) with an
    ``Encoder`` (``y``: a refined latent to code instead of ``g_a(x)``, see ``sga.py``),
    or decode with a ``Decoder`` given ``size`` = (h, w) of the latent; returns the
    dequantized latent y_hat (1, M, h, w)."""
    if y is None and x is not None:
        y = model.g_a(x)
    h, w = y.shape[-2:] if y is not None else size
    z = None if y is None else model.h_a(y)
    z_hat = code_symbols(coder, z, bottleneck_medians(model.entropy_bottleneck),
                         channel_indexes((1, model.cfg.N, h // 4, w // 4)), tables.bottleneck)
    hyper = model.h_s(z_hat)
    hyper_means = hyper.chunk(2, 1)[1]
    anchors_at = anchor_mask(h, w).bool()
    c = model.cfg.slice_ch
    done = []
    for idx in range(model.cfg.slices):
        y_slice = None if y is None else y[:, idx * c:(idx + 1) * c]
        ctx = model.slice_contexts(idx, done, hyper)
        scale, mean = model.params_anchor[idx](torch.cat(ctx + [hyper], 1)).chunk(2, 1)
        anchors = _code_where(model, tables, coder, y_slice, scale, mean, anchors_at)
        mask = anchors_at.float()
        anchors = anchors + mask * model._lrp(model.lrp_anchor[idx], hyper_means, done, anchors)
        local = [model.local[idx](anchors)]
        if idx:
            local.append(model.intra[idx](done[-1], anchors))
        scale, mean = model.params_nonanchor[idx](torch.cat(local + ctx + [hyper], 1)).chunk(2, 1)
        y_hat = anchors + _code_where(model, tables, coder, y_slice, scale, mean, ~anchors_at)
        y_hat = y_hat + (1 - mask) * model._lrp(model.lrp_nonanchor[idx], hyper_means, done, y_hat)
        done.append(y_hat)
    return torch.cat(done, 1)
