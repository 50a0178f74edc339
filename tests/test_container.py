"""The .lvc container: field round trips, size, and one distinct error per failure."""

import binascii

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lvc
from lvc.errors import (
    ChecksumError,
    FormatError,
    LimitError,
    ModelMismatchError,
    NotLVCError,
    TruncatedError,
    UnknownCodecError,
    VersionError,
)
from lvc.formats.container import DTYPES, MODALITIES, Header, Limits, pack, read_header, unpack

import toy_codec  # noqa: F401  (registers "toy-lossless")


def recrc(data: bytes) -> bytes:
    """Recompute the header CRC after a test edits header bytes (so the edit is 'valid')."""
    hs, shift, pos = 0, 0, 6
    while True:
        b = data[pos]
        hs |= (b & 0x7F) << shift
        pos += 1
        shift += 7
        if not b & 0x80:
            break
    body = bytearray(data[: hs - 2])
    return bytes(body) + binascii.crc_hqx(bytes(body), 0).to_bytes(2, "little") + data[hs:]


headers = st.builds(
    Header,
    codec=st.one_of(st.sampled_from(["png", "jpeg", "flac", "mp3"]),
                    st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=64)),
    modality=st.sampled_from(MODALITIES),
    shape=st.lists(st.integers(0, 70000), max_size=8).map(tuple),
    dtype=st.sampled_from(DTYPES),
    quality=st.integers(-(2**40), 2**40),
    fingerprint=st.one_of(st.none(), st.binary(min_size=4, max_size=4)),
    sample_rate=st.one_of(st.none(), st.integers(1, 10**6)),
    metadata=st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8)),
                             max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(headers, st.lists(st.binary(max_size=300), max_size=5))
def test_header_fields_round_trip(h, streams):
    data = pack(h, streams, Limits(max_elements=2**200))
    got, out = unpack(data, Limits(max_elements=2**200))
    for f in ("codec", "modality", "shape", "dtype", "quality", "fingerprint", "sample_rate",
              "metadata"):
        assert getattr(got, f) == getattr(h, f), f
    assert out == streams
    assert got.header_size + sum(map(len, streams)) == len(data)


def test_header_overhead_is_small():
    """At most 32 header bytes for a single-stream RGB image (Kodak size), fingerprint included."""
    for codec, fp in (("jpeg", None), ("webp", None), ("png", b"\x01\x02\x03\x04")):
        for payload in (2400, 40000):
            h = Header(codec, "image", (512, 768, 3), "uint8", 75, fingerprint=fp)
            assert len(pack(h, [b"x" * payload])) - payload <= 32


def _file():
    x = np.arange(24 * 20 * 3, dtype=np.uint8).reshape(24, 20, 3)
    return x, lvc.encode(x, codec="toy-lossless")


def test_decode_happy_path_and_distinct_errors(monkeypatch):
    x, data = _file()
    np.testing.assert_array_equal(lvc.decode(data), x)

    with pytest.raises(NotLVCError):
        lvc.decode(b"\x89PNG\r\n\x1a\n" + data[8:])
    with pytest.raises(NotLVCError):
        lvc.decode(b"")
    with pytest.raises(TruncatedError):
        lvc.decode(data[:3])
    with pytest.raises(TruncatedError):
        lvc.decode(data[:10])  # inside the header
    with pytest.raises(TruncatedError):
        lvc.decode(data[:-1])  # inside the stream
    with pytest.raises(FormatError):
        lvc.decode(data + b"\x00")  # trailing bytes

    newer = recrc(data[:4] + bytes([2, 0]) + data[6:])
    with pytest.raises(VersionError):
        lvc.decode(newer)

    flipped = bytearray(data)
    flipped[-5] ^= 1
    with pytest.raises(ChecksumError):
        lvc.decode(bytes(flipped))
    hdr = bytearray(data)
    hdr[9] ^= 0x40
    with pytest.raises(ChecksumError):
        lvc.decode(bytes(hdr))

    unknown = Header("no-such-codec", "image", x.shape, "uint8")
    with pytest.raises(UnknownCodecError):
        lvc.decode(pack(unknown, [b""]))

    codec = lvc.get_codec("toy-lossless")
    monkeypatch.setattr(type(codec), "fingerprint", lambda self: b"\xde\xad\xbe\xef")
    with pytest.raises(ModelMismatchError):
        lvc.decode(data)


def test_absurd_declared_sizes_are_refused_before_allocation():
    craft = Limits(max_elements=2**200, max_streams=10**6)  # pack refuses them otherwise
    for shape in ((10**6, 10**6, 3), (2**31, 2**31), (1,) * 9):
        h = Header("png", "image", shape, "uint8") if len(shape) <= 8 else None
        if h is None:
            data = pack(Header("png", "image", (1,) * 8, "uint8"), [b""])
            data = recrc(data.replace(bytes([8]) + b"\x01" * 8, bytes([9]) + b"\x01" * 9, 1))
        else:
            data = pack(h, [b""], craft)
        with pytest.raises(LimitError):
            lvc.decode(data)
    many = pack(Header("png", "image", (4, 4), "uint8"), [b""] * 5000, craft)
    with pytest.raises(LimitError):
        read_header(many)
    with pytest.raises(LimitError):
        read_header(pack(Header("png", "image", (64, 64), "uint8"), [b""]), Limits(max_elements=100))


def test_newer_minor_version_with_extra_fields_is_readable():
    x, data = _file()
    hs = data[6]  # one-byte header_size for this small file
    assert hs < 0x80
    extra = b"\x07future"  # a field a 1.1 writer might append before the header CRC
    new = bytearray(data[:4] + bytes([1, 1, hs + len(extra)]) + data[7: hs - 2] + extra
                    + b"\0\0" + data[hs:])
    np.testing.assert_array_equal(lvc.decode(recrc(bytes(new))), x)
    assert read_header(recrc(bytes(new))).version == (1, 1)


def test_unknown_codec_tag_is_unknown_codec():
    data = pack(Header("png", "image", (2, 2), "uint8"), [b""])
    hs = data[6]
    patched = bytearray(data)
    patched[8] = 0x7E  # tag byte right after flags
    with pytest.raises(UnknownCodecError):
        read_header(recrc(bytes(patched)))
    assert hs == len(data)
