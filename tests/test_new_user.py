"""What a new user trips over (issue 25): audio bitrates, `codec list` at 80 columns,
complete NIfTI headers, progress on a terminal only, early suffix/modality refusals,
no library warnings in CLI output, and the CLI's own wording."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys

import numpy as np
import pytest

import lvc
from lvc.errors import UnsupportedMediaError
from lvc.formats.container import Header, pack
from lvc.formats.media import as_audio

from cli_helpers import assert_user_error, ok, run


def speech_like(seconds=4.0, rate=16000, seed=0):
    """Voiced bursts (harmonics of a wandering pitch) and pauses, in int16."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 1.3 * t), 0, None) ** 0.5
    x = 0.3 * voiced * envelope + 0.01 * rng.standard_normal(t.size)
    return (np.clip(x, -1, 1) * 32767).astype(np.int16), rate


def kbps(data: bytes, frames: int, rate: int) -> float:
    return len(data) * 8 / (frames / rate) / 1000


# ------------------------------------------------------------------ 1. bitrates
@pytest.mark.parametrize("codec,target", [("opus", 16), ("opus", 24), ("mp3", 16), ("mp3", 32),
                                          ("vorbis", 48)])
def test_bitrate_option_hits_the_whole_file_rate(codec, target):
    x, rate = speech_like()
    data = lvc.encode(as_audio(x, rate), codec, options={"bitrate": target})
    got = kbps(data, len(x), rate)
    assert abs(got / target - 1) <= 0.15, (codec, target, got)
    y = lvc.decode(data)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert lvc.decode_media(data).sample_rate == rate


def test_bitrate_beyond_the_encoder_is_refused_with_its_limit():
    x, rate = speech_like(2.0)
    with pytest.raises(UnsupportedMediaError, match=r"vorbis cannot code .* at 8 kbit/s "
                                                    r"\(its lowest rate here is"):
        lvc.encode(as_audio(x, rate), "vorbis", options={"bitrate": 8})


def test_bitrate_from_the_cli(tmp_path):
    import soundfile as sf

    x, rate = speech_like()
    wav = tmp_path / "speech.wav"
    sf.write(wav, x, rate)
    out = tmp_path / "speech.lvc"
    assert "opus 16 kbit/s asked" in ok(run("encode", wav, "-o", out, "-c", "opus",
                                            "--set", "bitrate=16")).stdout
    assert abs(kbps(out.read_bytes(), len(x), rate) / 16 - 1) <= 0.15
    assert_user_error(run("encode", wav, "-o", tmp_path / "f.lvc", "-c", "flac",
                          "--set", "bitrate=16"), 2)
    assert_user_error(run("encode", wav, "-o", tmp_path / "g.lvc", "-c", "opus",
                          "--set", "bitrate=fast"), 2)
    assert not (tmp_path / "f.lvc").exists() and not (tmp_path / "g.lvc").exists()


# ------------------------------------------------------------------ 2. codec list
def test_codec_list_at_80_columns_shows_every_id_whole():
    result = ok(_run_env(["list"], COLUMNS="80"))
    ids = [r["id"] for r in lvc.api.list_codecs()]
    first_words = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    for codec_id in ids:
        assert codec_id in first_words, (codec_id, result.stdout)
    table = result.stdout.split("Not available here:")[0]
    assert "…" not in table and all(len(line) <= 80 for line in table.splitlines())
    rows = json.loads(ok(run("list", "--json")).stdout)
    assert [r["id"] for r in rows] == ids


def _run_env(args, **env):
    from click.testing import CliRunner

    from lvc.cli.main import cli

    return CliRunner().invoke(cli, args, env=env)


# ------------------------------------------------------------------ 3. NIfTI headers
def _nifti_with_everything(path, four_d=False):
    import nibabel as nib

    rng = np.random.default_rng(1)
    data = rng.normal(100, 20, (20, 18, 12)).astype(np.int16)
    if four_d:
        data = data[..., None]
    affine = np.diag([0.9, 0.8, 1.2, 1.0])
    affine[:3, 3] = [-10, -12, -6]
    image = nib.Nifti1Image(data, affine)
    h = image.header
    qform = affine.copy()
    qform[:3, 3] += [1, 2, 3]
    h.set_qform(qform, code=1)
    h.set_sform(affine, code=2)
    h.set_xyzt_units("mm", "sec")
    h["descrip"] = b"held-out test volume"
    h["aux_file"] = b"aux.txt"
    h["intent_code"], h["intent_name"], h["intent_p1"] = 2, b"corr", 0.5
    h["cal_min"], h["cal_max"], h["toffset"] = 10, 200, 1.5
    h.set_dim_info(freq=0, phase=1, slice=2)
    h["slice_code"], h["slice_start"], h["slice_end"], h["slice_duration"] = 1, 0, 11, 0.05
    nib.save(image, path)
    return h


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


@pytest.mark.parametrize("four_d", [False, True])
def test_nifti_round_trip_keeps_every_header_field(tmp_path, four_d):
    import nibabel as nib

    src = tmp_path / "vol.nii.gz"
    original = _nifti_with_everything(src, four_d)
    ok(run("encode", src, "-o", tmp_path / "vol.lvc"))
    ok(run("decode", tmp_path / "vol.lvc", "-o", tmp_path / "back.nii.gz"))
    back = nib.load(tmp_path / "back.nii.gz").header
    differ = [k for k in original.keys() if not _same(original[k], back[k])]
    assert differ == [], {k: (original[k], back[k]) for k in differ}
    assert int(back["qform_code"]) == 1 and int(back["xyzt_units"]) == 10
    assert back["descrip"].item() == b"held-out test volume"


# ------------------------------------------------------------------ 4. progress
def test_progress_draws_on_a_terminal_console_and_codec_steps_report():
    from rich.console import Console

    from lvc.cli.progress_ui import TerminalProgress
    from lvc.progress import reporting, track

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    with TerminalProgress(1, "decoding", enabled=True, console=console) as ui, reporting(ui):
        ui.DELAY = 0.0
        seen = list(track(range(5), "liveaction-rgb: decoding tiles"))
        ui.echo("error: a line above the bar", err=True)
    assert seen == list(range(5))
    assert "liveaction-rgb: decoding tiles" in buffer.getvalue()
    assert "error: a line above the bar" in buffer.getvalue()


def test_track_reports_nothing_without_a_reporter_or_in_another_process(monkeypatch):
    from lvc import progress

    class Counting(progress.Reporter):
        def __init__(self):
            self.steps = 0

        def start(self, label, total):
            def advance():
                self.steps += 1
            return advance

        def finish(self):
            pass

    assert list(progress.track(iter("abc"), "x")) == ["a", "b", "c"]
    counting = Counting()
    with progress.reporting(counting):
        list(progress.track(range(4), "x"))
        assert counting.steps == 4
        real_pid = os.getpid()
        monkeypatch.setattr(progress.os, "getpid", lambda: real_pid + 1)  # a forked worker
        list(progress.track(range(4), "x"))
    assert counting.steps == 4


def _images(folder, n=3):
    from PIL import Image

    paths = []
    for i in range(n):
        array = (np.random.default_rng(i).random((48, 64, 3)) * 255).astype(np.uint8)
        paths.append(folder / f"i{i}.png")
        Image.fromarray(array).save(paths[-1])
    return paths


def _codec_cmd(*args):
    return [sys.executable, "-m", "lvc", *map(str, args)]


def test_progress_on_a_pseudo_terminal_never_in_pipes(tmp_path):
    paths = _images(tmp_path)
    # stderr a terminal, stdout a pipe: the bar is drawn, the result lines stay clean
    master, slave = pty.openpty()
    proc = subprocess.run(_codec_cmd("encode", *paths, "-o", tmp_path / "tty", "-c", "webp"),
                          stdout=subprocess.PIPE, stderr=slave, text=True,
                          env={**os.environ, "COLUMNS": "100"})
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    assert proc.returncode == 0
    assert b"encoding" in drawn and b"3/3" in drawn
    assert proc.stdout.count("webp q75") == 3 and "\x1b" not in proc.stdout
    # both piped: no bar, no escape codes anywhere
    piped = subprocess.run(_codec_cmd("encode", *paths, "-o", tmp_path / "pipe", "-c", "webp"),
                           capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stderr == "" and "\x1b" not in piped.stdout
    quiet = subprocess.run(_codec_cmd("encode", *paths, "-o", tmp_path / "q", "--quiet"),
                           capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert len(list((tmp_path / "q").glob("*.lvc"))) == 3


# ------------------------------------------------------------------ 5. early refusals
_PROBE = """
import sys
from lvc.cli.main import cli
try:
    cli.main(sys.argv[1:], prog_name="codec")
except SystemExit as e:
    code = e.code
heavy = sorted(m for m in sys.modules if m == "torch" or (  # networks, or a codec class
    m.startswith("lvc.codecs.") and m.rsplit(".", 1)[-1] in ("codec", "model")))
print("EXIT", code, "HEAVY", ",".join(heavy))
"""


def _probe(*args):
    proc = subprocess.run([sys.executable, "-c", _PROBE, *map(str, args)], capture_output=True,
                          text=True)
    exit_line = proc.stdout.strip().splitlines()[-1].split()
    return int(exit_line[1]), exit_line[3:], proc.stderr


def test_wrong_output_suffix_refused_before_any_model_loads(tmp_path):
    header = Header(codec="mlicv2-tiny", modality="image", shape=(64, 64, 3), dtype="uint8",
                    quality=2, fingerprint=b"\0\0\0\0")
    f = tmp_path / "model.lvc"
    f.write_bytes(pack(header, [b"not decoded", b"at all"]))
    for name, words in [("x.wav", "not an image format"), ("x.nii.gz", "NIfTI files hold "
                                                                        "volumes")]:
        code, heavy, err = _probe("decode", f, "-o", tmp_path / name)
        assert code == 3 and heavy == [] and words in err, (code, heavy, err)
        assert not (tmp_path / name).exists()


def test_wrong_codec_for_the_media_refused_before_its_model_loads(tmp_path):
    src = tmp_path / "vol.nii.gz"
    _nifti_with_everything(src)
    for codec in ("liveaction-hsi", "mlicv2-tiny"):
        code, heavy, err = _probe("encode", src, "-o", tmp_path / "v.lvc", "-c", codec)
        assert code == 3 and heavy == [] and "not volume" in err, (codec, code, heavy, err)
    assert not (tmp_path / "v.lvc").exists()


# ------------------------------------------------------------------ 6. quiet output
def _clean(proc):
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr
    for word in ("Warning", "warn(", "deprecated", "Traceback"):
        assert word not in text, text
    return proc


def test_no_library_warnings_in_cli_output(tmp_path):
    import soundfile as sf

    image = _images(tmp_path, 1)[0]
    x, rate = speech_like(1.0)
    sf.write(tmp_path / "s.wav", x, rate)
    for codec, src in [("liveaction-rgb", image), ("mlicv2-tiny", image),
                       ("liveaction-audio", tmp_path / "s.wav")]:
        dst = tmp_path / f"{codec}.lvc"
        _clean(subprocess.run(_codec_cmd("encode", src, "-o", dst, "-c", codec),
                              capture_output=True, text=True))
        out = tmp_path / f"{codec}.out{'.wav' if 'audio' in codec else '.png'}"
        _clean(subprocess.run(_codec_cmd("decode", dst, "-o", out),
                              capture_output=True, text=True))
    _clean(subprocess.run(_codec_cmd("info", dst), capture_output=True, text=True))
    _clean(subprocess.run(_codec_cmd("list"), capture_output=True, text=True))
    _clean(subprocess.run(_codec_cmd("iscs", "analyze", "mbt2018-mean-tiny:2"),
                          capture_output=True, text=True))


def test_cli_hides_library_warnings_but_honours_W():
    code = ("import warnings, sys\nfrom lvc.cli.main import cli\n"
            "try:\n    cli.main(['list', '--json'], prog_name='codec')\n"
            "except SystemExit:\n    pass\n"
            "warnings.warn('library notice', FutureWarning)\n")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "library notice" not in quiet.stderr
    loud = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                          text=True)
    assert "library notice" in loud.stderr


# ------------------------------------------------------------------ 7. wording
def test_cli_overwrite_error_names_the_flag_the_api_names_the_argument(tmp_path):
    image = _images(tmp_path, 1)[0]
    out = tmp_path / "a.lvc"
    ok(run("encode", image, "-o", out))
    result = run("encode", image, "-o", out)
    assert_user_error(result, 4)
    assert "use --force" in result.stderr and "overwrite=True" not in result.stderr
    from lvc.errors import OutputExistsError

    with pytest.raises(OutputExistsError, match="overwrite=True"):
        lvc.write(out, np.zeros((4, 4, 3), np.uint8))


def test_info_and_demo_say_image_sizes_the_same_way(tmp_path):
    result = ok(run("demo", "--out", tmp_path))
    assert "512x384 (W x H), 3 channels" in result.stdout
    info = ok(run("info", tmp_path / "sample.lvc"))
    assert "image 512x384 (W x H), 3 channels, uint8" in info.stdout
