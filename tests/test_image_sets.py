"""Image sets ("archives"): many same-size images in one .lvc file, through the API
and the CLI, with the run-time codec ``toy-set`` (tests/toy_codec.py)."""

from __future__ import annotations

import json
import lzma
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lvc
from lvc.codecs import codec_info
from lvc.errors import BadInputError, CorruptStreamError, ModelMismatchError, \
    UnsupportedMediaError
from lvc.formats import names as names_mod
from lvc.formats.container import MODALITIES, pack, read_header, unpack
from lvc.formats.io import write_image_set
from lvc.formats.media import Media, as_image_set, check_layout
from lvc.formats.names import pack_names, safe_name, unpack_names

import toy_codec  # noqa: F401  (registers "toy-lossless" and "toy-set")

TESTS = Path(__file__).parent


def stack(n=5, h=12, w=10, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w), dtype=np.uint8)


from cli_helpers import assert_user_error, ok, run  # noqa: E402


def tree(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def src(tmp_path):
    """A folder of gray images of one size: PNGs and a PGM, plus a non-media file."""
    folder = tmp_path / "src"
    folder.mkdir()
    for i, image in enumerate(stack(4)):
        Image.fromarray(image).save(folder / (f"d{i}.pgm" if i == 3 else f"d{i}.png"))
    (folder / "notes.txt").write_text("not media")
    return folder


def read_folder(folder: Path) -> dict:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.iterdir())
            if p.suffix != ".txt"}


# ------------------------------------------------------------------ names stream
def test_names_round_trip_and_determinism():
    names = [f"{i:05d}.png" for i in range(1000)] + ["été ü.pgm", ".hidden.png"]
    data = pack_names(names)
    assert data == pack_names(names) and len(data) < 2000
    assert unpack_names(data, len(names)) == names
    assert pack_names([]) == b"" and unpack_names(b"", 0) == []


@pytest.mark.parametrize("name", ["", ".", "..", "a/b.png", "a\\b", "a\0b", "a\nb",
                                  "x" * 256, "\udcff.png", 7])
def test_unsafe_names_are_refused(name):
    with pytest.raises(BadInputError):
        safe_name(name)
    with pytest.raises(CorruptStreamError):
        safe_name(name, CorruptStreamError)
    assert safe_name("é" * 127 + ".") == "é" * 127 + "."  # 255 bytes is fine


def test_bad_names_streams_are_corrupt():
    data = pack_names(["a.png", "b.png"])
    bad_payloads = [data[:-1], b"\x00garbage", data + b"x", b"",
                    lzma.compress(b"a.png\n../b.png", lzma.FORMAT_RAW,
                                  filters=names_mod._FILTERS),
                    lzma.compress(b"a.png\na.png", lzma.FORMAT_RAW, filters=names_mod._FILTERS)]
    for payload in bad_payloads:
        with pytest.raises(CorruptStreamError):
            unpack_names(payload, 2)
    for count in (0, 1, 3):
        with pytest.raises(CorruptStreamError):
            unpack_names(data, count)
    with pytest.raises(BadInputError):
        pack_names(["a.png", "a.png"])


# ------------------------------------------------------------------ media layout
def test_image_set_layout():
    assert MODALITIES.index("images") == 4 and MODALITIES[:4] == (
        "image", "audio", "volume", "hyperspectral")  # existing header bytes unchanged
    assert check_layout("images", (3, 4, 5), "uint8") is None
    assert check_layout("images", (3, 4, 5, 3), "uint16") is None
    for shape, dtype in (((4, 5), "uint8"), ((3, 4, 5, 1), "uint8"), ((3, 4, 5, 5), "uint8"),
                         ((0, 4, 5), "uint8"), ((3, 4, 5), "float32")):
        assert check_layout("images", shape, dtype)

    images = stack(3)
    media = as_image_set(list(images[:, :, :, None]), names=["a", "b", "c"])
    assert media.modality == "images" and media.shape == (3, 12, 10)
    assert media.metadata == {"names": ["a", "b", "c"]} and media.num_pixels == 3 * 12 * 10
    assert as_image_set(images).metadata == {}
    rgb = np.zeros((2, 4, 5, 3), np.uint8)
    assert as_image_set(rgb).shape == (2, 4, 5, 3)


@pytest.mark.parametrize("images,names,error,text", [
    ([], None, BadInputError, "at least one"),
    ([np.zeros((4, 5), np.uint8), np.zeros((5, 4), np.uint8)], ["a", "b"],
     UnsupportedMediaError, "b is 4x5 but a is 5x4"),
    ([np.zeros((4, 5), np.uint8), np.zeros((4, 5, 3), np.uint8)], None,
     UnsupportedMediaError, "one layout"),
    ([np.zeros((4, 5), np.uint8), np.zeros((4, 5), np.uint16)], None,
     UnsupportedMediaError, "one layout"),
    ([np.zeros((4, 5), np.float32)], None, UnsupportedMediaError, "uint8 or uint16"),
    (np.zeros((4, 5), np.uint8), None, UnsupportedMediaError, "NxHxW"),
    ([np.zeros((4, 5), np.uint8)] * 2, ["a"], BadInputError, "1 image names for 2"),
    ([np.zeros((4, 5), np.uint8)] * 2, ["a", "a"], BadInputError, "twice"),
    ([np.zeros((4, 5), np.uint8)], ["../a"], BadInputError, "plain file name"),
    ([np.zeros((4, 5), np.uint8)], "a", BadInputError, "list of strings"),
])
def test_bad_image_sets(images, names, error, text):
    with pytest.raises(error, match=text) as e:
        as_image_set(images, names)
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------ Python API
def test_api_round_trip_with_and_without_names():
    images = stack()
    names = [f"img{i}.png" for i in range(5)]
    data = lvc.encode_images(images, names, codec="toy-set")
    out, got_names = lvc.decode_images(data)
    np.testing.assert_array_equal(out, images)
    assert got_names == names
    media = lvc.decode_media(data)  # header metadata and codec-decoded names merge
    assert media.modality == "images" and set(media.metadata) == {"scale_index", "names"}

    data = lvc.encode_images(list(images), codec="toy-set")
    out, got_names = lvc.decode_images(data)
    np.testing.assert_array_equal(out, images)
    assert got_names is None
    # lvc.encode takes an image-set Media directly, with the same bytes
    assert lvc.encode(Media(images, "images"), codec="toy-set") == data
    assert lvc.decode(data).shape == (5, 12, 10)


def test_fingerprint_depends_on_the_image_size(monkeypatch):
    a = read_header(lvc.encode_images(stack(2, 12, 10), codec="toy-set")).fingerprint
    b = read_header(lvc.encode_images(stack(3, 12, 10), codec="toy-set")).fingerprint
    c = read_header(lvc.encode_images(stack(2, 10, 12), codec="toy-set")).fingerprint
    assert a == b != c
    data = lvc.encode_images(stack(2), codec="toy-set")
    codec = lvc.get_codec("toy-set")
    monkeypatch.setattr(type(codec), "fingerprint_for", lambda self, shape: b"\xde\xad\xbe\xef")
    with pytest.raises(ModelMismatchError):
        lvc.decode_images(data)


def test_api_errors():
    with pytest.raises(UnsupportedMediaError, match="packs no archives"):
        lvc.encode_images(stack(), codec="toy-lossless")
    with pytest.raises(BadInputError, match="pc-hclt has no model for 12x10"):
        lvc.encode_images(stack())  # the default image-set codec, pc-hclt, is size-bound
    with pytest.raises(BadInputError, match="not an image set"):
        lvc.decode_images(lvc.encode(stack()[0], codec="toy-lossless"))
    assert codec_info("toy-set").archives and not codec_info("toy-lossless").archives
    assert {r["id"]: r["archives"] for r in lvc.list_codecs()}["toy-set"] is True


def _with_names_stream(data: bytes, text: bytes) -> bytes:
    header, streams = unpack(data)
    return pack(header, [streams[0], lzma.compress(text, lzma.FORMAT_RAW,
                                                  filters=names_mod._FILTERS)])


def test_unsafe_stored_names_are_corrupt(tmp_path):
    data = _with_names_stream(lvc.encode_images(stack(2), ["a.png", "b.png"], codec="toy-set"),
                              b"a.png\n../../evil.png")
    with pytest.raises(CorruptStreamError):
        lvc.decode_images(data)
    (tmp_path / "evil.lvc").write_bytes(data)
    assert_user_error(run("decode", tmp_path / "evil.lvc", "-o", tmp_path / "out"), 5)
    assert tree(tmp_path) == ["evil.lvc"]


def test_write_image_set_is_all_or_nothing(tmp_path):
    images = np.zeros((2, 4, 5), np.uint16)  # 16-bit: PNG holds it, BMP cannot
    with pytest.raises(UnsupportedMediaError):
        write_image_set(tmp_path / "out", as_image_set(images, ["a.png", "b.bmp"]))
    assert tree(tmp_path) == []
    with pytest.raises(BadInputError, match="two images"):
        write_image_set(tmp_path / "out", as_image_set(images, ["a", "a.png"]))
    paths = write_image_set(tmp_path / "out", as_image_set(images, ["a", "b.tif"]))
    assert [p.name for p in paths] == ["a.png", "b.tif"] and tree(tmp_path) == [
        "out", "out/a.png", "out/b.tif"]


# ------------------------------------------------------------------ CLI
def test_cli_archive_round_trip(tmp_path, src):
    archive = tmp_path / "a.lvc"
    result = ok(run("encode", src, "-o", archive, "-c", "toy-set"))
    assert "4 images" in result.stdout and "bpp" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.lvc", "src"]  # one file

    fields = json.loads(ok(run("info", archive, "--json")).stdout)
    assert fields["modality"] == "images" and fields["shape"] == [4, 12, 10]
    assert fields["bpp"] == pytest.approx(8 * archive.stat().st_size / (4 * 12 * 10))

    result = ok(run("decode", archive, "-o", tmp_path / "out"))
    originals, decoded = read_folder(src), read_folder(tmp_path / "out")
    assert list(decoded) == ["d0.png", "d1.png", "d2.png", "d3.pgm"] == list(originals)
    for name, image in originals.items():
        np.testing.assert_array_equal(decoded[name], image)
    assert Image.open(tmp_path / "out" / "d3.pgm").format == "PPM"

    ok(run("decode", archive))  # default: <stem>/ next to the input
    assert list(read_folder(tmp_path / "a")) == list(originals)


def test_cli_glob_json_and_unnamed_sets(tmp_path, src):
    result = ok(run("encode", str(src / "*.png"), "-o", tmp_path / "b.LVC", "-c", "toy-set",
                    "--json"))
    (row,) = json.loads(result.stdout)
    size = (tmp_path / "b.LVC").stat().st_size
    assert row["images"] == 3 and row["bytes"] == size and row["error"] is None
    assert row["bpp"] == pytest.approx(8 * size / (3 * 12 * 10))

    (tmp_path / "u.lvc").write_bytes(lvc.encode_images(stack(3), codec="toy-set"))
    (tmp_path / "out").mkdir()
    ok(run("decode", tmp_path / "u.lvc", tmp_path / "b.LVC", "-o", tmp_path / "out"))
    assert tree(tmp_path / "out") == ["b", "b/d0.png", "b/d1.png", "b/d2.png",
                                      "u", "u/00000.png", "u/00001.png", "u/00002.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out/u/00001.png")),
                                  stack(3)[1])


def test_cli_archive_input_errors(tmp_path, src):
    archive = tmp_path / "a.lvc"
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(stack(1)[0]).save(mixed / "a.png")
    Image.fromarray(stack(1, 10, 12)[0]).save(mixed / "b.png")
    assert_user_error(run("encode", mixed, "-o", archive, "-c", "toy-set"), 3)

    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(stack(1)[0]).save(other / "d0.png")
    result = run("encode", src, other, "-o", archive, "-c", "toy-set")
    assert_user_error(result, 2)
    assert "unique" in result.stderr

    rgb = tmp_path / "rgb"
    rgb.mkdir()
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(rgb / "c.png")
    assert_user_error(run("encode", str(rgb / "*.png"), src / "d0.png", "-o", archive,
                          "-c", "toy-set"), 3)
    assert not archive.exists()

    archive.write_bytes(b"precious")
    assert_user_error(run("encode", src, "-o", archive, "-c", "toy-set"), 4)
    assert archive.read_bytes() == b"precious"
    ok(run("encode", src, "-o", archive, "-c", "toy-set", "--force"))
    assert archive.read_bytes()[:4] == b"\x89LVC"


def test_cli_decode_never_writes_part_of_a_set(tmp_path, src):
    archive = tmp_path / "a.lvc"
    ok(run("encode", src, "-o", archive, "-c", "toy-set"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "d2.png").write_bytes(b"precious")
    assert_user_error(run("decode", archive, "-o", out), 4)
    assert tree(out) == ["d2.png"] and (out / "d2.png").read_bytes() == b"precious"
    ok(run("decode", archive, "-o", out, "--force"))
    assert tree(out) == ["d0.png", "d1.png", "d2.png", "d3.pgm"]

    (tmp_path / "file").write_text("x")
    assert_user_error(run("decode", archive, "-o", tmp_path / "file"), 2)


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_cli_damaged_archive(tmp_path, src, damage):
    archive = tmp_path / "a.lvc"
    ok(run("encode", src, "-o", archive, "-c", "toy-set"))
    data = archive.read_bytes()
    bad = data[: len(data) // 2] if damage == "truncated" else \
        data[:-40] + bytes([data[-40] ^ 0x55]) + data[-39:]
    archive.write_bytes(bad)
    assert_user_error(run("decode", archive, "-o", tmp_path / "out"), 5)
    assert not (tmp_path / "out").exists() and not (tmp_path / "a").exists()


def test_codec_without_archives_keeps_per_file_batches(tmp_path, src):
    ok(run("encode", src, "-o", tmp_path / "x.lvc", "-c", "toy-lossless"))
    assert tree(tmp_path / "x.lvc") == ["d0.lvc", "d1.lvc", "d2.lvc", "d3.lvc"]
    # an archive codec without an .lvc OUT also keeps the per-file path
    result = run("encode", src / "d0.png", "-o", tmp_path / "one.lvc", "-c", "toy-set")
    assert_user_error(result, 3)
    assert "sets of gray uint8 images" in result.stderr


def test_real_processes(tmp_path, src):
    """`python -m lvc info` reads an archive without its codec; a damaged archive fails
    in a real process with one line and the documented code."""
    archive = tmp_path / "a.lvc"
    ok(run("encode", src, "-o", archive, "-c", "toy-set"))
    proc = subprocess.run([sys.executable, "-m", "lvc", "info", archive, "--json"],
                          capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout)["shape"] == [4, 12, 10]

    archive.write_bytes(archive.read_bytes()[:-3])
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import toy_codec; "
            "from lvc.cli.main import main; main(sys.argv[1:])")
    proc = subprocess.run([sys.executable, "-c", code, "decode", archive, "-o", tmp_path / "o"],
                          capture_output=True, text=True)
    assert proc.returncode == 5 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
