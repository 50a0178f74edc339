"""What the CLI prints: rates from file sizes, per-file result rows, ``info`` fields.

Rates always count the whole ``.lvc`` file (header included), as DESIGN.md asks
for bpp, so numbers printed here match the RD evaluation.
"""

from __future__ import annotations

import zlib

from ..formats.container import Header
from ..formats.media import pixel_count


def rate(header: Header, nbytes: int) -> dict:
    """``{"bpp": ...}`` for images (bits / H*W) and image sets (bits / N*H*W),
    ``{"kbps": ...}`` for audio (bits / duration), ``{"bits_per_sample": ...}``
    otherwise; the value is None if undefined."""
    bits, shape = 8 * nbytes, header.shape
    if header.modality in ("image", "images"):
        pixels = pixel_count(header.modality, shape)
        return {"bpp": bits / pixels if pixels else None}
    if header.modality == "audio":
        seconds = shape[0] / header.sample_rate if shape and header.sample_rate else 0
        return {"kbps": bits / seconds / 1000 if seconds else None}
    n = header.num_elements
    return {"bits_per_sample": bits / n if n else None}


def format_rate(row: dict) -> str:
    for key, unit in (("bpp", "bpp"), ("kbps", "kbps"), ("bits_per_sample", "bits/sample")):
        if key in row:
            value = row[key]
            return "n/a " + unit if value is None else f"{value:.4g} {unit}"
    return ""


def result_row(src, dst, header: Header, nbytes: int) -> dict:
    """One encode/decode result as printed by ``--json`` (``nbytes``: the .lvc size);
    an image set's row also says how many images it holds."""
    count = {"images": header.shape[0]} if header.modality == "images" and header.shape else {}
    target = header.metadata.get("bitrate_kbps")  # asked a rate: the quality was not used
    asked = {"target_kbps": target} if isinstance(target, (int, float)) else {}
    return {"input": str(src), "output": str(dst), "codec": header.codec,
            "quality": header.quality, **asked, **count, "bytes": nbytes,
            **rate(header, nbytes), "error": None}


def error_row(src, dst, message: str) -> dict:
    return {"input": str(src), "output": None if dst is None else str(dst), "codec": None,
            "quality": None, "bytes": None, "error": message}


def result_line(row: dict) -> str:
    count = f"{row['images']:,} images  " if "images" in row else ""
    refined = (f"  (refined: {row['refine']} SGA iterations, encode {row['encode_s']:.1f} s)"
               if row.get("refine") else "")
    setting = (f"{row['target_kbps']:g} kbit/s asked" if "target_kbps" in row
               else f"q{row['quality']}")
    return (f"{row['input']} -> {row['output']}  {row['codec']} {setting}  {count}"
            f"{row['bytes']:,} bytes  {format_rate(row)}{refined}")


def info_dict(path, data: bytes, header: Header) -> dict:
    """Everything ``codec info`` shows; stream CRCs are recomputed (``ok``) but nothing
    is decoded, so this works without the codec installed."""
    streams, pos = [], header.header_size
    for i, (n, crc) in enumerate(zip(header.stream_lengths, header.stream_crcs)):
        ok = zlib.crc32(data[pos:pos + n]) == crc
        streams.append({"index": i, "bytes": n, "crc32": f"{crc:08x}", "ok": ok})
        pos += n
    return {"file": str(path), "format_version": "%d.%d" % tuple(header.version),
            "codec": header.codec, "modality": header.modality, "shape": list(header.shape),
            "dtype": header.dtype, "quality": header.quality, "sample_rate": header.sample_rate,
            "fingerprint": header.fingerprint.hex() if header.fingerprint else None,
            "metadata": header.metadata, "streams": streams, "header_bytes": header.header_size,
            "total_bytes": len(data), **rate(header, len(data))}


def media_text(modality: str, shape) -> str:
    """A shape as people say it, the same in ``info`` and ``demo``: images W x H (the
    way image sizes are quoted), then channels; other media in their axis order."""
    shape = tuple(shape)

    def plural(n, word):
        return f"{n:,} {word}{'' if n == 1 else 's'}"

    if modality == "image" and len(shape) in (2, 3):
        return f"{shape[1]}x{shape[0]} (W x H), {plural(shape[2] if len(shape) == 3 else 1, 'channel')}"
    if modality == "images" and len(shape) == 3:
        return f"{plural(shape[0], 'image')} of {shape[2]}x{shape[1]} (W x H)"
    if modality == "audio" and len(shape) in (1, 2):
        return f"{plural(shape[0], 'frame')} x {plural(shape[1] if len(shape) == 2 else 1, 'channel')}"
    if modality == "hyperspectral" and len(shape) == 3:
        return f"{shape[1]}x{shape[0]} (W x H), {plural(shape[2], 'band')}"
    if modality == "volume" and len(shape) == 3:
        return "x".join(map(str, shape)) + " (X x Y x Z)"
    return "x".join(map(str, shape))


def info_lines(d: dict) -> list:
    lines = [f"file            {d['file']}",
             f"format version  {d['format_version']}",
             f"codec           {d['codec']} (quality {d['quality']})",
             f"media           {d['modality']} {media_text(d['modality'], d['shape'])}, "
             f"{d['dtype']}"]
    if d["sample_rate"] is not None:
        lines.append(f"sample rate     {d['sample_rate']} Hz")
    lines += [f"weights         {d['fingerprint'] or 'none'}",
              f"metadata        {d['metadata'] or '{}'}",
              f"size            {d['total_bytes']:,} bytes ({d['header_bytes']} header), "
              f"{format_rate(d)}",
              f"streams         {len(d['streams'])}"]
    for s in d["streams"]:
        status = "ok" if s["ok"] else "CHECKSUM MISMATCH"
        lines.append(f"  #{s['index']:<3} {s['bytes']:>10,} bytes  crc32 {s['crc32']}  {status}")
    return lines


def print_codec_table(rows: list, console=None) -> None:
    """`codec list`: ids never cut (they are what users type), the other columns short;
    why a codec cannot run goes below the table as wrapped text, not into a column."""
    from rich.console import Console
    from rich.padding import Padding
    from rich.table import Table

    console = console or Console()
    table = Table(box=None, pad_edge=False, header_style="bold")
    widest = max((len(r["id"]) for r in rows), default=2)
    table.add_column("id", no_wrap=True, min_width=widest)
    for name in ("modality", "lossless", "quality", "default", "available"):
        table.add_column(name, no_wrap=True)
    for r in rows:
        lo, hi = r["quality_range"]
        table.add_row(r["id"], r["modality"], "yes" if r["lossless"] else "no", f"{lo}..{hi}",
                      str(r["default_quality"]), "yes" if r["available"] else "no")
    console.print(table)
    missing = [r for r in rows if not r["available"]]
    if missing:
        console.print("Not available here:", highlight=False)
    for r in missing:
        reason = r["reason"] or "unknown reason"
        reason = reason[len(r["id"]):].lstrip(" :") if reason.startswith(r["id"]) else reason
        console.print(f"  {r['id']}", highlight=False, markup=False)
        console.print(Padding(reason, (0, 0, 0, 4)), highlight=False, markup=False)
