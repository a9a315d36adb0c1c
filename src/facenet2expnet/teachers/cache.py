"""A teacher-feature store on disk: every image and its horizontal mirror, computed once.

Layout of ``OUT/<teacher>-<layer>-<key16>/``:

* ``meta.json``     what the key was made of, shape, dtype, and ``complete`` + sha256 when done;
* ``features.npy``  a memory-mapped array, N x 2 x tap shape (index 1 = the mirrored image);
* ``progress.json`` rows written so far (atomic), so that a killed run resumes there.

The key hashes the dataset's file list (keys and file sizes), the teacher's preprocessing,
name, weights sha256 and layer, and the store format: every fold and run with the same
inputs reuses the store; anything else gets a new one. A store whose file is the wrong size or
whose checksum no longer matches is rebuilt, with a message.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys

import numpy as np
import torch

from ..data.records import Dataset, Sample
from ..files import atomic_write_json, file_sha256, read_json, stable_hash
from .registry import Teacher

STORE_FORMAT = 1


def sample_keys(ds: Dataset) -> list[str]:
    """Keys independent of how the root is spelled: file paths relative to the dataset root."""
    root = os.path.realpath(ds.root if os.path.isdir(ds.root) else os.path.dirname(ds.root))
    return [os.path.relpath(os.path.realpath(s.path), root) if s.path is not None else s.key for s in ds.samples]


def _sample_id(key: str, s: Sample) -> list:
    if s.path is not None:
        return [key, os.path.getsize(s.path)]
    return [key, hashlib.sha1(np.ascontiguousarray(s.array).tobytes()).hexdigest()]


def store_key(teacher: Teacher, ds: Dataset, dtype: str) -> tuple[str, dict]:
    keys = sample_keys(ds)
    parts = {
        "format": STORE_FORMAT,
        "teacher": teacher.name,
        "layer": teacher.layer,
        "weights_sha256": teacher.weights_sha256,
        "preprocessing": teacher.preprocessing.to_dict(),
        "dtype": dtype,
        "mirror": True,
        "files_sha256": stable_hash([_sample_id(k, s) for k, s in zip(keys, ds.samples)]),
        "n": len(ds.samples),
    }
    return stable_hash(parts), parts


class FeatureStore:
    def __init__(self, path: str):
        self.path = path
        self.meta = read_json(os.path.join(path, "meta.json"))
        self.features = np.load(os.path.join(path, "features.npy"), mmap_mode="r")
        self.keys = self.meta["keys"]
        self._row = {k: i for i, k in enumerate(self.keys)}

    def rows(self, ds: Dataset) -> np.ndarray:
        """Row of each sample of ``ds`` in this store."""
        try:
            return np.array([self._row[k] for k in sample_keys(ds)], dtype=np.int64)
        except KeyError as exc:
            raise KeyError(f"sample {exc} is not in the feature store {self.path}") from None

    @property
    def tap_shape(self) -> tuple:
        return tuple(self.meta["tap_shape"])


def _valid_complete(path: str, parts: dict, verify_checksum: bool) -> bool:
    try:
        meta = read_json(os.path.join(path, "meta.json"))
        feats = np.load(os.path.join(path, "features.npy"), mmap_mode="r")
    except Exception:
        return False
    if not meta.get("complete") or meta.get("key_parts") != parts or feats.shape[0] != parts["n"]:
        return False
    return not verify_checksum or file_sha256(os.path.join(path, "features.npy")) == meta.get("features_sha256")


def extract_features(
    teacher: Teacher,
    dataset: Dataset,
    out_dir: str,
    batch_size: int = 64,
    dtype: str = "float16",
    progress: bool = True,
    verify_checksum: bool = True,
    log=print,
    dist=None,
) -> FeatureStore:
    """Compute (or reuse, or resume) the teacher features of every sample and its mirror.

    Under torchrun (``dist`` with several ranks) each rank computes its share of the batches into its own
    shard file, and rank 0 merges them into the layout one process writes (``_extract_sharded``).
    """
    from tqdm import tqdm

    samples = dataset.samples
    key, parts = store_key(teacher, dataset, dtype)
    path = os.path.join(out_dir, f"{teacher.name}-{teacher.layer}-{key[:16]}")
    meta_path, feats_path, prog_path = (os.path.join(path, n) for n in ("meta.json", "features.npy", "progress.json"))
    shape = (len(samples), 2) + tuple(teacher.output_shape())
    if dist is not None and dist.world > 1:
        done = _valid_complete(path, parts, verify_checksum)
        dist.barrier()  # every rank looked before any rank writes
        if done:
            return FeatureStore(path)
        _extract_sharded(
            teacher,
            dataset,
            path,
            _new_meta(key, parts, dataset, shape, teacher),
            shape,
            batch_size,
            dtype,
            dist,
            progress,
            log,
        )
        return FeatureStore(path)
    if _valid_complete(path, parts, verify_checksum):
        return FeatureStore(path)
    _remove_stale(path, log)

    feats, start = _open_partial(path, parts, shape, log)
    if start == 0:
        os.makedirs(path, exist_ok=True)
        atomic_write_json(meta_path, _new_meta(key, parts, dataset, shape, teacher))
        feats = np.lib.format.open_memmap(feats_path, mode="w+", dtype=dtype, shape=shape)
        atomic_write_json(prog_path, {"done": 0})

    pp = teacher.preprocessing
    net = teacher.to(memory_format=torch.channels_last)  # ~1.3x faster convs on CPU
    bar = tqdm(
        total=len(samples),
        initial=start,
        desc=f"{teacher.name}:{teacher.layer}",
        unit="img",
        disable=not progress,
        file=sys.stderr,
    )
    for lo in range(start, len(samples), batch_size):
        batch = samples[lo : lo + batch_size]
        y = _teacher_batch(net, pp, batch)
        n = len(batch)
        feats[lo : lo + n] = y
        feats.flush()
        atomic_write_json(prog_path, {"done": lo + n})
        bar.update(n)
    bar.close()
    del feats
    _mark_complete(path)
    return FeatureStore(path)


def _remove_stale(path: str, log) -> None:
    """A store marked complete that did not validate (wrong size, checksum or key) is built again."""
    meta_path = os.path.join(path, "meta.json")
    if os.path.exists(meta_path) and read_json(meta_path).get("complete"):
        log(f"feature store {path} is corrupt or stale (size or checksum mismatch): rebuilding it")
        shutil.rmtree(path)


def _mark_complete(path: str) -> None:
    """The store's features are all written: record that, with their checksum (checked when the store is reused)."""
    meta = read_json(os.path.join(path, "meta.json"))
    meta.update(complete=True, features_sha256=file_sha256(os.path.join(path, "features.npy")))
    atomic_write_json(os.path.join(path, "meta.json"), meta)


def _open_partial(path: str, parts: dict, shape: tuple, log) -> tuple:
    """A killed extraction's memory-mapped features and the rows it finished: (features, start), or (None, 0)."""
    feats_path, prog_path = os.path.join(path, "features.npy"), os.path.join(path, "progress.json")
    if not (os.path.exists(prog_path) and os.path.exists(feats_path)):
        return None, 0
    try:
        feats = np.load(feats_path, mmap_mode="r+")
        if feats.shape != shape or read_json(os.path.join(path, "meta.json")).get("key_parts") != parts:
            raise ValueError("shape or key mismatch")
        start = int(read_json(prog_path)["done"])
        log(f"resuming feature extraction at {start}/{shape[0]} in {path}")
        return feats, start
    except Exception as exc:  # unreadable partial store: start over
        log(f"partial feature store {path} is unusable ({exc}): starting over")
        shutil.rmtree(path)
        return None, 0


def _new_meta(key: str, parts: dict, dataset: Dataset, shape: tuple, teacher: Teacher) -> dict:
    return {
        "key": key,
        "key_parts": parts,
        "keys": sample_keys(dataset),
        "tap_shape": shape[2:],
        "teacher": teacher.describe(),
        "complete": False,
    }


@torch.no_grad()
def _teacher_batch(net, pp, batch: list[Sample]) -> np.ndarray:
    """Teacher features of a batch and of its mirrors: n x 2 x tap shape (float32)."""
    device = next(net.parameters()).device
    x = pp.batch(pp.load(s.path if s.path is not None else s.array) for s in batch)
    x = torch.cat([x, x.flip(3)]).to(device).contiguous(memory_format=torch.channels_last)  # originals, then mirrors
    y = net(x).float().cpu().numpy()
    n = len(batch)
    return np.stack([y[:n], y[n:]], axis=1)


def _extract_sharded(teacher, dataset, path, meta, shape, batch_size, dtype, dist, progress, log) -> None:
    """Rank r computes batches b with b % world == r into shard-r-of-W.npy (resumable by its own progress file);
    rank 0 then merges the shards into features.npy in batch order: the bytes one process would write, since
    every batch is computed with the same rows as there."""
    from tqdm import tqdm

    samples, w, r = dataset.samples, dist.world, dist.rank
    if dist.is_main:
        _remove_stale(path, log)  # every rank found it invalid before the barrier
        os.makedirs(path, exist_ok=True)
        atomic_write_json(os.path.join(path, "meta.json"), meta)
    dist.barrier()
    batches = [b for b in range(-(-len(samples) // batch_size)) if b % w == r]
    shard_path, shard_prog = (os.path.join(path, f"shard-{r}-of-{w}.{ext}") for ext in ("npy", "json"))
    n_rows = sum(len(samples[b * batch_size : (b + 1) * batch_size]) for b in batches)
    start = 0
    if os.path.exists(shard_path) and os.path.exists(shard_prog):
        prog = read_json(shard_prog)
        shard = np.load(shard_path, mmap_mode="r+")
        if prog.get("key") == meta["key"] and shard.shape == (n_rows,) + shape[1:]:
            start = int(prog["done_batches"])  # rows past it are from a killed rank: redone
            log(f"rank {r}: resuming its shard at batch {start}/{len(batches)}")
    if start == 0:
        shard = np.lib.format.open_memmap(shard_path, mode="w+", dtype=dtype, shape=(n_rows,) + shape[1:])
        atomic_write_json(shard_prog, {"key": meta["key"], "done_batches": 0})  # (a rank may have no batch at all)
    net = teacher.to(memory_format=torch.channels_last)
    for j in tqdm(
        range(start, len(batches)),
        desc=f"{teacher.name}:{teacher.layer} rank {r}",
        disable=not progress,
        file=sys.stderr,
    ):
        batch = samples[batches[j] * batch_size : (batches[j] + 1) * batch_size]
        shard[j * batch_size : j * batch_size + len(batch)] = _teacher_batch(net, teacher.preprocessing, batch)
        shard.flush()
        atomic_write_json(shard_prog, {"key": meta["key"], "done_batches": j + 1})
    del shard
    dist.barrier()
    if dist.is_main:
        _merge_shards(path, shape, batch_size, dtype, w, len(samples))
    dist.barrier()


def _merge_shards(path: str, shape: tuple, batch_size: int, dtype: str, world: int, n: int) -> None:
    feats_path = os.path.join(path, "features.npy")
    feats = np.lib.format.open_memmap(feats_path, mode="w+", dtype=dtype, shape=shape)
    for q in range(world):
        shard = np.load(os.path.join(path, f"shard-{q}-of-{world}.npy"), mmap_mode="r")
        for j, b in enumerate(b for b in range(-(-n // batch_size)) if b % world == q):
            lo, hi = b * batch_size, min((b + 1) * batch_size, n)
            feats[lo:hi] = shard[j * batch_size : j * batch_size + hi - lo]
        del shard
    feats.flush()
    del feats
    atomic_write_json(os.path.join(path, "progress.json"), {"done": n})
    _mark_complete(path)
    for q in range(world):
        for ext in ("npy", "json"):
            os.remove(os.path.join(path, f"shard-{q}-of-{world}.{ext}"))
