"""``ShardDataset``: an iterable dataset over ``codec pack`` shards.

Each epoch every member is read exactly once across all DataLoader workers and DDP
ranks: the (rank, worker) pairs are "splits"; with at least as many shards as splits,
split ``i`` reads shards ``i, i + n, ...`` (each shard read by one process, the
WebDataset way); with fewer, every split reads every shard and decodes members
``i, i + n, ...`` of the sequence, so no split idles. Pack with at least
``ranks x workers`` shards (``--shard-size``) for the first, cheaper case. Ranks get
equal shares only when shards (or members) divide evenly: DDP users drop the last
partial batch or pad, as with any iterable dataset.
"""

from __future__ import annotations

import random
import warnings

import torch.utils.data as tud

from ..errors import BadInputError, FormatError, LVCError, describe
from .samples import check_output, load_sample
from .shards import read_index, read_shard, shard_paths


def _world(rank, world_size) -> tuple:
    """``(rank, world_size)``: as given, else ``torch.distributed``'s when initialised."""
    if rank is not None or world_size is not None:
        if rank is None or world_size is None or not 0 <= rank < world_size:
            raise BadInputError(f"rank {rank} of world_size {world_size}: give both, 0 <= rank "
                             "< world_size")
        return rank, world_size
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class ShardDataset(tud.IterableDataset):
    """Samples of ``codec pack`` shards: a shard folder, a glob or a list of shard paths
    (their folder's ``index.json`` is required).

    ``output``: as ``LVCDataset`` (``samples.OUTPUTS``, including ``"latent"``).
    Items are ``(sample, class_index)`` when the pack has labels (``classes`` names
    them; an unlabelled member gets -1), else ``sample``; ``with_name=True`` appends
    the member's source name. ``shuffle``: shard order by ``seed + epoch`` and a
    shuffle buffer of that many samples (``True``: 256) per split; ``set_epoch(n)``
    reshuffles. ``rank``/``world_size``: override ``torch.distributed``.
    ``skip_bad``: warn about a damaged member or a truncated shard and go on, instead
    of raising ``FormatError`` naming the shard and member.
    """

    def __init__(self, shards, output: str = "float", transform=None, shuffle=False,
                 seed: int = 0, rank: int | None = None, world_size: int | None = None,
                 skip_bad: bool = False, with_name: bool = False):
        self.output = check_output(output)
        self.folder, self.shards = shard_paths(shards)
        index = read_index(self.folder)
        names = {p.name for p in self.shards}
        self.classes = list(index.get("classes") or [])
        self.members = sum(s["members"] for s in index["shards"] if s["name"] in names)
        self.transform, self.skip_bad, self.with_name = transform, skip_bad, with_name
        self.buffer = 256 if shuffle is True else int(shuffle or 0)
        self.seed, self.epoch = seed, 0
        self.rank, self.world_size = _world(rank, world_size)

    def __len__(self) -> int:
        """Members in all the shards (all splits together)."""
        return self.members

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _split(self) -> tuple:
        info = tud.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        return self.rank * workers + worker, self.world_size * workers

    def __iter__(self):
        split, splits = self._split()
        order = list(self.shards)
        if self.buffer:
            random.Random(self.seed + self.epoch).shuffle(order)  # the same in every split
        by_shard = len(order) >= splits
        mine = order[split::splits] if by_shard else order
        records = self._read(mine, None if by_shard else (split, splits))
        if self.buffer:  # shuffles the compressed members: a buffer of decoded ones is big
            rng = random.Random((self.seed * 1_000_003 + self.epoch) * 65_537 + split)
            records = _shuffled(records, self.buffer, rng)
        for shard, key, files in records:
            item = self._item(shard, key, files)
            if item is not None:
                yield item

    def _read(self, shards, stride):
        """``(shard, key, files)`` of ``shards``; ``stride = (i, n)`` keeps members i,
        i + n, ... of the sequence."""
        position = -1
        for shard in shards:
            try:
                for key, files in read_shard(shard):
                    position += 1
                    if stride is not None and position % stride[1] != stride[0]:
                        continue
                    yield shard, key, files
            except FormatError as e:  # a truncated or damaged tar
                if not self.skip_bad:
                    raise
                warnings.warn(f"skipped the rest of a shard: {e}", stacklevel=2)

    def _item(self, shard, key: str, files: dict):
        try:
            if "lvc" not in files:
                raise FormatError("no .lvc in the shard")
            sample = load_sample(files["lvc"], self.output)
            label = int(files["cls"]) if "cls" in files else -1
        except (LVCError, ValueError) as e:
            message = f"{shard}: member {key}.lvc: {describe(e)}"
            if not self.skip_bad:
                raise FormatError(message) from None
            warnings.warn(f"skipped {message}", stacklevel=2)
            return None
        if self.transform is not None:
            sample = self.transform(sample)
        item = (sample, label) if self.classes else (sample,)
        if self.with_name:
            import json

            item += (json.loads(files.get("json", b"{}")).get("name", key),)
        return item if len(item) > 1 else item[0]


def _shuffled(items, size: int, rng: random.Random):
    """A shuffle buffer: keep ``size`` items, yield a random one as each new one arrives."""
    buffer = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        i = rng.randrange(size)
        yield buffer[i]
        buffer[i] = item
    rng.shuffle(buffer)
    yield from buffer
