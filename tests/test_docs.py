"""The documentation a newcomer reads: every relative link leads somewhere, anchors too."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def documents() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "tui" / "ARCHITECTURE.md"]
    found += sorted((ROOT / "docs").glob("*.md"))
    found += sorted((ROOT / "bench").glob("*.md"))
    return [path for path in found if path.exists()]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_every_relative_link_resolves() -> None:
    broken = []
    for document in documents():
        text = FENCE.sub("", document.read_text(encoding="utf-8"))
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not ours to check here
            file_part, _, anchor = target.partition("#")
            linked = (document.parent / file_part).resolve() if file_part else document
            where = f"{document.relative_to(ROOT)}: {target}"
            if not linked.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{where} (no such heading)")
    assert broken == []


def test_the_readme_stays_a_first_read() -> None:
    """What a new operator reads first; the reference lives in docs/."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 16 * 1024
    assert "make demo" in readme and "make test" in readme


def test_no_page_says_settings_changes_need_a_restart() -> None:
    """A session applies a changed ``[settings]`` at once (tests/test_session.py:
    test_changed_settings_are_applied_at_once_and_said): no page may send an operator to
    restart for one."""
    pages = [*documents(), *sorted((ROOT / "deploy").rglob("*.md"))]
    said = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for paragraph in re.split(r"\n\s*\n", text):
            flat = " ".join(paragraph.split())
            for sentence in re.split(r"(?<=[.;])\s", flat):
                needs_restart = re.search(r"\brestart", sentence) and not re.search(
                    r"\bno restart|without a restart", sentence
                )
                if "[settings]" in sentence and needs_restart:
                    said.append(f"{page.relative_to(ROOT)}: {sentence}")
    assert said == []
