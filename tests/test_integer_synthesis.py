"""LiVeAction's integer-product decoder (``integer_synthesis``): exact int8 products,
close to the float decoder, and the same output for any thread count or oneDNN setting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lvc.codecs.liveaction.integer_synthesis import (WEIGHT_MAX, IntegerDecoder, IntegerLinear,
                                                     integer_product)
from lvc.codecs.liveaction.model import LiVeAction, LiVeActionConfig
from lvc.codecs.torch_utils import stable_cpu


@pytest.fixture
def onednn_and_threads():
    """Restore oneDNN's switch and torch's thread count after the test."""
    flag, threads = torch.backends.mkldnn.enabled, torch.get_num_threads()
    yield
    torch.backends.mkldnn.enabled = flag
    torch.set_num_threads(threads)


def test_integer_product_is_exact_on_both_paths(onednn_and_threads):
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(-WEIGHT_MAX, WEIGHT_MAX + 1, (67, 1536), generator=gen, dtype=torch.int8)
    b = torch.randint(-127, 128, (1536, 45), generator=gen, dtype=torch.int8)
    a[0], b[:, 0] = WEIGHT_MAX, 127       # the largest sums a row and column can reach
    a[1], b[:, 1] = -WEIGHT_MAX, -127
    exact = (a.long() @ b.long())
    for enabled in (True, False):         # oneDNN's int8 GEMM, then the float64 product
        torch.backends.mkldnn.enabled = enabled
        got = integer_product(a, b)
        assert got.dtype == torch.int32 and torch.equal(got.long(), exact)


def test_integer_linear_codes_7_bit_weights_and_stays_close():
    gen = torch.Generator().manual_seed(1)
    weight, bias = torch.randn(96, 48, generator=gen), torch.randn(96, generator=gen)
    x = torch.randn(48, 300, generator=gen) * torch.rand(1, 300, generator=gen) * 10
    layer = IntegerLinear(weight, bias)
    assert layer.weight.dtype == torch.int8 and int(layer.weight.abs().max()) == WEIGHT_MAX
    ref = weight @ x + bias[:, None]
    got = layer(x)
    assert float((got - ref).norm() / ref.norm()) < 0.02
    assert torch.equal(layer(torch.zeros(48, 5)), bias[:, None].expand(96, 5))


@pytest.mark.parametrize("ndim, channels, size", [(2, 3, (40, 56)), (1, 2, (200,)),
                                                   (3, 1, (8, 16, 12)), (2, 3, (4, 56)),
                                                   (2, 3, (40, 3)), (1, 2, (8,))])
def test_decoder_close_to_float_and_identical_for_threads_and_onednn(ndim, channels, size,
                                                                    onednn_and_threads):
    torch.manual_seed(ndim)
    config = LiVeActionConfig(in_channels=channels, levels=2 if ndim > 1 else 3,
                              latent_channels=8, encoder_blocks=1, decoder_blocks=2,
                              decoder_width=64, mbconv_expansion=4, ndim=ndim,
                              projection="dense")
    model = LiVeAction(config).eval()
    x = torch.rand((1, channels) + size) * 2 - 1
    with stable_cpu():
        q = model.quantize(model.encode(x), training=False)
        ref = model.decode(q, size=size, clamp=False)
    decoder = IntegerDecoder(model.decoder)
    outputs = []
    for threads in (1, 2):
        for enabled in (True, False):
            torch.set_num_threads(threads)
            torch.backends.mkldnn.enabled = enabled
            with stable_cpu(onednn_free=True):
                outputs.append(model.decode(q, size=size, clamp=False, decoder=decoder))
    assert all(torch.equal(outputs[0], out) for out in outputs[1:])
    assert float((outputs[0] - ref).norm() / ref.norm()) < 0.03


def test_onednn_free_blocks_leave_the_switch_alone(onednn_and_threads):
    for flag in (True, False):
        torch.backends.mkldnn.enabled = flag
        with stable_cpu(onednn_free=True):
            assert torch.backends.mkldnn.enabled == flag and torch.is_inference_mode_enabled()
            with stable_cpu():                   # a float block inside switches it off...
                assert not torch.backends.mkldnn.enabled
            assert torch.backends.mkldnn.enabled == flag     # ...and back when it leaves


def test_batches_decode_one_item_at_a_time():
    torch.manual_seed(3)
    model = LiVeAction(LiVeActionConfig(levels=2, latent_channels=4, encoder_blocks=1,
                                        decoder_blocks=1, decoder_width=32,
                                        mbconv_expansion=2)).eval()
    q = torch.randint(-20, 21, (3, 4, 5, 6)).float()
    decoder = IntegerDecoder(model.decoder)
    with stable_cpu(onednn_free=True):
        both = model.decode(q, decoder=decoder)
        single = [model.decode(q[i:i + 1], decoder=decoder) for i in range(3)]
    assert np.array_equal(both.numpy(), torch.cat(single).numpy())
