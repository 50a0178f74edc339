"""NIfTI volumes (``.nii``, ``.nii.gz``) <-> ``Media`` through nibabel.

Reading keeps the stored sample type when the file has no intensity scaling
(``scl_slope`` 0 or 1 and ``scl_inter`` 0); with scaling, nibabel's scaled values are
read (float). The voxel-to-world ``affine`` (4x4) and the voxel ``spacing`` go into
``metadata``, from where they travel in the ``.lvc`` header and are written back, so a
decoded volume lands where the original was. So does every other header field that
differs from what nibabel writes for that affine and spacing (``metadata["nifti"]``:
qform/sform codes, units, description, intent, slice timing, calibration, ...), so a
decoded file is a drop-in replacement; only the fields that describe the stored data
(datatype, bitpix, vox_offset, scaling) follow the decoded array, and header
extensions are not kept. Only 3-D volumes are read (a 4-D series or a 2-D slice is
refused with its shape; X x Y x Z x 1 is read as 3-D and written back so). Files are
recognised by their contents (the NIfTI-1 header size and magic), gzip-compressed or
not.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import MissingFileError, UnsupportedMediaError
from .files import atomic_output
from .limits import BYTES_ENV, check_bytes, max_bytes
from .media import Media, as_array_media

_HEADER_BYTES = 348
NIFTI_SUFFIXES = (".nii", ".nii.gz")
_DATA_FIELDS = frozenset("sizeof_hdr datatype bitpix vox_offset scl_slope scl_inter magic"
                         .split())  # these describe the stored samples: set by nibabel


def _plain(value):
    """A header field as JSON: text for byte strings, numbers or lists otherwise."""
    value = np.asarray(value)
    return value.item().decode("latin-1") if value.dtype.kind == "S" else value.tolist()


def _default_header(affine: np.ndarray, spacing, dtype):
    """The header nibabel writes for a volume with this affine and spacing."""
    import nibabel as nib

    image = nib.Nifti1Image(np.zeros((1, 1, 1), dtype), affine)
    if spacing is not None:
        image.header.set_zooms(tuple(float(z) for z in spacing)[:3])
    return image.header


def _header_fields(header, affine, spacing) -> dict:
    """The fields of ``header`` a default header for ``affine``/``spacing`` lacks."""
    default = _default_header(affine, spacing, header.get_data_dtype())
    out = {}
    for key in header.keys():
        if key in _DATA_FIELDS:
            continue
        value, base = _plain(header[key]), _plain(default[key])
        if key == "dim":  # shape follows the data; only a trailing 1 is worth keeping
            if value[0] != 4 or value[4] != 1:
                continue
        if value != base:
            out[key] = value
    return out


def _apply_fields(header, fields: dict) -> None:
    for key, value in fields.items():
        if key in _DATA_FIELDS or key == "dim" or key not in header.keys():
            continue
        if header[key].dtype.kind == "S":
            value = str(value).encode("latin-1")
        header[key] = value


def _raw(path: Path) -> bytes:
    """The file's bytes, gunzipped; inflating stops past the byte limit (plus room for
    the header), so a small .nii.gz that inflates to gigabytes is refused early."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if not gzipped:
        return path.read_bytes()
    cap = max_bytes() + (1 << 20)
    try:
        with gzip.open(path, "rb") as f:
            data = f.read(cap)
            more = f.read(1)
    except (OSError, EOFError) as e:
        raise UnsupportedMediaError(f"{path}: damaged gzip data ({e})") from None
    if more:
        raise UnsupportedMediaError(f"{path}: inflates to more than {cap:,} bytes, over the "
                                    f"limit (set {BYTES_ENV} to raise it)")
    return data


def _is_nifti_header(head: bytes) -> bool:
    if len(head) < _HEADER_BYTES:
        return False
    size = int.from_bytes(head[:4], "little")
    return size in (_HEADER_BYTES, int.from_bytes(
        _HEADER_BYTES.to_bytes(4, "little"), "big")) and head[344:347] in (b"n+1", b"ni1")


def is_nifti(path) -> bool:
    """True when the file (gzip-compressed or not) starts with a NIfTI-1 header."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(_HEADER_BYTES)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(_HEADER_BYTES)
        except (OSError, EOFError):
            return False
    return _is_nifti_header(head)


def read_nifti(path) -> Media:
    """Read a 3-D NIfTI volume (see the module docstring)."""
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    try:
        image = nib.Nifti1Image.from_bytes(_raw(path))
        check_bytes(image.shape, image.get_data_dtype().itemsize, path)
        slope, inter = image.header.get_slope_inter()
        scaled = (slope not in (None, 1.0)) or (inter not in (None, 0.0))
        data = np.asanyarray(image.dataobj) if scaled else image.dataobj.get_unscaled()
        data = np.asarray(data)
        affine = image.affine
        spacing = [float(z) for z in image.header.get_zooms()[:3]]
    except UnsupportedMediaError:
        raise
    except Exception as e:  # nibabel: HeaderDataError, ImageFileError, ValueError, EOF ...
        raise UnsupportedMediaError(f"{path}: not a readable NIfTI volume "
                                    f"({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                                    ) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise UnsupportedMediaError(f"{path}: only 3-D volumes are supported, this one is "
                                    f"{'x'.join(map(str, data.shape))}")
    meta = {"affine": np.asarray(affine, np.float64).tolist(), "spacing": spacing,
            "format": "nifti"}
    fields = _header_fields(image.header, affine, spacing)
    if fields:
        meta["nifti"] = fields
    return as_array_media(data, "volume", str(path), meta)


def write_nifti(path, media: Media, overwrite: bool = False) -> Path:
    """Write a volume as NIfTI-1 (gzip-compressed for ``.gz``), with the ``affine``,
    ``spacing`` and other header fields (``nifti``) of its metadata (identity and 1.0
    when absent). Atomic."""
    import nibabel as nib

    path = Path(path)
    if media.modality != "volume" or media.data.ndim != 3:
        raise UnsupportedMediaError(f"{path}: NIfTI files hold 3-D volumes, not "
                                    f"{media.modality} {media.shape}")
    affine = np.asarray(media.metadata.get("affine", np.eye(4)), np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise UnsupportedMediaError(f"{path}: the volume's affine is not a finite 4x4 matrix")
    fields = media.metadata.get("nifti") or {}
    if not isinstance(fields, dict):
        raise UnsupportedMediaError(f"{path}: the volume's NIfTI fields are not a mapping")
    samples = media.data
    if list(fields.get("dim", [])[:5]) == [4, *samples.shape, 1]:
        samples = samples[..., None]  # stored as X x Y x Z x 1
    image = nib.Nifti1Image(samples, affine)
    spacing = media.metadata.get("spacing")
    if spacing is not None:
        image.header.set_zooms((tuple(float(z) for z in spacing) + (1.0,))[:samples.ndim])
    try:
        _apply_fields(image.header, fields)
        data = image.to_bytes()
    except Exception as e:  # a crafted field nibabel refuses
        raise UnsupportedMediaError(f"{path}: cannot write the volume's NIfTI header "
                                    f"({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                                    ) from None
    if path.name.lower().endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with atomic_output(path, overwrite) as tmp:
        tmp.write_bytes(data)
    return path
