"""The repository stands alone: every doc it names exists, and no file points outside the checkout.

A clone has nothing beside it, so a path to a sibling folder or to the machine it was written on
works for its authors and fails for everyone else; and a docstring that cites a page under docs/ sends a
reader nowhere if the page is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".sh", ".cfg", ".json", ".yml", ".yaml", ""}
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build", "dist", "demo-out"}
DOC_PATH = re.compile(r"docs/[A-Za-z0-9_.-]+\.md")
MD_LINK = re.compile(r"\]\(([A-Za-z0-9_.-]+\.md)(?:#[^)]*)?\)")
OUTSIDE = (".." + "/shared", "/" + "work/")  # spelled in two parts so this file does not match itself


def _text_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in path.relative_to(ROOT).parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path.stat().st_size < 2_000_000:
            files.append(path)
    return files


def test_every_named_doc_exists():
    missing = []
    for path in _text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for ref in set(DOC_PATH.findall(text)):
            if not (ROOT / ref).is_file():
                missing.append(f"{path.relative_to(ROOT)}: {ref}")
        if path.parent == ROOT / "docs":
            for ref in set(MD_LINK.findall(text)):
                if not (path.parent / ref).is_file():
                    missing.append(f"{path.relative_to(ROOT)}: {ref}")
    assert not missing, "docs named but not in the repository:\n" + "\n".join(missing)


def test_no_file_points_outside_the_repository():
    found = [f"{path.relative_to(ROOT)}: {needle}" for path in _text_files()
             for needle in OUTSIDE if needle in path.read_text(encoding="utf-8", errors="replace")]
    assert not found, "paths outside the checkout:\n" + "\n".join(found)


def test_the_checks_see_the_docs():
    names = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert {"formats.md", "dataset-spec.md", "user-guide.md", "architecture.md"} <= names
    assert any(DOC_PATH.search(p.read_text(encoding="utf-8")) for p in (ROOT / "cloudbench").rglob("*.py"))
