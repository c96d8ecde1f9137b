"""Damaged imager files raise DataError naming the file and what is wrong."""

from __future__ import annotations

import bz2

import netCDF4
import numpy as np
import pytest

from cloudbench.errors import DataError
from cloudbench.readers.abi_l1b import read_abi
from cloudbench.readers.ahi_hsd import read_hsd_header, read_hsd_segment
from cloudbench.readers.imager import imager_summary, read_imager


@pytest.fixture
def segment_bytes(ahi_slot):
    path = sorted(p for p in ahi_slot["paths"] if "_B13_" in p.name)[0]
    return path.name, bz2.decompress(path.read_bytes())


def _write(tmp_path, name, raw: bytes):
    p = tmp_path / name
    p.write_bytes(bz2.compress(raw))
    return p


def test_truncated_header(tmp_path, segment_bytes):
    name, raw = segment_bytes
    p = _write(tmp_path, name, raw[:700])
    for read in (read_hsd_header, read_hsd_segment):
        with pytest.raises(DataError, match="truncated") as err:
            read(p)
        assert name in str(err.value)


def test_truncated_image(tmp_path, segment_bytes):
    name, raw = segment_bytes
    p = _write(tmp_path, name, raw[:-1000])
    read_hsd_header(p)  # the header itself is fine
    with pytest.raises(DataError, match="truncated HSD image") as err:
        read_hsd_segment(p)
    assert name in str(err.value)


def test_wrong_block_number(tmp_path, segment_bytes):
    name, raw = segment_bytes
    b = bytearray(raw)
    b[282 + 50] = 9  # block 3 starts after blocks 1 (282 bytes) and 2 (50 bytes)
    p = _write(tmp_path, name, bytes(b))
    with pytest.raises(DataError, match="block 3 expected at byte 332, found block number 9") as err:
        read_hsd_header(p)
    assert name in str(err.value)


def test_wrong_block_length(tmp_path, segment_bytes):
    name, raw = segment_bytes
    b = bytearray(raw)
    b[333:335] = np.uint16(120).tobytes()
    p = _write(tmp_path, name, bytes(b))
    with pytest.raises(DataError, match="block 3 has length 120, expected 127") as err:
        read_hsd_segment(p)
    assert name in str(err.value)


def test_header_length_disagreeing_with_block1(tmp_path, segment_bytes):
    name, raw = segment_bytes
    b = bytearray(raw)
    total = int(np.frombuffer(raw, "<u4", 1, 70)[0])
    b[70:74] = np.uint32(total + 4).tobytes()
    p = _write(tmp_path, name, bytes(b))
    with pytest.raises(DataError, match="block 1 says"):
        read_hsd_header(p)


def test_not_bz2(tmp_path, segment_bytes):
    name, _ = segment_bytes
    p = tmp_path / name
    p.write_bytes(b"this is not a bz2 stream at all")
    with pytest.raises(DataError) as err:
        read_hsd_segment(p)
    assert name in str(err.value)


def test_abi_file_without_rad(tmp_path, abi_slot):
    src = next(p for p in abi_slot["paths"] if "C13" in p.name)
    dst = tmp_path / src.name
    with netCDF4.Dataset(src) as s, netCDF4.Dataset(dst, "w") as d:
        for name, dim in s.dimensions.items():
            d.createDimension(name, len(dim))
        for name, var in s.variables.items():
            if name == "Rad":
                continue
            var.set_auto_maskandscale(False)
            v = d.createVariable(name, var.dtype, var.dimensions)
            v.set_auto_maskandscale(False)
            v.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
            v[...] = var[...]
    for call in (read_abi, imager_summary, lambda p: read_imager([p])):
        with pytest.raises(DataError, match="'Rad' is missing") as err:
            call(dst)
        assert src.name in str(err.value)


def test_abi_not_netcdf(tmp_path, abi_slot):
    src = next(p for p in abi_slot["paths"] if "C13" in p.name)
    dst = tmp_path / src.name
    dst.write_bytes(b"\x89HDF garbage")
    with pytest.raises(DataError, match="not a readable netCDF"):
        read_abi(dst)
