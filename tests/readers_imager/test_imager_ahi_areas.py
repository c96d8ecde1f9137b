"""HSD area names: full disk (FLDK), Japan areas (JPnn) and target areas (Rnnn) are all AHI files.

Only full-disk scans serve collocation (the geometry indexes their rows and line times); a target-area
file found in an archive is listed with the reason it was left out, never read as a full disk.
"""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from cloudbench.cli import cli
from cloudbench.collocate.jobs import discover
from cloudbench.products import ahi_hsd
from cloudbench.sensors.registry import parse_imager_file


@pytest.mark.parametrize("area", ["FLDK", "JP01", "JP04", "R301", "R302", "R305"])
def test_every_area_name_parses(area):
    name = f"HS_H08_20160706_0800_B13_{area}_R20_S0101.DAT.bz2"
    info = ahi_hsd.parse_filename(name)
    assert info is not None and info.area == area and info.band == "B13"
    product, f = parse_imager_file(name)
    assert product.name == "ahi-hsd"
    assert f.full_disk == (area == "FLDK")
    reason = product.skip_reason(f)
    assert (reason is None) == (area == "FLDK")
    if reason:
        assert area in reason and "full-disk" in reason


@pytest.mark.parametrize("bad", ["HS_H08_20160706_0800_B13_R3_R20_S0101.DAT.bz2",
                                 "HS_H08_20160706_0800_B13_JPX1_R20_S0101.DAT.bz2",
                                 "HS_H08_20160706_0800_B13_R3021_R20_S0101.DAT.bz2"])
def test_malformed_area_names_are_not_hsd(bad):
    assert ahi_hsd.parse_filename(bad) is None


def _fldk_segment(ahi_slot):
    return next(p for p in ahi_slot["paths"] if "_B13_" in p.name)


def test_inspect_reads_a_target_area_named_file(ahi_slot, tmp_path):
    src = _fldk_segment(ahi_slot)
    renamed = tmp_path / src.name.replace("_FLDK_", "_R302_")
    shutil.copy(src, renamed)
    result = CliRunner().invoke(cli, ["inspect", "--json", str(renamed)])
    assert result.exit_code == 0, result.output
    assert "B13" in result.output


def test_collocation_lists_target_area_files_with_the_reason(ahi_slot, tmp_path):
    archive = tmp_path / "archive"
    shutil.copytree(ahi_slot["root"], archive)
    src = next(p for p in archive.rglob("*_B13_FLDK_*"))
    target = src.with_name(src.name.replace("_FLDK_", "_R302_"))
    shutil.copy(src, target)
    found = discover(archive, "cldclass-lidar")
    skipped = {u["file"]: u["reason"] for u in found.unusable}
    assert list(skipped) == [str(target)]
    assert "R302" in skipped[str(target)] and "sub-area" in skipped[str(target)]
    assert all(str(target) not in s.files for s in found.slots)
    assert found.slots and all("_FLDK_" in f for s in found.slots for f in s.files)
