"""LiVeAction for audio, hyperspectral cubes and volumes, end to end through the CLI.

Tiny random models of every signal codec are exported (float16 tensors + latent
tables fitted on synthetic signals) into a temporary weights directory that
``LVC_WEIGHTS_DIR`` points at, so nothing here needs ``../shared`` or the shipped
weights (``test_shipped_signal_models`` checks those when installed)."""

from __future__ import annotations

import dataclasses
import gzip
import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import soundfile as sf
import torch

import lvc
from lvc.codecs import registry
from lvc.codecs.liveaction import signals as la_signals
from lvc.codecs.liveaction import weights as la_weights
from lvc.codecs.liveaction.model import LiVeAction, LiVeActionConfig
from lvc.codecs.liveaction.codec import tile_boxes
from lvc.codecs.liveaction.signal_codec import fold, plane_shape
from lvc.errors import CorruptStreamError, UnsupportedMediaError
from lvc.formats.container import pack, unpack
from lvc.formats.io import media_stem, read_media
from lvc.formats.media import as_array_media, as_audio
from lvc.samples import sample_audio
from lvc.train.checkpoint import save_checkpoint

from cli_helpers import assert_user_error, ok, run  # noqa: E402

SIGNAL_CODECS = tuple(la_signals.SPECS)


def _tiny(spec) -> LiVeActionConfig:
    return LiVeActionConfig(**{**spec.config, "levels": 3 if spec.config["ndim"] == 1 else 2,
                               "latent_channels": 8, "encoder_blocks": 1,
                               "decoder_blocks": 1, "decoder_width": 32,
                               "mbconv_expansion": 2})


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("signal-weights")
    rng = np.random.default_rng(0)
    for cid, spec in la_signals.SPECS.items():
        torch.manual_seed(1)
        config = _tiny(spec)
        model = LiVeAction(config)
        ckpt = root / f"{cid}.ckpt.safetensors"
        levels = [[2, 1.0], [4, 1.0], [6, 1.0], [8, 1.0], [8, 0.5], [8, 0.25]]
        save_checkpoint(ckpt, model, torch.optim.SGD(model.parameters(), lr=0.1), 5, {
            "codec": cid, "config": config.to_dict(), "data": ["synthetic"],
            "rate_levels": levels[:len(spec.rate_levels)]})
        axes = (700,) if config.ndim == 1 else (12, 10, 9)
        fit = [rng.normal(0, 0.3, (config.in_channels,) + axes).astype(np.float32)
               for _ in range(2)]
        la_weights.export_weights(ckpt, root / "w" / f"{cid}.safetensors", fit_signals=fit)
    return root / "w"


@pytest.fixture
def installed(monkeypatch, weights_dir):
    monkeypatch.setenv(la_weights.WEIGHTS_ENV, str(weights_dir))
    la_weights.clear_cache()
    registry.get_codec.cache_clear()
    yield weights_dir
    la_weights.clear_cache()
    registry.get_codec.cache_clear()


def _header(path):
    return unpack(path.read_bytes())[0]


# ---------------------------------------------------------------- helpers
def test_tiles_and_planes():
    assert tile_boxes((10,), None, 4) == [(slice(0, 10),)]
    boxes = tile_boxes((20, 9), 8, 4)
    assert len(boxes) == 3 * 2 and boxes[0] == (slice(0, 8), slice(0, 8))
    covered = np.zeros((20, 9), int)
    for box in boxes:
        covered[box] += 1
    assert (covered == 1).all()
    assert plane_shape((5, 7)) == (5, 1, 7) and plane_shape((3, 2, 4, 6)) == (3, 8, 6)
    x = np.arange(3 * 2 * 4 * 6).reshape(3, 2, 4, 6)
    assert fold(x).shape == (3, 8, 6) and (fold(x)[:, 4:] == x[:, 1]).all()


def test_unit_scaling_is_exact_for_integers():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 5437, (5, 6, 7)).astype(np.uint16)
    lo, hi = la_signals.value_range(data)
    back = la_signals.from_unit(la_signals.to_unit(data, lo, hi), lo, hi, "uint16")
    assert back.dtype == np.uint16 and (back == data).all()
    flat = np.full((3, 3, 3), 7.5)
    assert (la_signals.from_unit(la_signals.to_unit(flat, 7.5, 7.5), 7.5, 7.5, "float64")
            == flat).all()


# ---------------------------------------------------------------- CLI round trips
def test_audio_cli_round_trip_keeps_rate_channels_dtype(installed, tmp_path):
    wav = tmp_path / "song.wav"
    sf.write(wav, sample_audio(0.3, 44100, channels=2), 44100, subtype="PCM_16")
    ok(run("encode", wav))  # default codec for stereo audio: the mono model per channel
    header = _header(tmp_path / "song.lvc")
    assert header.codec == "liveaction-audio" and header.shape == (13230, 2)
    ok(run("decode", tmp_path / "song.lvc", "-o", tmp_path / "back.flac"))
    info = sf.info(tmp_path / "back.flac")
    assert (info.samplerate, info.channels, info.frames, info.subtype) == \
        (44100, 2, 13230, "PCM_16")
    assert len(unpack((tmp_path / "song.lvc").read_bytes())[1]) == 2  # one stream per channel


def test_four_channel_audio_is_coded_jointly_by_default(installed, tmp_path):
    flac = tmp_path / "array.flac"
    sf.write(flac, sample_audio(0.2, 16000, channels=4), 16000, subtype="PCM_16")
    ok(run("encode", flac))
    assert _header(tmp_path / "array.lvc").codec == "liveaction-audio4"
    ok(run("decode", tmp_path / "array.lvc"))
    back, rate = sf.read(tmp_path / "array.wav", dtype="int16")
    assert back.shape == (3200, 4) and rate == 16000
    streams = unpack((tmp_path / "array.lvc").read_bytes())[1]
    assert len(streams) == 1  # one joint latent


def test_cube_cli_round_trip(installed, tmp_path):
    cube = np.random.default_rng(3).integers(100, 5000, (11, 13, 23)).astype(np.uint16)
    np.save(tmp_path / "cube.npy", cube)
    ok(run("encode", tmp_path / "cube.npy", "-q", "2"))
    header = _header(tmp_path / "cube.lvc")
    assert (header.codec, header.modality) == ("liveaction-hsi", "hyperspectral")
    assert header.metadata["range"] == [float(cube.min()), float(cube.max())]
    ok(run("decode", tmp_path / "cube.lvc", "-o", tmp_path / "back.npy"))
    back = np.load(tmp_path / "back.npy")
    assert back.shape == cube.shape and back.dtype == np.uint16
    assert back.min() >= cube.min() and back.max() <= cube.max()


def test_nifti_cli_round_trip_keeps_affine_spacing_dtype(installed, tmp_path):
    vol = np.random.default_rng(4).normal(0, 50, (14, 9, 11)).astype(np.float32)
    affine = np.array([[0.5, 0, 0, -10], [0, 0.75, 0, 3], [0, 0, 2.0, 7], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(vol, affine), tmp_path / "brain.nii.gz")
    ok(run("encode", tmp_path / "brain.nii.gz"))
    assert _header(tmp_path / "brain.lvc").codec == "liveaction-volume"
    (tmp_path / "out").mkdir()
    ok(run("decode", tmp_path / "brain.lvc", "-o", tmp_path / "out"))  # NIfTI by default
    back = nib.load(tmp_path / "out" / "brain.nii.gz")
    assert back.shape == vol.shape and back.get_data_dtype() == np.float32
    assert np.allclose(back.affine, affine) and np.allclose(back.header.get_zooms(),
                                                           (0.5, 0.75, 2.0))


def test_npy_volume_needs_the_codec_named(installed, tmp_path):
    vol = np.random.default_rng(5).integers(0, 255, (10, 12, 3)).astype(np.uint8)
    np.save(tmp_path / "vol.npy", vol)
    ok(run("encode", tmp_path / "vol.npy", "-c", "liveaction-volume", "-o",
           tmp_path / "vol.lvc"))
    header = _header(tmp_path / "vol.lvc")
    assert header.modality == "volume" and header.shape == (10, 12, 3)
    assert_user_error(run("decode", tmp_path / "vol.lvc"), 4)  # vol.npy exists: no overwrite
    ok(run("decode", tmp_path / "vol.lvc", "-o", tmp_path / "back.npy"))
    back = np.load(tmp_path / "back.npy")
    assert back.shape == (10, 12, 3) and back.dtype == np.uint8


def test_long_signals_are_tiled(installed, monkeypatch):
    spec = la_signals.SPECS["liveaction-audio"]
    monkeypatch.setitem(la_signals.SPECS, "liveaction-audio", dataclasses.replace(spec, tile=64))
    media = as_audio(sample_audio(0.02, 16000), 16000)  # 320 frames -> 5 tiles of 64
    data = lvc.encode(media, "liveaction-audio", 3)
    header, streams = unpack(data)
    assert header.metadata["tile"] == 64 and len(streams) == 5
    assert lvc.decode(data).shape == (320,)


# ---------------------------------------------------------------- absurd inputs
@pytest.mark.parametrize("case", ["empty-wav", "nan-wav", "one-voxel", "nan-cube", "4d-nifti",
                                  "3ch-audio4", "2d-volume"])
def test_absurd_inputs_give_one_line_errors(installed, tmp_path, case):
    args = []
    if case == "empty-wav":
        src = tmp_path / "empty.wav"
        sf.write(src, np.zeros((0, 1), np.int16), 16000, subtype="PCM_16")
        args = ["-c", "liveaction-audio"]
    elif case == "nan-wav":
        src = tmp_path / "nan.wav"
        x = np.zeros((800, 1), np.float32)
        x[100] = np.nan
        sf.write(src, x, 16000, subtype="FLOAT")
    elif case == "one-voxel":
        src = tmp_path / "dot.nii"
        nib.save(nib.Nifti1Image(np.ones((1, 1, 1), np.float32), np.eye(4)), src)
    elif case == "nan-cube":
        src = tmp_path / "nan.npy"
        cube = np.ones((8, 8, 9), np.float32)
        cube[2, 3, 4] = np.nan
        np.save(src, cube)
    elif case == "4d-nifti":
        src = tmp_path / "series.nii.gz"
        nib.save(nib.Nifti1Image(np.ones((4, 4, 4, 3), np.int16), np.eye(4)), src)
    elif case == "3ch-audio4":
        src = tmp_path / "three.wav"
        sf.write(src, sample_audio(0.1, 16000, channels=3), 16000, subtype="PCM_16")
        args = ["-c", "liveaction-audio4"]
    else:
        src = tmp_path / "plane.npy"
        np.save(src, np.ones((8, 8), np.float32))
        args = ["-c", "liveaction-volume"]
    result = run("encode", src, "-o", tmp_path / "out.lvc", *args)
    assert result.exit_code != 0
    assert_user_error(result, result.exit_code)
    assert not (tmp_path / "out.lvc").exists()


def test_corrupt_range_is_refused(installed):
    cube = np.random.default_rng(6).random((8, 8, 10))
    header, streams = unpack(lvc.encode(as_array_media(cube, "hyperspectral")))
    bad = dataclasses.replace(header, metadata={"range": [1.0, "x"]})
    with pytest.raises(CorruptStreamError, match="range"):
        lvc.decode(pack(bad, streams))


def test_empty_signal_in_a_header_is_refused(installed):
    header, streams = unpack(lvc.encode(as_audio(sample_audio(0.05, 16000), 16000)))
    with pytest.raises(CorruptStreamError, match="empty"):
        lvc.decode(pack(dataclasses.replace(header, shape=(0,)), streams))


def test_gzip_that_is_not_nifti_is_refused(tmp_path):
    path = tmp_path / "notes.nii.gz"
    path.write_bytes(gzip.compress(b"hello" * 100))
    with pytest.raises(UnsupportedMediaError):
        read_media(path)
    assert media_stem(path) == "notes" and media_stem(tmp_path / "a.wav") == "a"


# ---------------------------------------------------------------- determinism
def test_decode_is_identical_in_another_process_and_thread_count(installed, tmp_path):
    vol = np.random.default_rng(7).normal(0, 1, (17, 12, 10)).astype(np.float32)
    (tmp_path / "v.lvc").write_bytes(lvc.encode(as_array_media(vol, "volume"), None, 3))
    mono = as_audio(sample_audio(0.1, 16000), 16000)
    (tmp_path / "a.lvc").write_bytes(lvc.encode(mono, None, 5))
    here = [lvc.decode(tmp_path / name) for name in ("v.lvc", "a.lvc")]
    code = ("import sys, numpy as np, torch, lvc; torch.set_num_threads(2); "
            "[np.save(sys.argv[1] + n + '.npy', lvc.decode(sys.argv[1] + n + '.lvc')) "
            "for n in ('v', 'a')]")
    env = {**os.environ, la_weights.WEIGHTS_ENV: str(installed)}
    subprocess.run([sys.executable, "-c", code, str(tmp_path) + "/"], check=True, env=env)
    for name, array in zip("va", here):
        assert np.array_equal(np.load(tmp_path / f"{name}.npy"), array)


# ---------------------------------------------------------------- shipped models
@pytest.mark.parametrize("codec_id", SIGNAL_CODECS)
def test_shipped_signal_models(codec_id):
    """With the shipped weights: real compression of a smooth test signal."""
    la_weights.clear_cache()
    registry.get_codec.cache_clear()
    if la_weights.probe(codec_id):
        pytest.skip(f"{codec_id} weights are not installed")
    rng = np.random.default_rng(8)
    if codec_id.startswith("liveaction-audio"):
        channels = 4 if codec_id.endswith("4") else 1
        media = as_audio(sample_audio(1.0, 16000, channels=channels), 16000)
        raw = media.data.astype(np.float64)
    else:
        grid = np.meshgrid(*[np.linspace(0, 3, n) for n in (24, 20, 32)], indexing="ij")
        raw = 1000 + 800 * np.sin(grid[0]) * np.cos(grid[1] + grid[2]) + rng.normal(0, 5, grid[0].shape)
        modality = "hyperspectral" if codec_id == "liveaction-hsi" else "volume"
        media = as_array_media(raw.astype(np.uint16), modality)
        raw = media.data.astype(np.float64)
    top = registry.codec_info(codec_id).quality_range[1]
    sizes, errors = [], []
    for q in (1, top):
        data = lvc.encode(media, codec_id, q)
        back = lvc.decode(data).astype(np.float64)
        sizes.append(len(data))
        errors.append(np.mean((back - raw) ** 2))
    raw_bytes = media.data.nbytes
    assert sizes[0] < sizes[1] < raw_bytes / 2  # real compression, rate grows with quality
    assert errors[1] < errors[0] < np.var(raw)  # better than sending the mean


def test_quiet_audio_is_levelled_not_lost():
    """A recording 40 dB below the training level codes about as well as a loud one:
    the codec levels it (``audio_gain``, sent in the header) before the model."""
    la_weights.clear_cache()
    registry.get_codec.cache_clear()
    if la_weights.probe("liveaction-audio"):
        pytest.skip("liveaction-audio weights are not installed")
    loud = sample_audio(1.0, 16000).astype(np.float32) / 32768
    snrs = []
    for x in (loud, loud / 100):
        data = lvc.encode(as_audio(x, 16000), "liveaction-audio", 6)
        assert len(unpack(data)[0].metadata["gain"]) == 1
        back = lvc.decode(data)
        snrs.append(10 * np.log10(np.sum(x ** 2) / np.sum((back - x) ** 2)))
    assert snrs[0] > 10 and abs(snrs[1] - snrs[0]) < 3, snrs


def test_corrupt_gain_is_refused(installed):
    header, streams = unpack(lvc.encode(as_audio(sample_audio(0.05, 16000), 16000)))
    bad = dataclasses.replace(header, metadata={"gain": [0.0]})
    with pytest.raises(CorruptStreamError, match="gain"):
        lvc.decode(pack(bad, streams))
