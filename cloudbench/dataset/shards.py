"""Sharded Zarr v3 split stores: writing them deterministically and reading one sample fast.

Layout: ``<split>.zarr`` is a group with the PAIRS arrays (x, aux, track_rows, track_cols, profiles,
n_track), first axis = sample ordered by sample_id; chunk = one sample, shard = ``shard_size``
samples, so a shard is one file and a sample is one byte range in it. Bytes are deterministic:
fixed Blosc settings, whole shards written in order, no timestamps in attributes.

Reading: ``zarr`` indexing costs about a millisecond per call in Python overhead, more than the
decode itself. ``ShardReader`` reads the shard index once per shard, then one ``pread`` per run of
neighbouring samples (one per sample when they are scattered) and one Blosc decode per sample,
straight into the caller's buffer; it accepts only the exact codec chain this module writes and
otherwise says so, and a test checks it against zarr's own read for every sample.

Compression: Blosc LZ4HC level 5 with byte shuffle. On real ABI brightness temperature patches it
stores 2% more bytes than Zstd level 3 (ratio 1.50 against 1.53) and decodes 5 to 8 times faster
(about 40 us against 200-330 us for a 16 x 64 x 64 float32 sample), and decoding is what a training
epoch repeats; the build encodes once.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numcodecs
import numpy as np
import zarr
from zarr.codecs import BloscCodec

from cloudbench.dataset.pairs import ARRAY_NAMES, Pairs
from cloudbench.errors import DataError

DEFAULT_SHARD_SIZE = 256  # samples per shard: ~40 MB of compressed 16-band 64x64 patches
BLOSC_CNAME, BLOSC_CLEVEL, BLOSC_SHUFFLE = "lz4hc", 5, "shuffle"
MERGE_GAP_BYTES = 64 << 10  # read across a gap this small rather than issue another pread
_EMPTY = np.uint64(2**64 - 1)
_BLOSC_HEADER = 16


def compressor_config() -> dict:
    """The fixed compressor settings (recorded in the manifest: they decide the bytes)."""
    return {"codec": "blosc", "cname": BLOSC_CNAME, "clevel": BLOSC_CLEVEL, "shuffle": BLOSC_SHUFFLE}


def _compressor(dtype: np.dtype) -> BloscCodec:
    return BloscCodec(cname=BLOSC_CNAME, clevel=BLOSC_CLEVEL, shuffle=BLOSC_SHUFFLE, typesize=np.dtype(dtype).itemsize)


def array_specs(pairs: Pairs) -> dict[str, tuple[tuple[int, ...], np.dtype, float | int]]:
    """Per array: shape of one sample, dtype and fill value (the padding value of the labels)."""
    p, c, a, z, L = pairs.patch_size, len(pairs.bands), len(pairs.aux_names), pairs.n_levels, pairs.max_track
    return {
        "x": ((c, p, p), np.dtype("float32"), 0.0),
        "aux": ((a, p, p), np.dtype("float32"), 0.0),
        "track_rows": ((L,), np.dtype("int16"), -1),
        "track_cols": ((L,), np.dtype("int16"), -1),
        "profiles": ((L, z), np.dtype("uint8"), 255),
        "n_track": ((), np.dtype("int16"), 0),
    }


def shard_ranges(n: int, shard_size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, shard_size):
        yield start, min(n, start + shard_size)


def write_split(
    path: Path,
    pairs: Pairs,
    samples,
    *,
    attrs: dict,
    shard_size: int = DEFAULT_SHARD_SIZE,
    on_block: Callable[[dict[str, np.ndarray]], None] | None = None,
    progress=None,
) -> None:
    """Write one split's store at ``path`` (via a temporary name, renamed when complete).

    Args:
        path: ``DATASET/<split>.zarr``.
        pairs: the opened PAIRS/ source.
        samples: the split's rows of the sample table, already in storage order (sorted by sample_id).
        attrs: group attributes (no timestamps: they would break byte-identical rebuilds).
        shard_size: samples per shard.
        on_block: called with each shard's arrays (statistics and class counts accumulate there).
        progress: a tqdm-like object updated by the number of samples written.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
    group.attrs.update(attrs)
    n = len(samples)
    specs = array_specs(pairs)
    arrays = {}
    for name in ARRAY_NAMES:
        shape, dtype, fill = specs[name]
        arrays[name] = group.create_array(
            name, shape=(n,) + shape, dtype=dtype, chunks=(1,) + shape, shards=(shard_size,) + shape,
            compressors=[_compressor(dtype)], fill_value=fill, config={"write_empty_chunks": True},
        )
    job_ids = samples["job_id"].to_numpy()
    rows = samples["row"].to_numpy()
    for start, stop in shard_ranges(n, shard_size):
        block = {name: np.empty((stop - start,) + specs[name][0], specs[name][1]) for name in ARRAY_NAMES}
        for job_id in sorted(set(job_ids[start:stop])):
            where = np.flatnonzero(job_ids[start:stop] == job_id)
            got = pairs.read_rows(job_id, rows[start:stop][where])
            for name in ARRAY_NAMES:
                block[name][where] = got[name].reshape((len(where),) + specs[name][0])
        for name in ARRAY_NAMES:
            arrays[name][start:stop] = block[name]
        if on_block is not None:
            on_block(block)
        if progress is not None:
            progress.update(stop - start)
    with warnings.catch_warnings():  # zarr warns that consolidated metadata is not in the v3 spec yet
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(tmp))
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def store_files(store: Path) -> list[Path]:
    """Every file under a split store, sorted by relative path (the checksum list of the manifest)."""
    return sorted((p for p in store.rglob("*") if p.is_file()), key=lambda p: p.relative_to(store).as_posix())


class ShardReader:
    """Reads single samples of one array of a split store written by :func:`write_split`.

    Safe in DataLoader workers: file handles are opened lazily and re-opened in a forked process.
    """

    def __init__(self, array_dir: str | Path):
        self.dir = Path(array_dir)
        meta_path = self.dir / "zarr.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"array metadata not readable ({exc})", path=meta_path) from exc
        self.shape = tuple(meta["shape"])
        self.dtype = np.dtype(meta["data_type"])
        self.fill_value = meta["fill_value"]
        codecs = meta["codecs"]
        problem = self._unsupported(meta)
        if problem:
            raise DataError(f"not a store this loader reads: {problem}", path=meta_path,
                            fix="rebuild the dataset with `cloudbench build-splits`")
        self.shard_len = int(meta["chunk_grid"]["configuration"]["chunk_shape"][0])
        self.sample_shape = tuple(codecs[0]["configuration"]["chunk_shape"][1:])
        self.endian = codecs[0]["configuration"]["codecs"][0].get("configuration", {}).get("endian") or "little"
        stored = self.dtype.newbyteorder("<" if self.endian == "little" else ">")
        self._swap = not stored.isnative and self.dtype.itemsize > 1
        self._decoder = numcodecs.Blosc()
        self._fds: dict[int, int] = {}
        self._index: dict[int, np.ndarray] = {}
        self._pid = os.getpid()

    @staticmethod
    def _unsupported(meta: dict) -> str | None:
        codecs = meta.get("codecs", [])
        if len(codecs) != 1 or codecs[0].get("name") != "sharding_indexed":
            return "the array is not sharded"
        conf = codecs[0]["configuration"]
        inner = [c["name"] for c in conf.get("codecs", [])]
        if inner != ["bytes", "blosc"]:
            return f"inner codecs {inner}, expected ['bytes', 'blosc']"
        if [c["name"] for c in conf.get("index_codecs", [])] != ["bytes", "crc32c"]:
            return "unexpected shard index codecs"
        if conf.get("index_location", "end") != "end":
            return "shard index not at the end"
        if conf["chunk_shape"][0] != 1:
            return "a chunk holds more than one sample"
        sep = meta.get("chunk_key_encoding", {}).get("configuration", {}).get("separator", "/")
        if meta.get("chunk_key_encoding", {}).get("name") != "default" or sep != "/":
            return "unexpected chunk key encoding"
        return None

    def shard_path(self, shard: int) -> Path:
        tail = ["0"] * (len(self.shape) - 1)
        return self.dir.joinpath("c", str(shard), *tail)

    def _fd(self, shard: int) -> int:
        if os.getpid() != self._pid:  # forked worker: start clean
            self._fds, self._index, self._pid = {}, {}, os.getpid()
        fd = self._fds.get(shard)
        if fd is None:
            path = self.shard_path(shard)
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as exc:
                raise DataError(f"shard file cannot be opened ({exc.strerror})", path=path) from exc
            self._fds[shard] = fd
        return fd

    def _shard_index(self, shard: int) -> np.ndarray:
        index = self._index.get(shard)
        if index is None:
            fd = self._fd(shard)
            size = self.shard_len * 16 + 4
            end = os.fstat(fd).st_size
            raw = os.pread(fd, size, end - size)
            if len(raw) != size:
                raise DataError("shard file is shorter than its index", path=self.shard_path(shard))
            index = np.frombuffer(raw[:-4], dtype="<u8").reshape(self.shard_len, 2)
            self._index[shard] = index
        return index

    def read_raw(self, i: int) -> tuple[np.ndarray, int]:
        """Sample ``i`` and the number of stored (compressed) bytes read for it."""
        out = np.empty((1,) + self.sample_shape, dtype=self.dtype)
        nbytes = self.read_into([i], out)
        return out[0], nbytes

    def read_into(self, indices: Sequence[int] | np.ndarray, out: np.ndarray) -> int:
        """Decode samples ``indices`` into ``out[0], out[1], ...``; returns the bytes read from disk.

        Samples of one shard whose stored bytes lie next to each other (gaps up to
        ``MERGE_GAP_BYTES``) come in one ``pread``, so a batch of consecutive samples costs one system
        call per array and shard. Each sample decodes straight into its slot of ``out``: no
        intermediate copy. Indices may repeat and come in any order.

        Raises:
            IndexError: an index outside the array.
            DataError: a shard that is truncated or does not decode to one sample.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if out.shape != (len(idx),) + self.sample_shape or out.dtype != self.dtype or not out.flags.c_contiguous:
            raise ValueError(f"out must be C-contiguous {self.dtype} of shape {(len(idx),) + self.sample_shape}, "
                             f"got {out.dtype} {out.shape}")
        if len(idx) == 0:
            return 0
        bad = (idx < 0) | (idx >= self.shape[0])
        if bad.any():
            raise IndexError(f"sample {int(idx[bad][0])} out of range for {self.shape[0]} samples in {self.dir}")
        shards, slots = np.divmod(idx, self.shard_len)
        runs: list[list] = []  # [shard, start, end, [(k, offset, nbytes), ...]]
        for k in np.lexsort((slots, shards)).tolist():
            shard = int(shards[k])
            offset, nbytes = (int(v) for v in self._shard_index(shard)[slots[k]])
            if offset == int(_EMPTY):
                out[k] = self.fill_value
                continue
            last = runs[-1] if runs else None
            if last is not None and last[0] == shard and last[1] <= offset <= last[2] + MERGE_GAP_BYTES:
                last[2] = max(last[2], offset + nbytes)
                last[3].append((k, offset, nbytes))
            else:
                runs.append([shard, offset, offset + nbytes, [(k, offset, nbytes)]])
        total = 0
        for shard, start, end, items in runs:
            buf = os.pread(self._fd(shard), end - start, start)
            if len(buf) != end - start:
                raise DataError(f"samples {int(idx[items[0][0]])}.. run past the end of their shard",
                                path=self.shard_path(shard))
            total += end - start
            view = memoryview(buf)
            for k, offset, nbytes in items:
                self._decode_into(view[offset - start : offset - start + nbytes], out[k : k + 1], int(idx[k]), shard)
        return total

    def _decode_into(self, chunk: memoryview, dest: np.ndarray, i: int, shard: int) -> None:
        try:
            if len(chunk) < _BLOSC_HEADER:
                raise ValueError(f"{len(chunk)} bytes, shorter than a Blosc header")
            size = int.from_bytes(chunk[4:8], "little")  # Blosc header: uncompressed size at bytes 4-7
            if size != dest.nbytes:
                raise ValueError(f"decodes to {size} bytes, one sample is {dest.nbytes}")
            self._decoder.decode(chunk, out=dest)
        except Exception as exc:
            raise DataError(f"sample {i} does not decode ({exc})", path=self.shard_path(shard)) from exc
        if self._swap:
            dest.byteswap(inplace=True)

    def read(self, i: int) -> np.ndarray:
        return self.read_raw(i)[0]

    def close(self) -> None:
        if os.getpid() == self._pid:
            for fd in self._fds.values():
                os.close(fd)
        self._fds, self._index = {}, {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_fds"], state["_index"] = {}, {}
        return state

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass
