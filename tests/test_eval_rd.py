"""`codec eval rd`: numbers match an independent computation, failures are per image,
runs resume, and the Dask path gives the local path's numbers."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lvc.cli.main import cli
from lvc.codecs import Codec, register
from lvc.eval import rd
from lvc.samples import sample_image

KODAK = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "kodak"
ANCHORS = Path(__file__).resolve().parents[1] / ".." / "shared" / "anchors" / "kodak"
SPECS = {"jpeg": (50, 85), "webp": (40, 80)}
SAVE = {"jpeg": ("JPEG", {"subsampling": "4:2:0"}), "webp": ("WEBP", {"method": 4})}


def independent(path, codec, quality):
    """Pillow encode with the codec's documented settings, file size, numpy PSNR."""
    x = np.asarray(Image.open(path).convert("RGB"))
    fmt, options = SAVE[codec]
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, fmt, quality=quality, **options)
    y = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    mse = np.mean((x.astype(np.float64) - y) ** 2)
    return 8 * len(buf.getvalue()) / (x.shape[0] * x.shape[1]), 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    for i, (w, h) in enumerate(((96, 64), (80, 72), (64, 96))):
        Image.fromarray(sample_image(w, h, seed=i)).save(d / f"img{i}.png")
    Image.fromarray(sample_image(64, 64, seed=9)).save(d / "broken.png")
    (d / "broken.png").write_bytes((d / "broken.png").read_bytes()[:60])  # truncated PNG
    (d / "notes.txt").write_text("not an image")
    return d


def check_against_independent(rows, folder):
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok
    for r in ok:
        bpp, psnr = independent(folder / r["image"], r["codec"], r["quality"])
        assert r["native-bpp"] == pytest.approx(bpp, rel=1e-12)
        assert r["psnr-rgb"] == pytest.approx(psnr, abs=1e-9)
        assert r["bpp"] > r["native-bpp"]  # the container header is counted too
        assert (r["bpp"] - r["native-bpp"]) * r["width"] * r["height"] / 8 <= 32


def test_sweep_matches_independent_numbers_and_reports_failures(dataset, tmp_path):
    res = rd.evaluate(dataset, SPECS, tmp_path / "out", ref="jpeg", progress=False)
    check_against_independent(res.rows, dataset)
    assert set(res.excluded) == {"broken.png", "notes.txt"}
    assert all(reason for reasons in res.excluded.values() for reason in reasons)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["skipped_images"] == 2 and summary["images"] == 5
    assert summary["failed_jobs"] == 2 * 4
    curve = json.loads((tmp_path / "out" / "curves" / "jpeg.json").read_text())
    assert curve["name"] == "jpeg"
    r = curve["results"]
    assert set(r) >= {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}
    assert r["bpp"][0] < r["bpp"][1] and r["psnr-rgb"][0] < r["psnr-rgb"][1]
    ok = [x for x in res.rows if x["codec"] == "jpeg" and x["quality"] == 50 and x["status"] == "ok"]
    assert r["bpp"][0] == pytest.approx(np.mean([x["bpp"] for x in ok]))
    for name in ("bd-rate.md", "bd-rate.json", "rd-psnr-rgb.png", "rd-ms-ssim-rgb.png",
                 "results.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    bd = json.loads((tmp_path / "out" / "bd-rate.json").read_text())
    assert {(b["test"], b["ref"]) for b in bd} == {("webp", "jpeg")}


def test_rerun_resumes_without_remeasuring(dataset, tmp_path):
    out = tmp_path / "out"
    first = rd.evaluate(dataset, {"jpeg": (50,)}, out, progress=False)
    lines = (out / "results.csv").read_text().splitlines()
    again = rd.evaluate(dataset, {"jpeg": (50,)}, out, progress=False)
    after = (out / "results.csv").read_text().splitlines()
    # only the failed images are retried; successful rows are not measured again
    assert len(after) == len(lines) + 2
    assert again.curves == first.curves
    more = rd.evaluate(dataset, {"jpeg": (50, 85)}, out, progress=False)
    assert len(more.curves["jpeg"]["results"]["bpp"]) == 2


def _numbers(rows):
    keep = ("codec", "quality", "image", "bytes", "bpp", "native-bpp", "psnr-rgb", "psnr-y",
            "ms-ssim-rgb", "status")
    return sorted(tuple(r.get(k) for k in keep) for r in rows)


def test_dask_local_cluster_gives_the_local_numbers(dataset, tmp_path):
    pytest.importorskip("distributed")
    local = rd.evaluate(dataset, SPECS, tmp_path / "local", progress=False)
    dask = rd.evaluate(dataset, SPECS, tmp_path / "dask", scheduler="local:2", progress=False)
    assert _numbers(dask.rows) == _numbers(local.rows)
    strip = {k: {m: v for m, v in c["results"].items() if not m.endswith("_time")}
             for k, c in local.curves.items()}
    assert strip == {k: {m: v for m, v in c["results"].items() if not m.endswith("_time")}
                     for k, c in dask.curves.items()}


@register
class FlakyCodec(Codec):
    """Test codec that fails on one image size: the sweep must carry on."""

    id = "flaky-test"
    modality = "image"
    quality_range = (0, 1)
    default_quality = 1

    def encode(self, media, quality):
        from lvc.errors import UnsupportedMediaError

        if media.data.shape[1] == 80:
            raise UnsupportedMediaError("flaky-test cannot code 80-pixel-wide images")
        from lvc.codecs import get_codec

        return get_codec("png").encode(media, 6)

    def decode(self, header, streams):
        from lvc.codecs import get_codec

        return get_codec("png").decode(header, streams)


def test_codec_failing_on_one_image_does_not_abort(dataset, tmp_path):
    res = rd.evaluate(dataset, {"flaky-test": (0, 1), "jpeg": (50,)}, tmp_path / "o",
                      progress=False)
    assert "img1.png" in res.excluded
    assert "80-pixel-wide" in " ".join(res.excluded["img1.png"])
    assert res.curves["jpeg"]["description"].startswith("lvc jpeg, mean over 2 images")


def test_cli_eval_rd_json_and_errors(dataset, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["eval", "rd", "--dataset", str(dataset), "-c", "jpeg:50,85",
                              "-c", "webp:40,80", "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["skipped_images"] == 2 and set(summary["curves"]) == {"jpeg", "webp"}
    bad = runner.invoke(cli, ["eval", "rd", "--dataset", str(dataset), "-c", "jpeg:500",
                              "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ")
    missing = runner.invoke(cli, ["eval", "rd", "--dataset", str(tmp_path / "nope"),
                                  "--out", str(tmp_path / "y")])
    assert missing.exit_code == 3


@pytest.mark.skipif(not KODAK.is_dir(), reason="needs ../shared/datasets/kodak")
def test_kodak_three_images_match_independent(tmp_path):
    sub = tmp_path / "kodak3"
    sub.mkdir()
    for name in ("kodim01.png", "kodim12.png", "kodim23.png"):
        (sub / name).write_bytes((KODAK / name).read_bytes())
    res = rd.evaluate(sub, {"jpeg": (75,), "webp": (75,)}, tmp_path / "o", metrics=("psnr",),
                      progress=False)
    assert all(r["status"] == "ok" for r in res.rows)
    check_against_independent(res.rows, sub)


@pytest.mark.skipif(not ANCHORS.is_dir(), reason="needs ../shared/anchors/kodak")
def test_anchor_overlay_enters_the_bd_table(dataset, tmp_path):
    from lvc.eval.anchors import load_curves

    anchors = load_curves([ANCHORS / "jpeg.json", ANCHORS / "vtm.json"])
    res = rd.evaluate(dataset, {"webp": (20, 50, 80, 95)}, tmp_path / "o", ref="jpeg",
                      anchors=anchors, metrics=("psnr",), progress=False)
    refs = {r["ref"] for r in res.bd_rows}
    assert refs == set(anchors)
