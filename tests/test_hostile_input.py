"""Issue 21 regressions (part): header sample rates (D2), partial files on SIGTERM (D4),
output modes (D5), the no-clobber race (D6), encoding over its own input (D9) and
manifest entries (D10)."""

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import lvc
from lvc.errors import FormatError, ModelMismatchError, OutputExistsError
from lvc.formats.container import pack, unpack
from lvc.formats.files import PARTIAL, atomic_output, write_bytes_atomic

from cli_helpers import assert_user_error, run


def _audio_file(sr=16000):
    x = (np.sin(np.arange(1600) / 5) * 3000).astype(np.int16)
    return lvc.encode(x, codec="flac", sample_rate=sr)


def test_a_header_sample_rate_beyond_31_bits_is_a_format_error(tmp_path, monkeypatch):  # D2
    import lvc.formats.container as container

    header, streams = unpack(_audio_file())
    header.sample_rate = 2**31
    with pytest.raises(Exception, match="sample rate"):  # the writer refuses it
        pack(header, streams)
    with monkeypatch.context() as m:                     # a crafted file gets past it
        m.setattr(container, "MAX_SAMPLE_RATE", 2**40)
        crafted = pack(header, streams)
    with pytest.raises(FormatError, match="sample rate"):
        unpack(crafted)
    (tmp_path / "x.lvc").write_bytes(crafted)
    result = run("decode", tmp_path / "x.lvc", "-o", tmp_path / "x.wav")
    assert_user_error(result, 5)
    assert not (tmp_path / "x.wav").exists()


def test_sigterm_during_a_write_leaves_no_partial_file(tmp_path):            # D4
    code = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from lvc.formats.files import atomic_output, remove_partial_on_sigterm
        remove_partial_on_sigterm()
        with atomic_output(Path({str(tmp_path)!r}) / "big.png") as tmp:
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 128 + signal.SIGTERM
    assert sorted(os.listdir(tmp_path)) == []       # neither big.png nor a partial file


def test_partial_files_are_recognisable(tmp_path):
    with atomic_output(tmp_path / "big.png") as tmp:
        assert tmp.name.startswith(".big.png" + PARTIAL) and tmp.suffix == ".png"
        tmp.write_bytes(b"x")


def test_outputs_follow_the_umask_and_force_keeps_the_mode(tmp_path):       # D5
    old = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "a.lvc", b"1")
        assert stat.S_IMODE((tmp_path / "a.lvc").stat().st_mode) == 0o644
        os.umask(0o077)
        write_bytes_atomic(tmp_path / "b.lvc", b"1")
        assert stat.S_IMODE((tmp_path / "b.lvc").stat().st_mode) == 0o600
        (tmp_path / "a.lvc").chmod(0o640)
        write_bytes_atomic(tmp_path / "a.lvc", b"2", overwrite=True)
        assert stat.S_IMODE((tmp_path / "a.lvc").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_a_writer_that_loses_the_race_fails_and_the_winner_stays(tmp_path, monkeypatch):  # D6
    """Another process creates the file between our check and our rename."""
    target = tmp_path / "same.lvc"
    real_link, real_replace = os.link, os.replace

    def winner_first(fn):
        def racing(src, dst, *a, **k):
            if os.fspath(dst) == os.fspath(target) and not target.exists():
                target.write_bytes(b"winner")
            return fn(src, dst, *a, **k)
        return racing

    monkeypatch.setattr(os, "link", winner_first(real_link))
    monkeypatch.setattr(os, "replace", winner_first(real_replace))
    with pytest.raises(OutputExistsError):
        write_bytes_atomic(target, b"loser")
    assert target.read_bytes() == b"winner"
    assert [p.name for p in tmp_path.iterdir()] == ["same.lvc"]


def test_encode_never_writes_over_its_own_input(tmp_path):                 # D9
    src = tmp_path / "in.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(src)
    before = src.read_bytes()
    (tmp_path / "link.png").symlink_to(src)
    for out in (src, tmp_path / "." / "in.png", tmp_path / "link.png"):
        result = run("encode", src, "-o", out, "--force", "-c", "png")
        assert_user_error(result, 2)
        assert "input file itself" in result.stderr
        assert src.read_bytes() == before
    with pytest.raises(Exception, match="input file itself"):
        lvc.write(src, src, codec="png", overwrite=True)
    assert src.read_bytes() == before


@pytest.mark.parametrize("entry", [
    {"codec": "liveaction-rgb", "sha256": "0" * 64},                        # no file
    {"codec": "liveaction-rgb", "file": "../outside.safetensors", "sha256": "0" * 64},
    {"codec": "liveaction-rgb", "file": "/etc/passwd", "sha256": "0" * 64},
    {"codec": "liveaction-rgb", "file": "w.safetensors"},                 # no sha256
    "not an object",
])
def test_manifest_entries_are_validated(tmp_path, monkeypatch, entry):     # D10
    from lvc.codecs.manifest import read_manifest

    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "weights": [entry]}))
    with pytest.raises(ModelMismatchError, match="not a valid weights manifest"):
        read_manifest(tmp_path)
    monkeypatch.setenv("LVC_WEIGHTS_DIR", str(tmp_path))
    src = tmp_path / "in.png"
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(src)
    result = run("encode", src, "-o", tmp_path / "o.lvc", "-c", "liveaction-rgb")
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
