"""The README stays a user's page, and the documentation's links lead somewhere."""

import re
from pathlib import Path

import pytest

from tests.support import ROOT

PAGES = [ROOT / "README.md", ROOT / "deploy" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_at_most_ten_kilobytes():
    assert (ROOT / "README.md").stat().st_size <= 10_000


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path):
    targets = [t for t in LINK.findall(page.read_text()) if "://" not in t]
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert missing == []


def test_the_documents_the_readme_promises_exist():
    for name in (
        "design",
        "model-card",
        "performance",
        "operations",
        "review-loop",
        "model-lifecycle",
    ):
        assert (ROOT / "docs" / f"{name}.md").is_file()
