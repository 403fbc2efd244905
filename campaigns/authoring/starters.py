"""Starter designs a marketer copies into the builder and edits: newsletter, announcement,
plain letter, in English and Spanish (MJML files in starter_designs/, `<name>.<language>.mjml`).

Their images and social icons are our static files; `@builder/` in a file stands for their
folder at the site URL, so a copied design works in sent mail as it is.
"""

from dataclasses import dataclass
from pathlib import Path

from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

FOLDER = Path(__file__).resolve().parent / "starter_designs"
STATIC_FOLDER = "campaigns/builder/"
LANGUAGES = ("en", "es")
NAMES = {
    "newsletter": _("Newsletter"),
    "announcement": _("Announcement"),
    "letter": _("Plain letter"),
}


@dataclass(frozen=True)
class Starter:
    key: str  # "<name>.<language>"
    label: str
    mjml: str


def static_base(base_url: str) -> str:
    """The builder's static folder as sent mail reaches it (absolute, at the site URL)."""
    url = static(STATIC_FOLDER)
    return url if url.startswith(("http://", "https://")) else base_url.rstrip("/") + url


def starters(base_url: str, language: str) -> list[Starter]:
    """Every starter design, those in `language` first, each ready to load into the builder."""
    language = language if language in LANGUAGES else "en"
    order = [language, *(other for other in LANGUAGES if other != language)]
    found = []
    for lang in order:
        for name, label in NAMES.items():
            source = (FOLDER / f"{name}.{lang}.mjml").read_text(encoding="utf-8")
            mjml = source.replace("@builder/", static_base(base_url))
            found.append(Starter(f"{name}.{lang}", f"{label} ({lang.upper()})", mjml))
    return found
