"""lvc.data.LVCDataset: folders, globs and lists of .lvc files through a DataLoader
with worker processes, ImageFolder and CSV labels, images and audio."""

import numpy as np
import pytest

import lvc
from lvc.errors import BadInputError, MissingFileError

torch = pytest.importorskip("torch")
from lvc.data import LVCDataset  # noqa: E402


@pytest.fixture
def tree(tmp_path):
    """3 classes x 3 images (two sizes), webp and png, as .lvc files."""
    root = tmp_path / "train"
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog", "eel")):
        (root / name).mkdir(parents=True)
        for i in range(3):
            h, w = ((24, 32), (20, 16))[i % 2]
            x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            codec = "webp" if i else "png"
            (root / name / f"{name}{i}.lvc").write_bytes(lvc.encode(x, codec=codec))
    return root


def test_a_dataloader_with_two_workers_yields_each_file_once_with_its_label(tree):
    ds = LVCDataset(tree, output="uint8", labels="folders")
    assert ds.classes == ["cat", "dog", "eel"] and len(ds) == 9
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    seen = []
    for (x, label), path in zip(loader, ds.files):
        assert torch.equal(x, torch.from_numpy(np.array(lvc.decode(path))))
        assert ds.classes[label] == path.parent.name
        seen.append(path)
    assert seen == ds.files


def test_float_chw_in_unit_range_transform_and_csv_labels(tree, tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("name,label\n" + "".join(f"{p.stem},{'odd' if int(p.stem[-1]) % 2 else 'even'}\n"
                                           for p in sorted(tree.rglob("*.lvc"))))
    ds = LVCDataset(str(tree / "*" / "*.lvc"), labels=csv, transform=lambda t: t * 2)
    x, label = ds[0]
    ref = np.array(lvc.decode(ds.files[0]))
    assert x.shape == (3,) + ref.shape[:2] and x.dtype == torch.float32
    assert torch.allclose(x, torch.from_numpy(ref).permute(2, 0, 1).float() / 255 * 2)
    assert ds.classes == ["even", "odd"] and ds.classes[label] == "even"


def test_audio_items_are_channels_by_frames_with_the_rate(tmp_path):
    x = (np.sin(np.arange(1600)[:, None] / [5.0, 9.0]) * 8000).astype(np.int16)
    (tmp_path / "a.lvc").write_bytes(lvc.encode(x, codec="flac", sample_rate=16000))
    wave, rate = LVCDataset([tmp_path / "a.lvc"])[0]
    assert rate == 16000 and wave.shape == (2, 1600) and wave.dtype == torch.float32
    assert torch.allclose(wave, torch.from_numpy(x.T / 32768.0).float())
    arr, rate = LVCDataset([tmp_path / "a.lvc"], output="array")[0]
    assert np.array_equal(arr, x)


def test_bad_sources_and_labels_are_clear_errors(tree, tmp_path):
    with pytest.raises(MissingFileError, match="no .lvc files"):
        LVCDataset(tmp_path / "empty*")
    with pytest.raises(BadInputError, match="output is one of"):
        LVCDataset(tree, output="png")
    (tmp_path / "l.csv").write_text("cat0,x\n")
    with pytest.raises(BadInputError, match="has no label"):
        LVCDataset(tree, labels=tmp_path / "l.csv")
    with pytest.raises(BadInputError, match="needs a folder"):
        LVCDataset([tree / "cat" / "cat0.lvc"], labels="folders")
    lvc.write(tree / "stray.lvc", np.zeros((8, 8, 3), np.uint8), codec="png")
    with pytest.raises(BadInputError, match="class sub-folder"):
        LVCDataset(tree, labels="folders")
