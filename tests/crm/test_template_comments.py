"""No template prints a comment: Django's `{# … #}` ends at the end of its line, so one that
spans lines shows up as text on the page (`{% comment %}` spans lines)."""

from pathlib import Path

import pytest
from django.conf import settings
from django.template.base import Lexer, TokenType

TEMPLATES = sorted(
    path
    for folder in settings.TEMPLATES[0]["DIRS"]
    for path in Path(folder).rglob("*")
    if path.suffix in (".html", ".txt")
)


def printed_comments(source: str) -> list[int]:
    """The lines where a `{#` reaches the page as text."""
    lines = []
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.TEXT and "{#" in token.contents:
            before = token.contents[: token.contents.index("{#")]
            lines.append(token.lineno + before.count("\n"))
    return lines


def test_it_finds_a_comment_that_spans_lines():
    assert printed_comments("<p>{# one line #}</p>\n{# two\nlines #}\n") == [2]
    assert printed_comments("{% comment %}two\nlines{% endcomment %}{# one #}") == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(settings.BASE_DIR)))
def test_no_template_prints_a_comment(path):
    assert printed_comments(path.read_text(encoding="utf-8")) == []
