"""Shards for training pipelines (issue 22): ``codec pack`` / ``unpack``, ``ShardDataset``
through a DataLoader with workers and simulated DDP ranks, the Dask path, resuming,
latent access, and bad shards."""

import hashlib
import io
import json
import shutil
import tarfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import lvc
from lvc.cli.main import cli
from lvc.errors import BadInputError, FormatError, MissingFileError

torch = pytest.importorskip("torch")
from lvc.data import ShardDataset, pack, unpack  # noqa: E402
from lvc.data.shards import member_key, parse_size, read_index, read_shard  # noqa: E402

CLASSES = ("cat", "dog", "eel")
SIZE = "12KB"  # about 2 members per shard: 9 images make 5 shards


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """An ImageFolder tree: 3 classes x 3 PNG images of two sizes."""
    root = tmp_path_factory.mktemp("tree") / "train"
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(3):
            h, w = ((24, 32), (40, 16))[i % 2]
            x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(x).save(root / name / f"{name}.{i}.png")  # a dot in the stem
    return root


@pytest.fixture(scope="module")
def shards(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "webp"
    report = pack(tree, out, "webp", 75, shard_size=SIZE)
    assert len(report.written_shards) >= 3
    return out


def _sources(tree):
    return sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.png"))


def test_index_lists_every_member_with_codec_shape_label_and_checksum(tree, shards):
    index = read_index(shards)
    assert index["codec"] == "webp" and index["quality"] == 75
    assert index["classes"] == list(CLASSES)
    names = [m["name"] for m in index["members"]]
    assert names == _sources(tree)
    for m in index["members"]:
        data = tree / m["name"]
        assert m["label"] == m["name"].split("/")[0]
        assert m["shape"] == list(np.array(Image.open(data)).shape)
        assert m["key"] == member_key(m["name"]) and "." not in m["key"].split("/")[-1]
        assert m["source_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert sum(s["members"] for s in index["shards"]) == 9
    for s in index["shards"]:
        assert (shards / s["name"]).stat().st_size == s["bytes"] <= parse_size(SIZE)


def test_shards_are_webdataset_tars(shards):
    with tarfile.open(shards / "shard-00000.tar") as tar:
        names = tar.getnames()
        assert names[:3] == ["cat/cat_0.json", "cat/cat_0.cls", "cat/cat_0.lvc"]
        assert tar.extractfile("cat/cat_0.cls").read() == b"0"
        assert all(m.mtime == 0 and m.uname == "" for m in tar.getmembers())


def test_two_workers_yield_every_member_once_with_its_label_and_decoded_sample(shards):
    ds = ShardDataset(shards, output="uint8", with_name=True)
    members = {m["name"]: m for m in read_index(shards)["members"]}
    assert len(ds) == 9 and ds.classes == list(CLASSES)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    for epoch in range(2):
        ds.set_epoch(epoch)
        names = []
        for x, label, name in loader:
            m = members[name]
            assert ds.classes[label] == m["label"]
            with tarfile.open(shards / m["shard"]) as tar:
                data = tar.extractfile(m["key"] + ".lvc").read()
            assert torch.equal(x, torch.from_numpy(np.array(lvc.decode(data))))
            names.append(name)
        assert sorted(names) == sorted(members)


@pytest.mark.parametrize("workers", [1, 2])
def test_two_ranks_are_disjoint_and_cover_the_set(shards, workers):
    names = []
    for rank in range(2):
        ds = ShardDataset(shards, output="array", rank=rank, world_size=2, with_name=True,
                          shuffle=True, seed=3)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers,
                                             collate_fn=lambda item: item)
        names.append([name for _, _, name in loader])
    assert not set(names[0]) & set(names[1])
    assert sorted(names[0] + names[1]) == sorted(m["name"] for m in read_index(shards)["members"])


def test_fewer_shards_than_splits_still_reads_each_member_once(shards):
    one = [shards / "shard-00000.tar"]  # one shard, 4 splits: members are strided
    counts = []
    for rank in range(2):
        ds = ShardDataset(one, output="array", rank=rank, world_size=2, with_name=True)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2,
                                             collate_fn=lambda item: item)
        counts += [name for _, _, name in loader]
    assert sorted(counts) == sorted(k for k, _ in [(json.loads(f["json"])["name"], 0)
                                                   for _, f in read_shard(one[0])])


def test_shuffle_changes_order_by_epoch_and_is_reproducible(shards):
    def order(epoch, seed=0):
        ds = ShardDataset(shards, output="array", shuffle=4, seed=seed, with_name=True)
        ds.set_epoch(epoch)
        return [name for _, _, name in ds]

    assert order(0) == order(0) and sorted(order(0)) == sorted(order(1))
    assert order(0) != order(1) or order(0) != order(2)


def test_dask_local_cluster_writes_the_same_index_and_shards(tree, shards, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask"
    pack(tree, out, "webp", 75, shard_size=SIZE, scheduler="local:2")
    assert (out / "index.json").read_bytes() == (shards / "index.json").read_bytes()
    for s in read_index(shards)["shards"]:
        assert (out / s["name"]).read_bytes() == (shards / s["name"]).read_bytes()


def test_worker_processes_and_resume_write_the_same_index(tree, shards, tmp_path):
    out = tmp_path / "resumed"
    result = CliRunner().invoke(cli, ["pack", str(tree), "-o", str(out), "-c", "webp", "-q",
                                      "75", "--shard-size", SIZE, "-j", "2"])
    assert result.exit_code == 0, result.output
    assert (out / "index.json").read_bytes() == (shards / "index.json").read_bytes()
    # as if killed after three shards: the rest is encoded again, the first three kept
    for path in sorted(out.glob("shard-*.tar"))[3:]:
        path.unlink()
    (out / "index.json").unlink()
    kept = (out / "shard-00000.tar").stat().st_mtime_ns
    report = pack(tree, out, "webp", 75, shard_size=SIZE)
    assert report.reused_shards == 3 and report.written_shards
    assert (out / "shard-00000.tar").stat().st_mtime_ns == kept
    assert (out / "index.json").read_bytes() == (shards / "index.json").read_bytes()
    with pytest.raises(BadInputError, match="webp q75 shards; this pack is jpeg q75"):
        pack(tree, out, "jpeg", 75)


def test_unpack_restores_every_file_decoded_or_as_lvc(tree, shards, tmp_path):
    rows = unpack(shards, tmp_path / "png")
    assert len(rows) == 9 and not any(r["error"] for r in rows)
    for name in _sources(tree):
        restored = np.array(Image.open(tmp_path / "png" / name))
        member = next(m for m in read_index(shards)["members"] if m["name"] == name)
        assert restored.shape == tuple(member["shape"])
    result = CliRunner().invoke(cli, ["unpack", str(shards), "-o", str(tmp_path / "lvc"),
                                      "--lvc"])
    assert result.exit_code == 0 and "restored 9 files" in result.output
    one = tmp_path / "lvc" / "cat" / "cat.0.lvc"
    assert np.array_equal(lvc.decode(one), np.array(Image.open(tmp_path / "png/cat/cat.0.png")))
    again = CliRunner().invoke(cli, ["unpack", str(shards), "-o", str(tmp_path / "png")])
    assert again.exit_code == 4 and "exists" in again.output


def test_csv_labels_and_top_level_files(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / f"im{i}.png")
    (tmp_path / "labels.csv").write_text("name,label\n" + "".join(
        f"im{i}{'.png' if i % 2 else ''},{'ab'[i % 2]}\n" for i in range(4)))
    pack(root, tmp_path / "s", "png", labels=tmp_path / "labels.csv")
    ds = ShardDataset(tmp_path / "s", output="array", with_name=True)
    assert ds.classes == ["a", "b"]
    assert sorted((n, ds.classes[c]) for _, c, n in ds) == [
        ("im0.png", "a"), ("im1.png", "b"), ("im2.png", "a"), ("im3.png", "b")]
    (tmp_path / "short.csv").write_text("im0,a\n")
    with pytest.raises(BadInputError, match="im1.png has no label in"):
        pack(root, tmp_path / "t", "png", labels=tmp_path / "short.csv")
    pack(root, tmp_path / "unlabelled", "png")
    assert ShardDataset(tmp_path / "unlabelled").classes == []
    assert next(iter(ShardDataset(tmp_path / "unlabelled"))).shape == (3, 8, 8)


# ---------------------------------------------------------------- latents
def test_decode_latent_of_liveaction_equals_the_encoders_latent():
    from lvc.codecs.liveaction.codec import analyse, level_symbols
    from lvc.codecs.registry import get_codec
    from lvc.samples import sample_image

    image = sample_image(80, 56, seed=2)
    data = lvc.encode(image, "liveaction-rgb", 3)
    latent = lvc.decode_latent(data)
    w = get_codec("liveaction-rgb").weights()
    k, delta = w.rate_levels[2]
    expected = level_symbols(analyse(w.model, image), k, delta)
    assert latent.symbols.dtype == np.int8 and latent.symbols.shape == (k, 4, 5)
    assert np.array_equal(latent.symbols, expected)
    assert np.array_equal(latent.values, expected.astype(np.float32) * delta)
    with pytest.raises(lvc.errors.UnsupportedMediaError, match="webp has no learned latent"):
        lvc.decode_latent(lvc.encode(image, "webp"))


def test_decode_latent_of_a_tiled_image_places_tiles_side_by_side(monkeypatch):
    from lvc.codecs.liveaction.codec import LiVeActionCodec, analyse, level_symbols
    from lvc.codecs.registry import get_codec
    from lvc.samples import sample_image

    monkeypatch.setattr(LiVeActionCodec, "tile_size", 48)
    image = sample_image(80, 40, seed=1)  # two tiles across: 0..48, 48..80
    latent = lvc.decode_latent(lvc.encode(image, "liveaction-rgb", 1))
    w = get_codec("liveaction-rgb").weights()
    k, delta = w.rate_levels[0]
    left = level_symbols(analyse(w.model, image[:, :48]), k, delta)
    right = level_symbols(analyse(w.model, image[:, 48:]), k, delta)
    assert np.array_equal(latent.symbols, np.concatenate([left, right], axis=2))


def test_decode_latent_of_a_hyperprior_codec_is_its_y_hat():
    from lvc.codecs.registry import get_codec

    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = lvc.encode(image, "mbt2018-mean-tiny", 2)
    latent = lvc.decode_latent(data)
    codec = get_codec("mbt2018-mean-tiny")
    header, streams = lvc.formats.container.unpack(data)
    handle = codec.load(2)
    decoded = codec.synthesise(handle, torch.from_numpy(latent.values)[None])
    assert latent.values.ndim == 3 and latent.values.dtype == np.float32
    from lvc.codecs.latent_image import to_image
    assert np.array_equal(to_image(decoded, 64, 64, gray=False), lvc.decode(data))


def test_latent_output_of_the_shard_dataset(tree, tmp_path):
    pack(tree / "cat", tmp_path / "la", "liveaction-rgb", 2)
    ds = ShardDataset(tmp_path / "la", output="latent", with_name=True)
    for x, name in ds:
        data = lvc.encode(tree / "cat" / name, "liveaction-rgb", 2)
        assert torch.equal(x, torch.from_numpy(lvc.decode_latent(data).values))


# ---------------------------------------------------------------- bad shards
@pytest.fixture
def damaged(shards, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(shards, bad)
    whole = (shards / "shard-00001.tar").read_bytes()
    (bad / "shard-00001.tar").write_bytes(whole[:len(whole) // 3])  # truncated
    index = read_index(shards)
    member = next(m for m in index["members"] if m["shard"] == "shard-00003.tar")
    tar = bytearray((bad / "shard-00003.tar").read_bytes())
    at = tar.index(b"RIFF")  # inside the first member's WebP stream
    tar[at + 40] ^= 0xFF
    (bad / "shard-00003.tar").write_bytes(bytes(tar))
    return bad, member


def test_bad_shards_name_the_shard_and_member(damaged, tmp_path):
    bad, member = damaged
    with pytest.raises(FormatError, match=r"shard-00001.tar: truncated or damaged tar"):
        list(ShardDataset(bad, output="array"))
    with pytest.warns(UserWarning) as caught:
        items = list(ShardDataset(bad, output="array", skip_bad=True, with_name=True))
    messages = " ".join(str(w.message) for w in caught)
    assert "shard-00001.tar: truncated" in messages
    assert f"shard-00003.tar: member {member['key']}.lvc: " in messages
    assert member["name"] not in {n for _, _, n in items} and 4 <= len(items) < 9

    result = CliRunner().invoke(cli, ["unpack", str(bad), "-o", str(tmp_path / "x")])
    assert result.exit_code == 5 and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("error: ") and "shard-00001.tar" in result.output
    result = CliRunner().invoke(cli, ["unpack", str(bad), "-o", str(tmp_path / "y"),
                                      "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "shard-00001.tar: truncated" in result.output
    assert f"shard-00003.tar: member {member['key']}.lvc" in result.output
    assert "skipped 2 bad" in result.output


def test_missing_index_and_bad_sources(shards, tree, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(shards, bare)
    (bare / "index.json").unlink()
    with pytest.raises(MissingFileError, match="index.json: missing"):
        ShardDataset(bare)
    result = CliRunner().invoke(cli, ["unpack", str(bare), "-o", str(tmp_path / "x")])
    assert result.exit_code == 3 and result.output.count("\n") == 1
    (bare / "index.json").write_text("{not json")
    with pytest.raises(FormatError, match="not an lvc shard index"):
        ShardDataset(bare)

    src = tmp_path / "src"
    shutil.copytree(tree, src)
    (src / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = CliRunner().invoke(cli, ["pack", str(src), "-o", str(tmp_path / "p"), "-c", "webp"])
    assert result.exit_code == 3 and "dog/broken.png" in result.output
    assert not list((tmp_path / "p").glob("*.partial*")) and not (tmp_path / "p/index.json").exists()
    result = CliRunner().invoke(cli, ["pack", str(src), "-o", str(tmp_path / "p"), "-c", "webp",
                                      "--skip-bad", "--json"])
    assert result.exit_code == 0, result.output
    assert "dog/broken.png" in result.output
    assert json.loads(result.output[result.output.index("{"):])["members"] == 9


def test_sizes():
    assert parse_size("256MB") == 256_000_000 and parse_size("64 KiB") == 65536
    assert parse_size("1.5GB") == 1_500_000_000 and parse_size("4096") == 4096
    for bad in ("12XB", "-1MB", "0", "MB"):
        with pytest.raises(BadInputError):
            parse_size(bad)


def test_unpack_never_writes_outside_its_folder(shards, tmp_path):
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    shutil.copy(shards / "index.json", crafted)
    with tarfile.open(shards / "shard-00000.tar") as src, \
            tarfile.open(crafted / "shard-00000.tar", "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.endswith(".json"):
                data = json.dumps({"name": "../../escaped.png"}).encode()
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    result = CliRunner().invoke(cli, ["unpack", str(crafted / "shard-00000.tar"), "-o",
                                      str(tmp_path / "out" / "deep")])
    assert result.exit_code == 5 and "points outside the output folder" in result.output
    assert not list(tmp_path.rglob("escaped*"))
