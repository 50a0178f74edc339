"""`codec bench` and lvc.eval.bench on tiny inputs: row contents, baseline ratios,
per-codec memory, input loading and one-line errors. Timings are never asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import toy_codec  # noqa: F401  (registers "toy-lossless" in this process only)
from lvc.cli.bench_cmd import _codec_spec
from lvc.cli.main import cli
from lvc.errors import BadInputError, UnknownCodecError
from lvc.eval.bench import bench, load_images, synthetic_images


def run(*args):
    return CliRunner().invoke(cli, ["bench", *map(str, args)])


def check_rows(rows, codecs):
    assert [r["codec"] for r in rows] == codecs
    for r in rows:
        assert r["encode_mps"] > 0 and r["decode_mps"] > 0
        assert r["bpp"] > 0
        assert 0 < r["idle_rss_mib"] <= r["peak_rss_mib"]
        assert r["rss_increase_mib"] == pytest.approx(r["peak_rss_mib"] - r["idle_rss_mib"])
    assert rows[0]["encode_x_baseline"] == rows[0]["decode_x_baseline"] == 1.0
    for r in rows[1:]:
        assert r["encode_x_baseline"] == pytest.approx(r["encode_mps"] / rows[0]["encode_mps"])


def test_cli_json_rows():
    result = run("--codec", "jpeg", "--codec", "webp", "--size", "96x64", "--repeat", 2, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    rows = json.loads(result.stdout)
    check_rows(rows, ["jpeg", "webp"])
    assert [r["quality"] for r in rows] == [75, 75]  # the codecs' defaults
    assert all(r["images"] == 4 and r["repeat"] == 2 for r in rows)
    assert rows[0]["megapixels"] == pytest.approx(4 * 96 * 64 / 1e6)


def test_library_memory_is_the_workers_own():
    ballast = np.ones(32 * 2**20)  # 256 MiB resident in this process during the run
    rows = bench([("jpeg", 30), ("toy-lossless", None)], synthetic_images(64, 48, 2), repeat=1)
    check_rows(rows, ["jpeg", "toy-lossless"])  # a run-time codec: the worker imports it
    assert [r["quality"] for r in rows] == [30, 0]
    assert all(r["peak_rss_mib"] < 200 for r in rows), "the parent's memory leaked into a row"
    del ballast


def test_codec_spec_quality_precedence():
    assert _codec_spec("jpeg:40", 60) == ("jpeg", 40)
    assert _codec_spec("jpeg", 60) == ("jpeg", 60)
    assert _codec_spec("jpeg", None) == ("jpeg", None)
    with pytest.raises(BadInputError):
        _codec_spec("jpeg:high", None)


def test_load_images_first_k_as_rgb(tmp_path):
    Image.fromarray(np.full((8, 6), 7, np.uint8)).save(tmp_path / "a.png")  # gray
    Image.fromarray(np.zeros((8, 6, 4), np.uint8)).save(tmp_path / "b.png")  # RGBA
    (tmp_path / "c.txt").write_text("not an image")
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "d.png")
    images = load_images(tmp_path, 2)
    assert [im.shape for im in images] == [(8, 6, 3), (8, 6, 3)]
    assert images[0].dtype == np.uint8 and (images[0] == 7).all()
    assert len(load_images(tmp_path, 5)) == 3


@pytest.mark.parametrize("args, code", [
    (["--codec", "jpeg", "--codec", "nope"], UnknownCodecError.exit_code),
    (["--codec", "flac"], BadInputError.exit_code),  # audio codecs are refused for now
    (["--codec", "jpeg:500"], BadInputError.exit_code),
    (["--codec", "jpeg", "--size", "12"], BadInputError.exit_code),
    (["--codec", "jpeg", "--size", "8x8", "--dataset", "."], BadInputError.exit_code),
])
def test_errors_are_one_line(args, code):
    result = run(*args)
    assert result.exit_code == code, (result.exit_code, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
