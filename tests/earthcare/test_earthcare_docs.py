"""docs/earthcare.md lists every code of the three tables with the class the reader gives it."""

from __future__ import annotations

import re
from pathlib import Path

from cloudbench.config import CLASS_NAMES, UNLABELED
from cloudbench.products import earthcare as ec

DOC = Path(__file__).resolve().parents[2] / "docs" / "earthcare.md"
NAMES = {**CLASS_NAMES, UNLABELED: "unlabeled"}


def doc_tables() -> dict[str, dict[int, tuple[str, str]]]:
    tables: dict[str, dict[int, tuple[str, str]]] = {}
    current = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"### (\w{10}) `", line)
        if heading:
            current = tables.setdefault(heading.group(1), {})
            continue
        row = re.match(r"\| (-?\d+) \| (.+?) \| (\w+) \|", line)
        if current is not None and row:
            current[int(row.group(1))] = (row.group(2), row.group(3))
    return tables


def test_docs_tables_are_the_constants():
    tables = doc_tables()
    assert set(tables) == set(ec.PRODUCT_TYPES)
    for code, product in ec.PRODUCT_TYPES.items():
        documented = tables[code]
        assert set(documented) == set(product.table), code
        for value, entry in product.table.items():
            assert documented[value] == (entry.label, NAMES[entry.phase]), (code, value)
