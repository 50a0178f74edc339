"""The ``pc-hclt`` codec with its shipped models: exact round trips in a separate
decoder process, rate on sklearn digits, image-set archives, determinism, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import lvc
from lvc.cli.main import cli
from lvc.codecs.pc import weights as pc_weights
from lvc.codecs.pc.data import MNIST_FILE, load
from lvc.errors import BadInputError, CorruptStreamError, UnsupportedMediaError

pytest.importorskip("sklearn")

DECODE = ("import sys, numpy as np, lvc; "
          "x, names = lvc.decode_images(open(sys.argv[1], 'rb').read()); "
          "np.save(sys.argv[2], x)")


@pytest.fixture(scope="module")
def digits():
    train, test = load("digits")
    return np.concatenate([train, test]), test


def decode_elsewhere(path: Path, out: Path, threads: str = "1") -> np.ndarray:
    env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads)
    subprocess.run([sys.executable, "-c", DECODE, str(path), str(out)], check=True, env=env)
    return np.load(out)


def test_every_digit_round_trips_in_another_process(digits, tmp_path):
    """Acceptance 2 (digits): every one of the 1,797 images, decoded by a separate
    process with another thread count."""
    images, _ = digits
    archive = tmp_path / "digits.lvc"
    archive.write_bytes(lvc.encode_images(images, codec="pc-hclt"))
    assert np.array_equal(decode_elsewhere(archive, tmp_path / "a.npy", "1"), images)
    assert np.array_equal(decode_elsewhere(archive, tmp_path / "b.npy", "2"), images)


def test_digits_rate_on_the_held_out_split(digits):
    """Acceptance 4: whole-file bits per pixel on the 297 evaluation digits <= 2.1."""
    _, test = digits
    data = lvc.encode_images(test, codec="pc-hclt")
    bpd = 8 * len(data) / test.size
    model = pc_weights.load_model((8, 8)).hclt
    ideal = model.bits_per_dimension(test.reshape(len(test), -1).astype(np.int64))
    assert bpd <= 2.1
    assert ideal <= bpd <= ideal + 0.05  # the file costs its information plus a little


def test_single_image_and_bytes_identical_across_processes(digits, tmp_path):
    image = digits[1][0]
    data = lvc.encode(image, codec="pc-hclt")
    assert np.array_equal(lvc.decode(data), image)
    code = ("import sys, numpy as np, lvc; from lvc.codecs.pc.data import load; "
            "sys.stdout.buffer.write(lvc.encode(load('digits')[1][0], codec='pc-hclt'))")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    other = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                           env=env).stdout
    assert other == data


def test_archive_keeps_names_through_the_cli(digits, tmp_path):
    images = digits[1][:12]
    src = tmp_path / "src"
    src.mkdir()
    for i, im in enumerate(images):
        Image.fromarray(im).save(src / f"digit-{i:02d}.png")
    archive = tmp_path / "d.lvc"
    result = CliRunner().invoke(cli, ["encode", str(src), "-o", str(archive), "-c", "pc-hclt"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["decode", str(archive), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    for i, im in enumerate(images):
        back = np.asarray(Image.open(tmp_path / "out" / f"digit-{i:02d}.png"))
        assert np.array_equal(back, im)


def test_bad_input_is_one_clear_error(digits, tmp_path):
    image = digits[1][0]
    with pytest.raises(BadInputError, match="no model for 9x8"):
        lvc.encode(np.zeros((9, 8), np.uint8), codec="pc-hclt")
    with pytest.raises(BadInputError, match="0..16"):
        lvc.encode(np.full((8, 8), 200, np.uint8), codec="pc-hclt")
    with pytest.raises(UnsupportedMediaError):
        lvc.encode(np.zeros((8, 8, 3), np.uint8), codec="pc-hclt")
    data = bytearray(lvc.encode_images(digits[1][:20], codec="pc-hclt"))
    data[-3] ^= 0x40  # inside the last stream: its CRC catches it
    with pytest.raises(Exception) as e:
        lvc.decode_images(bytes(data))
    assert isinstance(e.value, lvc.LVCError)
    path = tmp_path / "one.lvc"
    path.write_bytes(lvc.encode(image, codec="pc-hclt")[:-2])
    result = CliRunner().invoke(cli, ["decode", str(path), "-o", str(tmp_path / "x.png")])
    assert result.exit_code != 0 and result.stderr.startswith("error: ")
    assert not (tmp_path / "x.png").exists()


def test_stream_count_is_checked(digits):
    from lvc.codecs.pc.codec import PCCodec
    from lvc.formats.container import unpack

    header, streams = unpack(lvc.encode_images(digits[1][:5], codec="pc-hclt"))
    with pytest.raises(CorruptStreamError):
        PCCodec().decode(header, streams[:1])


@pytest.mark.skipif(not MNIST_FILE.is_file(), reason="needs ../shared/datasets/mnist")
def test_mnist_eval_images_round_trip_in_another_process(tmp_path):
    """Acceptance 2 (MNIST) on the first 64 evaluation images here; the benchmark
    (benchmarks/pc_mnist.py) checks all 2,000 in a separate process."""
    try:
        pc_weights.locate((28, 28))
    except BadInputError:
        pytest.skip("no 28x28 pc-hclt model installed")
    images = load("mnist")[1][:64]
    archive = tmp_path / "mnist.lvc"
    archive.write_bytes(lvc.encode_images(images, codec="pc-hclt"))
    assert np.array_equal(decode_elsewhere(archive, tmp_path / "m.npy", "2"), images)
