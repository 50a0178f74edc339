"""Image metrics, perceptual-metric availability, curve files and RD plots."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from lvc.errors import BadInputError, MissingFileError
from lvc.eval.anchors import curve, load_curves
from lvc.eval.metrics import (image_metrics, ms_ssim, ms_ssim_scales, perceptual_status, psnr,
                              rgb_to_y)
from lvc.eval.plots import rd_plot


def _image(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth gradients with texture, uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    planes = [np.clip(100 + 60 * np.sin(x / (5 + c) + y / 9) + rng.normal(0, 8, (h, w)), 0, 255)
              for c in range(channels)]
    img = np.stack(planes, axis=-1).astype(np.uint8)
    return img[:, :, 0] if channels == 1 else img


def _noisy(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ PSNR / luma
def test_psnr_by_hand():
    ref = np.zeros((4, 4, 3), np.uint8)
    dec = ref.copy()
    dec[0, 0, 0] = 12  # MSE = 144 / 48 = 3
    assert psnr(ref, dec) == pytest.approx(10 * math.log10(255 ** 2 / 3))
    assert psnr(ref, dec, peak=1023) == pytest.approx(10 * math.log10(1023 ** 2 / 3))
    assert psnr(ref, ref) == float("inf")
    with pytest.raises(BadInputError):
        psnr(ref, ref[:3])


def test_rgb_to_y_is_bt601_full_range():
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    assert rgb_to_y(px)[0] == pytest.approx([76.245, 149.685, 29.07, 255.0])
    gray = _image(5, 6, 1)
    y = rgb_to_y(gray)
    assert y.dtype == np.float64 and np.array_equal(y, gray)


def test_gray_psnr_y_equals_rgb_psnr():
    ref = _image(40, 50, 1)
    m = image_metrics(ref, _noisy(ref, 5), names=("psnr",))
    assert set(m) == {"psnr-rgb", "psnr-y"} and m["psnr-y"] == m["psnr-rgb"]
    rgb = _image(40, 50)
    m = image_metrics(rgb, _noisy(rgb, 5), names=("psnr",))
    assert m["psnr-y"] > m["psnr-rgb"]  # averaging the planes averages the noise out


def test_alpha_ignored_and_uint16_peak():
    ref = _image(30, 40, 4)
    dec = ref.copy()
    dec[:, :, 3] = 0
    m = image_metrics(ref, dec)
    assert m["psnr-rgb"] == float("inf") and m["ms-ssim-rgb"] == pytest.approx(1.0)
    ref16 = _image(30, 40).astype(np.uint16) * 257
    dec16 = ref16.copy()
    dec16[0, 0, 0] += 300
    m = image_metrics(ref16, dec16, names=("psnr",))
    assert m["psnr-rgb"] == pytest.approx(psnr(ref16, dec16, peak=65535.0))


# ------------------------------------------------------------------ MS-SSIM
@pytest.mark.parametrize("shape", [(48, 64, 3), (180, 200, 3), (48, 64, 1), (180, 200, 1)])
def test_ms_ssim_identical_and_decreasing_with_noise(shape):
    ref = _image(*shape)
    assert ms_ssim(ref, ref) == pytest.approx(1.0, abs=1e-9)
    values = [ms_ssim(ref, _noisy(ref, s)) for s in (2, 8, 30)]
    assert 1.0 > values[0] > values[1] > values[2] > 0.0


def test_ms_ssim_scales_fit_the_image():
    assert [ms_ssim_scales(s, 500) for s in (10, 11, 20, 21, 41, 81, 160, 161)] == \
        [0, 1, 1, 2, 3, 4, 4, 5]
    assert math.isnan(ms_ssim(_image(8, 30), _image(8, 30)))


def test_truncated_ms_ssim_loop_matches_the_library_at_five_scales():
    import pytorch_msssim
    import torch

    from lvc.eval.metrics import MS_SSIM_WEIGHTS, _ms_ssim_truncated

    ref, dec = _image(170, 180), _noisy(_image(170, 180), 10)

    def t(a):
        return torch.from_numpy(a.astype(np.float64).transpose(2, 0, 1)[None].copy())

    lib = pytorch_msssim.ms_ssim(t(ref), t(dec), data_range=255.0)
    ours = _ms_ssim_truncated(t(ref), t(dec), torch.tensor(MS_SSIM_WEIGHTS, dtype=torch.float64))
    assert float(ours) == pytest.approx(float(lib), abs=1e-12)
    assert ms_ssim(ref, dec) == pytest.approx(float(lib), abs=1e-12)


def test_ms_ssim_leaves_torch_threads_alone():
    import torch

    before = torch.get_num_threads()
    ms_ssim(_image(48, 64), _image(48, 64, seed=3))
    assert torch.get_num_threads() == before


# ------------------------------------------------------------------ image_metrics
def test_image_metrics_keys_and_errors():
    ref = _image(48, 64)
    m = image_metrics(ref, _noisy(ref, 4))
    assert set(m) == {"psnr-rgb", "psnr-y", "ms-ssim-rgb"}
    status = perceptual_status()
    m = image_metrics(ref, _noisy(ref, 4), names=("psnr", "lpips", "dists"))
    assert set(m) == {"psnr-rgb", "psnr-y"} | {n for n, why in status.items() if why is None}
    with pytest.raises(BadInputError, match="unknown metric"):
        image_metrics(ref, ref, names=("psnr", "vmaf"))
    with pytest.raises(BadInputError, match="shape"):
        image_metrics(ref, ref[:, :10])


def test_eval_modules_import_without_torch_or_matplotlib():
    code = ("import sys, lvc.eval.metrics, lvc.eval.bdrate, lvc.eval.anchors, lvc.eval.plots;"
            "print(sorted(m for m in ('torch', 'matplotlib', 'bjontegaard', 'scipy')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ LPIPS / DISTS
@pytest.fixture
def no_downloads(monkeypatch):
    """Any attempt to fetch weights fails the test."""
    import urllib.request

    import torch.hub

    def refuse(*args, **kwargs):
        raise AssertionError(f"download attempted: {args[:1]}")

    for name in ("load_state_dict_from_url", "download_url_to_file"):
        monkeypatch.setattr(torch.hub, name, refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_perceptual_status_reports_without_downloading(no_downloads):
    status = perceptual_status()
    assert set(status) == {"lpips", "dists"}
    for name, package in (("lpips", "lpips"), ("dists", "DISTS_pytorch")):
        assert status[name] is None or isinstance(status[name], str)
        if importlib.util.find_spec(package) is None:
            assert f"needs the Python package '{package}'" in status[name]


def test_perceptual_status_checks_weight_files(no_downloads, tmp_path, monkeypatch):
    pytest.importorskip("torchvision")
    if importlib.util.find_spec("lpips") is not None:
        pytest.skip("a real lpips package is installed")
    pkg = tmp_path / "site" / "lpips"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('the fake lpips must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert "no weight file" in perceptual_status()["lpips"]
    (pkg / "weights" / "v0.1").mkdir(parents=True)
    (pkg / "weights" / "v0.1" / "alex.pth").write_bytes(b"x")
    why = perceptual_status()["lpips"]
    assert "alexnet-" in why and "torch hub cache" in why and str(tmp_path) in why
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / why.split()[2]).write_bytes(b"x")
    assert perceptual_status()["lpips"] is None


# ------------------------------------------------------------------ curve files
def _write(path, data):
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_load_curves_directory_name_clash_and_files(tmp_path):
    d = tmp_path / "anchors"
    d.mkdir()
    results = {"bpp": [0.1, 0.5], "psnr-rgb": [28.0, 34.0]}
    _write(d / "vtm.json", curve("VTM", "reference", results))
    _write(d / "vtm-old.json", curve("VTM", "older", results))
    _write(d / "x.json", {"name": "X", "source": "paper", "results":
                          {**results, "model": ["small", "big"], "ms-ssim-rgb": [0.9, None]}})
    (d / "notes.txt").write_text("not a curve")
    curves = load_curves(d)
    assert list(curves) == ["VTM", "VTM (vtm)", "X"]  # files in name order: vtm-old first
    assert curves["VTM"]["description"] == "older"
    assert curves["VTM (vtm)"]["description"] == "reference"
    assert all(c["name"] == n for n, c in curves.items())
    assert curves["X"]["description"] == "" and curves["X"]["source"] == "paper"
    assert list(load_curves([d / "x.json", str(d / "vtm.json")])) == ["X", "VTM"]


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ([1, 2], "not an RD curve"),
    ({"name": "a", "results": {"psnr-rgb": [30]}}, "'bpp'"),
    ({"name": "a", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30]}}, "has 1 values"),
    ({"name": "a", "results": {"bpp": ["low", "high"]}}, "must hold numbers"),
])
def test_load_curves_rejects_bad_files(tmp_path, content, message):
    path = _write(tmp_path / "bad.json", content)
    with pytest.raises(BadInputError, match=message) as e:
        load_curves([path])
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_load_curves_missing_and_empty(tmp_path):
    with pytest.raises(MissingFileError):
        load_curves([tmp_path / "nope.json"])
    with pytest.raises(BadInputError, match="no .json"):
        load_curves(tmp_path)


def test_curve_helper_makes_json_ready_lists():
    c = curve("jpeg", "lvc jpeg", {"bpp": np.array([0.5, 1.0]), "psnr-rgb": (30, 33)})
    assert c == {"name": "jpeg", "description": "lvc jpeg",
                 "results": {"bpp": [0.5, 1.0], "psnr-rgb": [30.0, 33.0]}}
    json.dumps(c)


# ------------------------------------------------------------------ plots
def test_rd_plot_writes_png(tmp_path):
    bpp = np.array([0.1, 0.3, 0.9])
    curves = {"ours": curve("ours", "", {"bpp": bpp, "psnr-rgb": [28, 32, 36],
                                         "ms-ssim-rgb": [0.9, 0.96, 0.99]}),
              "anchor": curve("anchor", "", {"bpp": bpp * 1.2, "psnr-rgb": [28, 32, 36]})}
    out = tmp_path / "plots" / "rd.png"
    for metric in ("psnr-rgb", "ms-ssim-rgb"):
        assert rd_plot(curves, metric, out, title="t", measured=("ours",)) == out
        data = out.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert [p.name for p in out.parent.iterdir()] == ["rd.png"]  # no temp files left
    with pytest.raises(BadInputError):
        rd_plot(curves, "lpips", tmp_path / "x.png")
