"""The file names of an image set, as codecs store them in their streams.

Names travel in a codec stream rather than the header's JSON metadata so they are
compressed with the rest (thousands of ``00042.png`` cost a few bytes each, not
twelve). Every archive codec uses these helpers, so the layout and the checks are
the same everywhere: a stored name must be a plain file name, because ``codec
decode`` writes it inside an output directory and must never be led outside it.
"""

from __future__ import annotations

import lzma
import unicodedata

from ..errors import BadInputError, CorruptStreamError

MAX_NAME_BYTES = 255  # the usual file-system limit for one path component
# raw LZMA2 (no container header) with fixed settings: small and deterministic output
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 22}]
_FORBIDDEN = ("/", "\\", "\0", "\n")


def safe_name(name, error=BadInputError) -> str:
    """``name`` if it is a plain file name (no directory part, no '.'/'..', no NUL or
    newline, 1..255 bytes of UTF-8), else raise ``error`` (BadInputError when the caller
    gave it, CorruptStreamError when it came out of a file)."""
    if not isinstance(name, str) or not name:
        raise error(f"image name {name!r} is not a non-empty string")
    if name in (".", "..") or any(c in name for c in _FORBIDDEN):
        raise error(f"image name {name!r} is not a plain file name")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        # terminal escapes, carriage returns, bidi overrides: never echoed or written
        raise error(f"image name {name!r} holds control characters")
    if name.startswith("-"):
        raise error(f"image name {name!r} starts with '-' (read as an option by tools)")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise error(f"image name {name!r} is not valid UTF-8") from None
    if size > MAX_NAME_BYTES:
        raise error(f"image name {name[:40]!r}... is longer than {MAX_NAME_BYTES} bytes")
    return name


def check_names(names, count: int | None = None, error=BadInputError) -> list:
    """``names`` as a list of distinct safe names (``count`` of them unless None), else
    raise ``error``."""
    if not isinstance(names, (list, tuple)):
        raise error(f"image names must be a list of strings, not {type(names).__name__}")
    if count is not None and len(names) != count:
        raise error(f"{len(names)} image names for {count} images")
    seen = {}
    for name in names:
        key = fold(safe_name(name, error))
        if key in seen:
            same = "twice" if seen[key] == name else f"twice ({seen[key]!r} and {name!r} are " \
                "one file on case-insensitive or normalising file systems)"
            raise error(f"image name {name!r} appears {same}")
        seen[key] = name
    return list(names)


def fold(name: str) -> str:
    """The key two names collide on: Unicode NFC, case-folded (macOS, Windows)."""
    return unicodedata.normalize("NFC", name).casefold()


def pack_names(names) -> bytes:
    """Names as one stream: UTF-8, newline-joined, LZMA-compressed (``[]`` -> ``b""``)."""
    names = check_names(names)
    if not names:
        return b""
    return lzma.compress("\n".join(names).encode("utf-8"), lzma.FORMAT_RAW, filters=_FILTERS)


def unpack_names(data: bytes, count: int) -> list:
    """The ``count`` names packed in ``data``; ``CorruptStreamError`` on anything else."""
    if not data:
        if count:
            raise CorruptStreamError(f"image names stream is empty, {count} names expected")
        return []
    d = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_FILTERS)
    limit = count * (MAX_NAME_BYTES + 1)  # bounds the output: no decompression bomb
    try:
        text = d.decompress(bytes(data), max_length=limit + 1)
    except lzma.LZMAError:
        raise CorruptStreamError("image names stream is corrupt") from None
    if not d.eof or d.unused_data or len(text) > limit:
        raise CorruptStreamError("image names stream is corrupt (bad length)")
    try:
        names = text.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise CorruptStreamError("image names stream is corrupt (not UTF-8)") from None
    return check_names(names, count, CorruptStreamError)
