"""The versioned ``.lvc`` container: header + entropy-coded (or native) streams.

Byte layout in ``SPEC.md`` next to this file. Design points: the magic decides the
format (no extension needed); the header is protected by a CRC-16 and every stream
by a CRC-32; declared sizes are checked against ``Limits`` and against the bytes
actually present *before* anything is allocated; a newer major version is refused
with its own error, a newer minor version is read (unknown trailing header fields
are skipped via ``header_size``).
"""

from __future__ import annotations

import binascii
import json
import math
import zlib
from dataclasses import dataclass, field

from ..errors import (
    BadInputError,
    ChecksumError,
    FormatError,
    LimitError,
    NotLVCError,
    TruncatedError,
    VersionError,
)
from .codec_tags import codec_for_tag, tag_for_codec

MAGIC = b"\x89LVC"
MAJOR = 1
MINOR = 0

MODALITIES = ("image", "audio", "volume", "hyperspectral", "images")  # index = header nibble
DTYPES = ("uint8", "uint16", "int16", "int32", "float32", "float64", "int8", "uint32", "float16")

_F_FINGERPRINT, _F_SAMPLE_RATE, _F_METADATA = 1, 2, 4
_KNOWN_FLAGS = _F_FINGERPRINT | _F_SAMPLE_RATE | _F_METADATA
FINGERPRINT_BYTES = 4
MAX_SAMPLE_RATE = 2**31 - 1  # what WAV/FLAC headers and libsndfile can hold


@dataclass(frozen=True)
class Limits:
    """What a reader accepts before allocating anything (decompression-bomb guard)."""

    max_elements: int = 1 << 30  # product of the declared shape
    max_ndim: int = 8
    max_streams: int = 4096
    max_metadata: int = 1 << 20  # bytes of metadata JSON
    max_codec_id: int = 64


DEFAULT_LIMITS = Limits()


@dataclass
class Header:
    """Everything needed to pick a codec and decode, plus free-form metadata."""

    codec: str
    modality: str
    shape: tuple
    dtype: str
    quality: int = 0
    fingerprint: bytes | None = None
    sample_rate: int | None = None
    metadata: dict = field(default_factory=dict)
    version: tuple = (MAJOR, MINOR)
    stream_lengths: tuple = ()
    stream_crcs: tuple = ()
    header_size: int = 0

    @property
    def num_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


# ------------------------------------------------------------------ varints
def _uvarint(n: int) -> bytes:
    if n < 0:
        raise FormatError(f"cannot store negative value {n} as unsigned varint")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) if n >= 0 else ((-n << 1) - 1)


def _unzigzag(n: int) -> int:
    return (n >> 1) if not n & 1 else -((n + 1) >> 1)


class _Reader:
    """Bounds-checked cursor: running past the end is a ``TruncatedError``."""

    def __init__(self, data, pos: int = 0, end: int | None = None, what: str = "header"):
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end
        self.what = what

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise TruncatedError(f"file is truncated (ends inside the {self.what})")
        out = bytes(self.data[self.pos: self.pos + n])
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def uvarint(self) -> int:
        n, shift = 0, 0
        for _ in range(10):
            b = self.u8()
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
        raise FormatError(f"corrupt {self.what} (varint too long)")


# ------------------------------------------------------------------ write
def pack(header: Header, streams, limits: Limits | None = None) -> bytes:
    """Serialise a header and its streams into one ``.lvc`` byte string; what a reader
    with ``limits`` (default ``DEFAULT_LIMITS``) would refuse is refused here."""
    limits = limits or DEFAULT_LIMITS
    if header.modality not in MODALITIES:
        raise FormatError(f"unknown modality {header.modality!r}")
    if header.dtype not in DTYPES:
        raise FormatError(f"unsupported dtype {header.dtype!r}")
    total = math.prod(int(d) for d in header.shape)
    if total > limits.max_elements or len(header.shape) > limits.max_ndim:
        raise BadInputError(f"{'x'.join(map(str, header.shape))} is beyond what an .lvc file "
                            f"holds ({limits.max_elements} elements, "
                            f"{limits.max_ndim} dimensions)")
    if len(streams) > limits.max_streams:
        raise BadInputError(f"{len(streams)} streams, more than an .lvc file holds "
                            f"({limits.max_streams})")
    streams = [bytes(s) for s in streams]
    flags = 0
    body = bytearray()
    tag = tag_for_codec(header.codec)
    if tag:
        body += _uvarint(tag)
    else:
        cid = header.codec.encode("ascii")
        if not 0 < len(cid) <= DEFAULT_LIMITS.max_codec_id:
            raise FormatError("codec id must be 1..64 ASCII characters")
        body += b"\x00" + bytes([len(cid)]) + cid
    body.append(MODALITIES.index(header.modality) << 4 | DTYPES.index(header.dtype))
    body += _uvarint(_zigzag(int(header.quality)))
    if len(header.shape) > DEFAULT_LIMITS.max_ndim:
        raise FormatError(f"at most {DEFAULT_LIMITS.max_ndim} dimensions")
    body.append(len(header.shape))
    for d in header.shape:
        body += _uvarint(int(d))
    if header.fingerprint is not None:
        if len(header.fingerprint) != FINGERPRINT_BYTES:
            raise FormatError(f"weights fingerprint must be {FINGERPRINT_BYTES} bytes")
        flags |= _F_FINGERPRINT
        body += header.fingerprint
    if header.sample_rate is not None:
        if not 0 < int(header.sample_rate) <= MAX_SAMPLE_RATE:
            raise BadInputError(f"sample rate {header.sample_rate} is outside 1..{MAX_SAMPLE_RATE}")
        flags |= _F_SAMPLE_RATE
        body += _uvarint(int(header.sample_rate))
    if header.metadata:
        meta = json.dumps(header.metadata, separators=(",", ":"), sort_keys=True).encode()
        flags |= _F_METADATA
        body += _uvarint(len(meta)) + meta
    body += _uvarint(len(streams))
    for s in streams:
        body += _uvarint(len(s)) + zlib.crc32(s).to_bytes(4, "little")
    fixed = MAGIC + bytes([MAJOR, MINOR])
    rest = bytes([flags]) + bytes(body) + b"\x00\x00"  # CRC placeholder
    width = 1  # the header_size field counts its own bytes
    while len(_uvarint(len(fixed) + width + len(rest))) != width:
        width += 1
    size_field = _uvarint(len(fixed) + width + len(rest))
    head = fixed + size_field + rest[:-2]
    head += binascii.crc_hqx(head, 0).to_bytes(2, "little")
    return head + b"".join(streams)


# ------------------------------------------------------------------ read
def unpack(data, limits: Limits = DEFAULT_LIMITS, verify: bool = True):
    """Parse ``data`` into ``(Header, [stream bytes])``, verifying every checksum."""
    header = read_header(data, limits)
    streams, pos = [], header.header_size
    for n, crc in zip(header.stream_lengths, header.stream_crcs):
        s = bytes(data[pos: pos + n])
        if verify and zlib.crc32(s) != crc:
            raise ChecksumError(f"stream {len(streams)} checksum mismatch: the file is corrupt")
        streams.append(s)
        pos += n
    return header, streams


def read_header(data, limits: Limits = DEFAULT_LIMITS) -> Header:
    """Parse and validate the header only (sizes, limits, header CRC); streams untouched."""
    r = _Reader(data)
    if len(data) < len(MAGIC) or bytes(data[:4]) != MAGIC:
        if len(data) < len(MAGIC) and MAGIC.startswith(bytes(data)) and len(data):
            raise TruncatedError("file is truncated (ends inside the magic bytes)")
        raise NotLVCError("not an .lvc file (bad magic bytes)")
    r.pos = 4
    major, minor = r.u8(), r.u8()
    if major > MAJOR:
        raise VersionError(f"file uses .lvc format {major}.{minor}; this lvc reads up to {MAJOR}.x: "
                           "upgrade lvc")
    if major < 1:
        raise FormatError(f"invalid .lvc format version {major}.{minor}")
    header_size = r.uvarint()
    if header_size < r.pos + 3:
        raise FormatError("corrupt header (impossible header size)")
    if header_size > len(data):
        raise TruncatedError("file is truncated (ends inside the header)")
    stored = int.from_bytes(bytes(data[header_size - 2: header_size]), "little")
    if binascii.crc_hqx(bytes(data[: header_size - 2]), 0) != stored:
        raise ChecksumError("header checksum mismatch: the file is corrupt")
    r.end = header_size - 2
    flags = r.u8()
    if flags & ~_KNOWN_FLAGS:
        raise FormatError("corrupt header (unknown flags)")
    tag = r.uvarint()
    if tag:
        codec = codec_for_tag(tag)
    else:
        n = r.u8()
        if not 0 < n <= limits.max_codec_id:
            raise FormatError("corrupt header (bad codec id length)")
        try:
            codec = r.take(n).decode("ascii")
        except UnicodeDecodeError:
            raise FormatError("corrupt header (codec id is not ASCII)") from None
    md = r.u8()
    if md >> 4 >= len(MODALITIES) or md & 15 >= len(DTYPES):
        raise FormatError("corrupt header (unknown modality or dtype)")
    quality = _unzigzag(r.uvarint())
    ndim = r.u8()
    if ndim > limits.max_ndim:
        raise LimitError(f"declared {ndim} dimensions, more than the limit {limits.max_ndim}")
    shape, total = [], 1
    for _ in range(ndim):
        d = r.uvarint()
        shape.append(d)
        total *= d
        if total > limits.max_elements:
            raise LimitError(f"declared size {'x'.join(map(str, shape))}... exceeds the safety "
                             f"limit of {limits.max_elements} elements")
    fingerprint = r.take(FINGERPRINT_BYTES) if flags & _F_FINGERPRINT else None
    sample_rate = r.uvarint() if flags & _F_SAMPLE_RATE else None
    if sample_rate is not None and not 0 < sample_rate <= MAX_SAMPLE_RATE:
        raise FormatError(f"corrupt header (sample rate {sample_rate} outside 1..{MAX_SAMPLE_RATE})")
    metadata = {}
    if flags & _F_METADATA:
        n = r.uvarint()
        if n > limits.max_metadata:
            raise LimitError(f"metadata of {n} bytes exceeds the limit {limits.max_metadata}")
        try:
            metadata = json.loads(r.take(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise FormatError("corrupt header (metadata is not valid JSON)") from None
        if not isinstance(metadata, dict):
            raise FormatError("corrupt header (metadata is not a mapping)")
    nstreams = r.uvarint()
    if nstreams > limits.max_streams:
        raise LimitError(f"declared {nstreams} streams, more than the limit {limits.max_streams}")
    lengths, crcs = [], []
    for _ in range(nstreams):
        lengths.append(r.uvarint())
        crcs.append(int.from_bytes(r.take(4), "little"))
    # fields added by later minor versions sit between here and the header CRC: skipped
    payload = len(data) - header_size
    if sum(lengths) > payload:
        raise TruncatedError(f"file is truncated: streams declare {sum(lengths)} bytes, "
                             f"{payload} present")
    if sum(lengths) < payload:
        raise FormatError(f"{payload - sum(lengths)} unexpected bytes after the last stream")
    return Header(codec=codec, modality=MODALITIES[md >> 4], shape=tuple(shape),
                  dtype=DTYPES[md & 15], quality=quality, fingerprint=fingerprint,
                  sample_rate=sample_rate, metadata=metadata, version=(major, minor),
                  stream_lengths=tuple(lengths), stream_crcs=tuple(crcs),
                  header_size=header_size)


def is_lvc(data) -> bool:
    """True when ``data`` starts with the .lvc magic bytes."""
    return bytes(data[:4]) == MAGIC
