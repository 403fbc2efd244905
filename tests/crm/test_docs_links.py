"""Every link between the repository's Markdown pages leads somewhere.

Reads README.md, docs/**/*.md, bench/README.md and any other Markdown file of the repository, and
checks that each relative link names an existing file or folder, each `#anchor` a heading of its
page (by GitHub's rules for heading anchors), and each repository path or test name the pages
quote in `code` exists. Links to other sites are not fetched.
"""

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

REPO = Path(__file__).resolve().parents[2]
SKIPPED_FOLDERS = {"var", "node_modules", "staticfiles"}  # and hidden ones: .git, .venv…
# Top-level folders whose paths the pages quote in `code`; var/ is made at run time.
QUOTED_ROOTS = (
    ".ci|bench|campaigns|crm|docs|frontend|locale|people|settings|targetlists|templates|tests"
    "|tracking"
)

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)"
)
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]*)\"", re.IGNORECASE)
ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
HTML_ANCHOR = re.compile(r"<a\b[^>]*\b(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
QUOTED_PATH = re.compile(rf"(?<![\w./<-])((?:{QUOTED_ROOTS})/[\w./-]*)")
QUOTED_TEST = re.compile(r"^(test_\w+)$")


def markdown_files(root: Path) -> list[Path]:
    """The repository's Markdown files, outside virtual environments and run-time folders."""
    return sorted(
        path
        for path in root.rglob("*.md")
        if not any(
            part in SKIPPED_FOLDERS or part.startswith(".") or part.endswith(".egg-info")
            for part in path.relative_to(root).parts[:-1]
        )
    )


def prose_lines(text: str) -> list[str]:
    """The page's lines with fenced code blocks blanked (line numbers kept)."""
    lines, fence = [], None
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)[0] * len(opening.group(1))
            lines.append("")
        elif fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            lines.append("")
        else:
            lines.append(line)
    return lines


def without_code_spans(text: str) -> str:
    """The text with each `code span` blanked, keeping its line breaks."""
    return CODE_SPAN.sub(lambda match: re.sub(r"[^\n]", " ", match.group(0)), text)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower case, punctuation out, spaces as -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"[`*]|(?<!\w)_+|_+(?!\w)", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every `#anchor` a page has: its headings' (duplicates numbered -1, -2…) and HTML ids."""
    lines = prose_lines(path.read_text(encoding="utf-8"))
    seen: Counter[str] = Counter()
    found = set(HTML_ANCHOR.findall("\n".join(lines)))
    for number, line in enumerate(lines):
        atx = ATX_HEADING.match(line)
        setext = (
            number + 1 < len(lines) and line.strip() and SETEXT_UNDERLINE.match(lines[number + 1])
        )
        if not (atx or setext):
            continue
        slug = github_anchor(atx.group(1) if atx else line)
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found


def link_targets(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every inline, reference and HTML link outside code."""
    prose = without_code_spans("\n".join(prose_lines(text)))
    targets = []
    for pattern in (INLINE_LINK, REFERENCE_LINK, HTML_LINK):
        for match in pattern.finditer(prose):
            targets.append((prose.count("\n", 0, match.start()) + 1, match.group(1)))
    return sorted(targets)


def broken_link(root: Path, page: Path, target: str) -> str | None:
    """Why a link of `page` leads nowhere, or None when it leads somewhere (or off-site)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("//"):
        return None  # another site, mailto: …
    address, _, anchor = unquote(target).partition("#")
    if not address and not anchor:
        return "an empty link"
    base = root if address.startswith("/") else page.parent
    destination = (base / address.lstrip("/")).resolve() if address else page
    if not destination.is_relative_to(root.resolve()):
        return f"{address} is outside the repository"
    if not destination.exists():
        return f"{address} does not exist"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"{destination.relative_to(root.resolve())} has no heading #{anchor}"
    return None


def quoted_names(text: str) -> list[tuple[int, str]]:
    """(line number, name) of repository paths and test names quoted in `code` outside blocks."""
    prose = "\n".join(prose_lines(text))
    names = []
    for match in CODE_SPAN.finditer(prose):
        line = prose.count("\n", 0, match.start()) + 1
        span = match.group(2).strip()
        names += [(line, path.rstrip(".")) for path in QUOTED_PATH.findall(span)]
        names += [(line, name) for name in QUOTED_TEST.findall(span)]
    return names


def defined_test_names(root: Path) -> set[str]:
    """Every test function and test class name under tests/."""
    pattern = re.compile(r"^\s*(?:def|class)\s+(test_\w+|Test\w+)", re.MULTILINE)
    return {
        name
        for path in (root / "tests").rglob("*.py")
        for name in pattern.findall(path.read_text(encoding="utf-8"))
    }


def problems(root: Path) -> list[str]:
    """Every broken link and every quoted path or test name that does not exist, in words."""
    found, tests = [], defined_test_names(root) if (root / "tests").is_dir() else set()
    for page in markdown_files(root):
        text = page.read_text(encoding="utf-8")
        where = page.relative_to(root)
        for line, target in link_targets(text):
            reason = broken_link(root, page, target)
            if reason:
                found.append(f"{where}:{line}: ({target}) {reason}")
        for line, name in quoted_names(text):
            missing = name not in tests if name.startswith("test_") else not (root / name).exists()
            if missing:
                found.append(f"{where}:{line}: `{name}` names nothing in the repository")
    return found


def test_it_finds_every_link_of_the_repository_leads_somewhere():
    pages = markdown_files(REPO)
    assert {REPO / "README.md", REPO / "docs" / "README.md", REPO / "bench" / "README.md"} <= set(
        pages
    )
    found = problems(REPO)
    assert not found, "Links or names leading nowhere:\n" + "\n".join(found)


def test_it_reports_a_missing_page_a_missing_heading_and_a_missing_file(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_it_works():\n    pass\n")
    (tmp_path / "docs" / "guide.md").write_text("# The guide\n\n## Sending: step by step\n")
    (tmp_path / "README.md").write_text(
        "Read [the guide](docs/guide.md#sending-step-by-step) and [its top](docs/guide.md).\n"
        "[Gone](docs/gone.md), [no heading](docs/guide.md#receiving), "
        "[off-site](https://example.com/x.md).\n"
        "See `tests/test_a.py`, `test_it_works`, `tests/test_b.py` and `test_it_flies`.\n"
        "```\n[in a block](nowhere.md) `tests/nowhere.py`\n```\n"
        "`[in a span](nowhere.md)`\n"
    )

    assert problems(tmp_path) == [
        "README.md:2: (docs/gone.md) docs/gone.md does not exist",
        "README.md:2: (docs/guide.md#receiving) docs/guide.md has no heading #receiving",
        "README.md:3: `tests/test_b.py` names nothing in the repository",
        "README.md:3: `test_it_flies` names nothing in the repository",
    ]


def test_it_reports_a_link_to_a_heading_of_its_own_page_that_is_missing(tmp_path):
    (tmp_path / "README.md").write_text(
        "# Title\n\n## Title\n\nSee [both](#title-1), [this](#title) and [that](#nothing).\n"
        "Other\n=====\n[setext](#other) [outside](../elsewhere.md)\n"
    )

    assert problems(tmp_path) == [
        "README.md:5: (#nothing) README.md has no heading #nothing",
        "README.md:8: (../elsewhere.md) ../elsewhere.md is outside the repository",
    ]


def test_it_gives_headings_the_anchors_github_gives_them():
    assert github_anchor("Deployment (PostgreSQL, Redis, several workers)") == (
        "deployment-postgresql-redis-several-workers"
    )
    assert github_anchor("People in: imports, signup forms, consent, privacy") == (
        "people-in-imports-signup-forms-consent-privacy"
    )
    assert github_anchor("The `MASS_EMAIL_RETRY_SECONDS` setting") == (
        "the-mass_email_retry_seconds-setting"
    )
    assert github_anchor("Envoi — **résumé** [lien](x.md)") == "envoi--résumé-lien"
