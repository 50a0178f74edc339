"""The `codec` CLI contract: round trips, batches, --json, info/list/demo, and for
every user error one stderr line, the documented exit code and no output left."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import lvc
from lvc.cli.main import EXIT_CODES
from lvc.codecs.registry import BUILTIN
from lvc.errors import LVCError
from lvc.samples import sample_audio, sample_image

CLASSICAL = {"png", "jpeg", "webp", "avif", "jpegxl", "flac", "opus", "vorbis", "mp3"}


from cli_helpers import assert_user_error, ok, run  # noqa: E402


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def image():
    return sample_image(64, 48)


@pytest.fixture
def png(tmp_path, image):
    path = tmp_path / "img.png"
    Image.fromarray(image).save(path)
    return path


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, sample_audio(0.5, 16000), 16000, subtype="PCM_16")
    return path


@pytest.fixture
def lvc_file(tmp_path, png):
    out = tmp_path / "img.lvc"
    ok(run("encode", png, "-o", out, "-c", "png"))
    return out


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("codec,min_psnr", [("png", None), ("jpeg", 25), ("webp", 25),
                                            ("avif", 25), ("jpegxl", 25)])
def test_image_round_trip(tmp_path, png, image, codec, min_psnr):
    ok(run("encode", png, "-o", tmp_path / "a.lvc", "-c", codec))
    result = ok(run("decode", tmp_path / "a.lvc", "-o", tmp_path / "b.png"))
    assert "a.lvc -> " in result.stdout
    decoded = np.asarray(Image.open(tmp_path / "b.png"))
    assert decoded.shape == image.shape
    if min_psnr is None:
        np.testing.assert_array_equal(decoded, image)  # lossless: bit-exact
    else:
        mse = np.mean((decoded.astype(float) - image) ** 2)
        assert 10 * np.log10(255 ** 2 / mse) > min_psnr


def test_flac_round_trip_default_names(wav):
    result = ok(run("encode", wav, "-c", "flac"))
    assert "kbps" in result.stdout and "flac" in result.stdout
    lvc_path = wav.with_suffix(".lvc")
    wav.rename(wav.with_name("original.wav"))
    ok(run("decode", lvc_path))  # default output: <stem> + .wav
    decoded, rate = sf.read(wav, dtype="int16")
    assert rate == 16000
    np.testing.assert_array_equal(decoded, sample_audio(0.5, 16000))


@pytest.mark.parametrize("codec", ["opus", "vorbis", "mp3"])
def test_lossy_audio_round_trip_and_info(tmp_path, wav, codec):
    out = tmp_path / f"{codec}.lvc"
    ok(run("encode", wav, "-o", out, "-c", codec))
    ok(run("decode", out, "-o", tmp_path / f"{codec}.wav"))
    decoded, rate = sf.read(tmp_path / f"{codec}.wav", dtype="int16")
    original = sample_audio(0.5, 16000)
    assert rate == 16000 and decoded.shape == original.shape
    assert np.corrcoef(decoded.astype(float), original.astype(float))[0, 1] > 0.8
    info = json.loads(ok(run("info", out, "--json")).stdout)
    assert info["codec"] == codec
    assert info["kbps"] == pytest.approx(8 * out.stat().st_size / 0.5 / 1000, rel=1e-3)


# ------------------------------------------------------------------ batches
def test_directory_and_glob_into_output_dir(tmp_path, image):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.png", "b.png", ".hidden.png"):
        Image.fromarray(image).save(src / name)
    (src / "notes.txt").write_text("not media")

    ok(run("encode", src, "-o", tmp_path / "out1", "-c", "png", "--workers", "2"))
    assert listing(tmp_path / "out1") == ["a.lvc", "b.lvc"]

    ok(run("encode", str(src / "*.png"), "-o", tmp_path / "out2", "-c", "jpeg"))
    assert listing(tmp_path / "out2") == ["a.lvc", "b.lvc"]

    ok(run("decode", str(tmp_path / "out1" / "*.lvc"), "-o", tmp_path / "dec"))
    assert listing(tmp_path / "dec") == ["a.png", "b.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "dec" / "a.png")), image)


def test_batch_continues_after_a_failure(tmp_path, png):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    missing = tmp_path / "missing.png"
    result = run("encode", missing, bad, png, "-o", tmp_path / "out", "-c", "png", "--json")
    assert result.exit_code == 3  # the first failure's code
    assert len(result.stderr.splitlines()) == 2
    rows = json.loads(result.stdout)
    assert [r["error"] is None for r in rows] == [False, False, True]
    assert listing(tmp_path / "out") == ["img.lvc"]


def test_json_rows(tmp_path, png, wav):
    result = ok(run("encode", png, wav, "-o", tmp_path / "out", "--json"))
    img, audio = json.loads(result.stdout)
    for row in (img, audio):
        assert set(row) >= {"input", "output", "codec", "quality", "bytes", "error"}
        assert row["error"] is None and os.path.getsize(row["output"]) == row["bytes"]
    assert img["codec"] == "webp" and img["bpp"] == pytest.approx(8 * img["bytes"] / (64 * 48))
    kbps = 8 * audio["bytes"] / 0.5 / 1000
    assert audio["codec"] == "liveaction-audio" and audio["kbps"] == pytest.approx(kbps)


def test_name_clash_and_lvc_output_are_refused(tmp_path, image, lvc_file):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(image).save(src / "a.png")
    Image.fromarray(image).save(src / "a.bmp")
    result = run("encode", src, "-o", tmp_path / "out", "-c", "png")
    assert_user_error(result, 2)  # two inputs would both write out/a.lvc
    assert listing(tmp_path / "out") == ["a.lvc"]
    assert_user_error(run("decode", lvc_file, "-o", tmp_path / "again.lvc"), 2)


# ------------------------------------------------------------------ info, list, demo
def test_info(lvc_file):
    size = lvc_file.stat().st_size
    fields = json.loads(ok(run("info", lvc_file, "--json")).stdout)
    assert fields["codec"] == "png" and fields["modality"] == "image"
    assert fields["shape"] == [48, 64, 3] and fields["dtype"] == "uint8"
    assert fields["total_bytes"] == size
    assert fields["bpp"] == pytest.approx(8 * size / (48 * 64))
    assert fields["fingerprint"] is None and all(s["ok"] for s in fields["streams"])
    text = ok(run("info", lvc_file)).stdout
    assert "png" in text and f"{8 * size / (48 * 64):.4g} bpp" in text


def test_list_shows_classical_codecs():
    rows = json.loads(ok(run("list", "--json")).stdout)
    assert CLASSICAL <= {r["id"] for r in rows}
    table = ok(run("list")).stdout
    assert all(cid in table for cid in CLASSICAL)


def test_list_does_not_import_torch():
    code = ("import sys\nfrom lvc.cli.main import main\ntry:\n    main(['list'])\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "False"


def test_demo_writes_three_files_and_reruns(tmp_path):
    for _ in range(2):  # a rerun replaces its own outputs
        result = ok(run("demo", "--out", tmp_path / "demo"))
    assert listing(tmp_path / "demo") == ["sample.decoded.png", "sample.lvc", "sample.png"]
    assert "bpp" in result.stdout and "PSNR" in result.stdout and "codec encode" in result.stdout


def test_samples_are_deterministic():
    np.testing.assert_array_equal(sample_image(32, 24), sample_image(32, 24))
    assert sample_image().shape == (384, 512, 3)
    stereo = sample_audio(0.25, 8000, channels=2)
    assert stereo.shape == (2000, 2) and stereo.dtype == np.int16


# ------------------------------------------------------------------ errors
def _corrupt(data):
    data = bytearray(data)
    data[-10] ^= 0x55  # inside the payload: the stream CRC catches it
    return bytes(data)


@pytest.mark.parametrize("case,code", [
    ("missing", 3), ("not_image", 3), ("unknown_codec", 6), ("quality", 2),
    ("corrupt", 5), ("truncated", 5), ("random", 5), ("parent_is_file", 1),
])
def test_user_errors(tmp_path, png, lvc_file, case, code):
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out.x"
    if case in ("corrupt", "truncated", "random"):
        data = lvc_file.read_bytes()
        bad = {"corrupt": _corrupt(data), "truncated": data[: len(data) // 2],
               "random": np.random.default_rng(0).bytes(500)}[case]
        (work / "in.lvc").write_bytes(bad)
        args = ["decode", work / "in.lvc", "-o", out.with_suffix(".png")]
    else:
        src = {"missing": work / "nothere.png", "not_image": work / "x.png"}.get(case, png)
        if case == "not_image":
            src.write_text("hello, I am text")
        args = ["encode", src, "-o", out.with_suffix(".lvc")]
        args += {"unknown_codec": ["-c", "nope"], "quality": ["-c", "jpeg", "-q", "101"],
                 "parent_is_file": ["-c", "png"]}.get(case, [])
        if case == "parent_is_file":
            args[3] = png / "out.lvc"
    before = listing(work)
    assert_user_error(run(*args), code)
    assert listing(work) == before  # no output, no temp file


def test_info_on_corrupt_file(tmp_path, lvc_file):
    bad = tmp_path / "bad.lvc"
    bad.write_bytes(_corrupt(lvc_file.read_bytes()))
    result = run("info", bad)
    assert_user_error(result, 5)
    assert "MISMATCH" in result.stdout  # the header is still shown


def test_existing_output_needs_force(tmp_path, png):
    out = tmp_path / "out.lvc"
    out.write_bytes(b"precious")
    assert_user_error(run("encode", png, "-o", out), 4)
    assert out.read_bytes() == b"precious"
    ok(run("encode", png, "-o", out, "--force"))
    assert out.read_bytes()[:4] == b"\x89LVC"


def test_exit_codes_documented():
    codes = dict(EXIT_CODES)
    assert len(codes) == len(EXIT_CODES)

    def subclasses(cls):
        return [cls] + [s for c in cls.__subclasses__() for s in subclasses(c)]

    assert {e.exit_code for e in subclasses(LVCError)} <= set(codes)
    help_text = ok(run("--help")).stdout
    assert all(f"{code}  {text}" in help_text for code, text in EXIT_CODES)
    assert {info.id for info in BUILTIN if info.target.startswith("lvc.codecs.classical.")} \
        == CLASSICAL


def test_python_m_lvc_exit_codes(tmp_path):
    """The real entry point: one line, no traceback, the documented code."""
    junk = tmp_path / "junk.lvc"
    junk.write_bytes(b"\x00" * 64)
    for args, code in ((["decode", junk], 5), (["encode", tmp_path / "none.png"], 3),
                       (["encode", "--bogus"], 2)):
        proc = subprocess.run([sys.executable, "-m", "lvc", *map(str, args)],
                              capture_output=True, text=True)
        assert proc.returncode == code, proc.stderr
        assert "Traceback" not in proc.stderr
        if code != 2:  # Click's own usage errors print a usage line too
            assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert ok(run("--version")).stdout.startswith("codec, version")


def test_python_m_lvc_after_torch_keeps_output_files_and_codes(tmp_path):
    """Calls that loaded torch end with ``os._exit``: their output, files and exit
    codes are as with a normal exit."""
    pytest.importorskip("torch")
    from lvc.codecs.registry import codec_info

    if codec_info("liveaction-rgb").unavailable_reason():
        pytest.skip("liveaction-rgb weights are not installed")
    image = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)).save(image)
    coded = tmp_path / "a.lvc"

    def codec(*args):
        return subprocess.run([sys.executable, "-m", "lvc", *map(str, args)],
                              capture_output=True, text=True)

    proc = codec("encode", image, "-o", coded, "-c", "liveaction-rgb", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["bytes"] == coded.stat().st_size
    proc = codec("decode", coded, "-o", tmp_path / "b.png")
    assert proc.returncode == 0 and "b.png" in proc.stdout
    decoded = np.asarray(Image.open(tmp_path / "b.png"))
    assert np.array_equal(decoded, lvc.decode(coded.read_bytes()))
    blob = bytearray(coded.read_bytes())
    blob[-12:] = bytes(12)  # damage the latent stream: found after the model is loaded
    (tmp_path / "bad.lvc").write_bytes(blob)
    proc = codec("decode", tmp_path / "bad.lvc", "-o", tmp_path / "bad.png")
    assert proc.returncode == 5 and proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "bad.png").exists()
