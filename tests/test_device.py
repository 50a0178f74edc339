"""``lvc.decode(..., device=)`` and ``codec decode --device`` (issue 23): argument
handling and refusals on any machine, the GPU synthesis where a GPU is present."""

import numpy as np
import pytest
from click.testing import CliRunner

import lvc
from lvc.cli.main import cli
from lvc.errors import BadInputError, CodecUnavailableError
from lvc.samples import sample_image

torch = pytest.importorskip("torch")
IMAGE = sample_image(80, 48, seed=3)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("device")
    out = {}
    for codec in ("liveaction-rgb", "mlicv2-tiny", "webp"):
        out[codec] = root / f"{codec}.lvc"
        out[codec].write_bytes(lvc.encode(IMAGE, codec))
    return out


@pytest.mark.parametrize("device", ["tpu", "banana", "cuda:x", 3.5])
def test_a_bad_device_name_is_one_error(files, device):
    with pytest.raises(BadInputError, match="cpu, cuda or cuda:N"):
        lvc.decode(files["liveaction-rgb"], device=device)


def test_float_entropy_codecs_refuse_another_device(files):
    with pytest.raises(BadInputError, match="mlicv2-tiny decodes on the CPU only"):
        lvc.decode(files["mlicv2-tiny"], device="cuda")


def test_codecs_without_networks_ignore_the_device(files):
    assert np.array_equal(lvc.decode(files["webp"], device="cuda:0"), lvc.decode(files["webp"]))


def test_cpu_is_the_default_path(files):
    data = files["liveaction-rgb"].read_bytes()
    assert np.array_equal(lvc.decode(data, device="cpu"), lvc.decode(data))
    from lvc.codecs.registry import get_codec
    from lvc.formats.container import unpack

    codec = get_codec("liveaction-rgb")
    header, streams = unpack(data)
    on_cpu = codec.decode(header, streams, device=torch.device("cpu")).data
    assert np.array_equal(on_cpu, lvc.decode(data))
    assert codec.weights().model_on("cpu") is codec.weights().model


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_liveaction_without_a_gpu_says_so(files):
    with pytest.raises(CodecUnavailableError, match="no CUDA device cuda here"):
        lvc.decode(files["liveaction-rgb"], device="cuda")


def test_cli_device_errors_are_one_line(files, tmp_path):
    runner = CliRunner()
    bad = runner.invoke(cli, ["decode", str(files["webp"]), "-o", str(tmp_path / "a.png"),
                              "--device", "tpu"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1
    refused = runner.invoke(cli, ["decode", str(files["mlicv2-tiny"]), "-o",
                                  str(tmp_path / "b.png"), "--device", "cuda"])
    assert refused.exit_code == 2 and "decodes on the CPU only" in refused.output
    assert not (tmp_path / "b.png").exists()
    ignored = runner.invoke(cli, ["decode", str(files["webp"]), "-o", str(tmp_path / "c.png"),
                                  "--device", "cuda"])
    assert ignored.exit_code == 0, ignored.output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_synthesis_matches_the_cpu_within_a_level(files):
    for codec in ("liveaction-rgb",):
        data = files[codec].read_bytes()
        gpu = lvc.decode(data, device="cuda").astype(int)
        assert np.abs(gpu - lvc.decode(data).astype(int)).max() <= 2
        assert np.array_equal(gpu, lvc.decode(data, device="cuda"))
