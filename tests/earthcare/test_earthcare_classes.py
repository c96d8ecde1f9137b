"""Every class code of the three EarthCARE tables, read from a file, becomes the class docs/earthcare.md
lists; a file whose ``definition`` disagrees with a table is refused, naming the code."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from cloudbench.config import CLEAR, DEFAULT_GRID, ICE, MIXED, UNLABELED, WATER
from cloudbench.errors import DataError
from cloudbench.products import earthcare as ec
from cloudbench.readers.earthcare_tc import parse_definition, read_earthcare_native, read_earthcare_tc
from cloudbench.synthetic.earthcare_tc import write_earthcare_frame

from .conftest import build_track, frame_of

C, Ic, M, W, U = CLEAR, ICE, MIXED, WATER, UNLABELED
# The decisions of docs/earthcare.md, written out again here so that a change to the table shows up.
EXPECTED = {
    "AC__TC__2B": {
        -1: U, 0: U, 1: C, 2: U, 3: U, 4: U, 5: W, 6: M, 7: U, 8: W, 9: W, 10: W, 11: W, 12: M, 13: Ic, 14: Ic,
        15: M, 16: M, 17: M, 18: W, 19: Ic, 20: M, 21: Ic, 22: Ic, 23: U, 24: U, 25: U, 26: C, 27: C, 28: C, 29: C,
        30: C, 31: C, 32: C, 33: C, 34: C,
    },
    "ATL_TC__2A": {
        -3: U, -2: U, -1: U, 0: C, 1: W, 2: W, 3: Ic, 10: C, 11: C, 12: C, 13: C, 14: C, 15: C, 20: U, 21: U, 22: Ic,
        25: C, 26: C, 27: C, 101: U,
    },
    "CPR_TC__2A": {
        -1: U, 0: U, 1: U, 2: W, 3: W, 4: W, 5: W, 6: M, 7: M, 8: Ic, 9: Ic, 10: Ic, 11: U, 12: W, 13: M, 14: W, 15: M,
        16: U, 17: U, 18: U, 19: U, 20: U,
    },
}
CASES = [(code_type, code) for code_type, table in EXPECTED.items() for code in table]
BLOCK_KM = (5.04, 7.2)  # the cells coded under test: 9 common bins of 240 m


def test_the_tables_hold_exactly_the_documented_codes():
    for product in ec.PRODUCT_TYPES.values():
        assert set(product.table) == set(EXPECTED[product.code]), product.code


@pytest.fixture(scope="module")
def coded_files(tmp_path_factory):
    """Per product, a frame with one profile per table code: that code in 5.04-7.2 km, clear-sky codes elsewhere."""
    root = tmp_path_factory.mktemp("codes")
    out = {}
    for product in ec.PRODUCT_TYPES.values():
        codes = sorted(product.table)
        layers = build_track(len(codes), [])
        path = write_earthcare_frame(root, product, layers, frame_of(layers))
        with h5py.File(path, "r+") as h:
            var = h[f"ScienceData/{product.class_var}"]
            values = var[()]
            height = h["ScienceData/height"][()] - h["ScienceData/geoid_offset"][()][:, None]
            inside = (height > BLOCK_KM[0] * 1000 + 50) & (height < BLOCK_KM[1] * 1000 - 50)
            for row, code in enumerate(codes):
                values[row, inside[row]] = code
            var[...] = values
        out[product.code] = (read_earthcare_tc(path), codes)
    return out


@pytest.mark.parametrize(("code_type", "code"), CASES)
def test_every_code_reads_as_its_class(coded_files, code_type, code):
    ds, codes = coded_files[code_type]
    row = codes.index(code)
    lo, hi = int(round(BLOCK_KM[0] / 0.24)), int(round(BLOCK_KM[1] / 0.24))
    assert (ds["phase"].values[row, lo + 1 : hi - 1] == EXPECTED[code_type][code]).all()
    assert ec.class_lookup(ec.PRODUCT_TYPES[code_type].table)[code & 0xFF] == EXPECTED[code_type][code]


def _rewrite_definition(path, var: str, text: str) -> None:
    with h5py.File(path, "r+") as h:
        h[f"ScienceData/{var}"].attrs["definition"] = np.bytes_(text.encode())


@pytest.fixture
def small_file(tmp_path):
    def make(product: ec.ProductType):
        layers = build_track(6, [(8.0, 10.0, ICE, 1.0), (1.0, 2.0, WATER, 5.0)])
        return write_earthcare_frame(tmp_path, product, layers, frame_of(layers))

    return make


@pytest.mark.parametrize("product", list(ec.PRODUCT_TYPES.values()), ids=lambda p: p.code)
def test_a_renamed_class_is_refused_naming_the_code(small_file, product):
    path = small_file(product)
    text = h5py.File(path)[f"ScienceData/{product.class_var}"].attrs["definition"].decode()
    code = 8 if product is not ec.ATL_TC else 3
    sep = "=" if product.definition_style == "pairs" else ": "
    old = f"{code}{sep}{product.table[code].label}"
    assert old in text
    _rewrite_definition(path, product.class_var, text.replace(old, f"{code}{sep}melting graupel"))
    with pytest.raises(DataError) as exc:
        read_earthcare_tc(path)
    assert f"class code {code} " in str(exc.value) and "melting graupel" in str(exc.value)
    assert exc.value.exit_code == 2 and str(path) in str(exc.value)


def test_a_code_the_table_does_not_know_is_refused_in_the_definition_and_in_the_data(small_file):
    path = small_file(ec.AC_TC)
    var = ec.AC_TC.class_var
    text = h5py.File(path)[f"ScienceData/{var}"].attrs["definition"].decode()
    _rewrite_definition(path, var, text + "\n35: volcanic ash plume")
    with pytest.raises(DataError, match=r"class code 35 \('volcanic ash plume'\)"):
        read_earthcare_tc(path)
    _rewrite_definition(path, var, text)
    read_earthcare_tc(path)
    with h5py.File(path, "r+") as h:
        values = h[f"ScienceData/{var}"][()]
        values[2, 10] = 40
        h[f"ScienceData/{var}"][...] = values
    with pytest.raises(DataError, match="holds class code 40"):
        read_earthcare_tc(path)


def test_every_class_variable_is_checked_not_only_the_one_read(small_file):
    path = small_file(ec.AC_TC)
    var = "CPR_target_classification"
    text = h5py.File(path)[f"ScienceData/{var}"].attrs["definition"].decode()
    _rewrite_definition(path, var, text.replace("9=ice", "9=snow"))
    with pytest.raises(DataError, match="CPR_target_classification defines class code 9 as 'snow'"):
        read_earthcare_native(path)


def test_a_missing_definition_is_refused(small_file):
    path = small_file(ec.CPR_TC)
    with h5py.File(path, "r+") as h:
        del h["ScienceData/hydrometeor_classification"].attrs["definition"]
    with pytest.raises(DataError, match="no 'definition' attribute"):
        read_earthcare_tc(path)


def test_other_spellings_of_the_labels_are_the_same_classes(small_file):
    """The short labels of plotting tools (\"S'cooled liquid cloud\", \"Strat. ice\") say the same thing."""
    path = small_file(ec.AC_TC)
    text = "\n".join(f"{code}: {entry.aliases[0] if entry.aliases else entry.label.upper()}"
                     for code, entry in sorted(ec.AC_TC_CLASSES.items()))
    _rewrite_definition(path, ec.AC_TC.class_var, text)
    assert read_earthcare_tc(path)["phase"].shape[0] == 6


def test_atlid_unknown_subkinds_read_as_unlabeled(small_file):
    path = small_file(ec.ATL_TC)
    text = h5py.File(path)["ScienceData/classification"].attrs["definition"].decode()
    _rewrite_definition(path, "classification", text + "\n104: Unknown: aerosol outside the parameter space")
    with h5py.File(path, "r+") as h:
        values = h["ScienceData/classification"][()]
        values[:, :] = np.where(values == 0, 104, values).astype(np.int8)  # every clear cell now "unknown"
        h["ScienceData/classification"][...] = values
    phase = read_earthcare_tc(path)["phase"].values
    assert not (phase == CLEAR).any() and (phase == ICE).any()
    _rewrite_definition(path, "classification", text + "\n104: dust storm")
    with pytest.raises(DataError, match="class code 104"):
        read_earthcare_tc(path)


def test_definition_spellings():
    lines = "-1: unknown\n0: ground\n7: no rain or ice (possible liquid)\n21: ice cloud (no liquid)"
    assert parse_definition(lines) == {-1: "unknown", 0: "ground", 7: "no rain or ice (possible liquid)",
                                       21: "ice cloud (no liquid)"}
    pairs = "-1=no data, 0=surface, 3=drizzling liquid clouds, drizzle possible, 12=heavy rain, likely, 20=uncertain"
    assert parse_definition(pairs) == {-1: "no data", 0: "surface", 3: "drizzling liquid clouds, drizzle possible",
                                       12: "heavy rain, likely", 20: "uncertain"}
    assert ec.label_matches(ec.CPR_TC_CLASSES[12], "heavy rain, likely")
    assert not ec.label_matches(ec.CPR_TC_CLASSES[14], "heavy rain likely")
    assert parse_definition("0: Clear, 1: Cumulus, -127: Not determined") == {0: "Clear", 1: "Cumulus",
                                                                             -127: "Not determined"}


def test_grid_of_the_test_block_is_what_the_test_assumes():
    edges = DEFAULT_GRID.edges_km
    assert edges[21] == pytest.approx(BLOCK_KM[0]) and edges[30] == pytest.approx(BLOCK_KM[1])
