"""What the template form's visual builder script is given: where to upload images, where our
static files are at the site URL, the starter designs, and its words in the user's language."""

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from campaigns.authoring import starters
from campaigns.models import MassEmailSettings


def config(upload_url: str) -> dict:
    """The builder's configuration (json_script'ed into the form page)."""
    language = (get_language() or "en")[:2]
    base_url = MassEmailSettings.load().base_url
    return {
        "upload": upload_url,
        "static": starters.static_base(base_url),
        "language": language,
        "starters": [
            {"key": starter.key, "label": starter.label, "mjml": starter.mjml}
            for starter in starters.starters(base_url, language)
        ],
        "text": texts(),
    }


def texts() -> dict[str, str]:
    """The builder script's words."""
    return {
        "builder": _("Visual builder"),
        "help": _(
            "Drag sections into the email and blocks into their columns; click a text to write. "
            "The preview shows the email as it is sent, compiled on the server."
        ),
        "starters": _("Start from a design"),
        "startersChoose": _("(choose a starter design)"),
        "replace": _("Replace the whole design with this starter design?"),
        "campaign": _("Tracking URLs of campaign"),
        "insertPlaceholder": _("Insert a placeholder"),
        "personFields": _("Person fields"),
        "builtins": _("Dates"),
        "links": _("Links"),
        "optOutLink": _("Unsubscribe link"),
        "webViewLink": _("“View in browser” link"),
        "unsubscribe": _("Unsubscribe"),
        "viewInBrowser": _("View this email in your browser"),
        "fallbackPrompt": _(
            "Text to show when a recipient has no value for %s (leave empty for none):"
        ),
        "linkTo": _("Link to a tracking URL…"),
        "linkLabel": _("Link"),
        "altLabel": _("Alt text (required)"),
        "uploadFailed": _("The image could not be uploaded."),
        "toVisual": _(
            "When you save, the HTML body will be replaced by the visual design. Continue?"
        ),
        "toSource": _(
            "The HTML source editor gets the design's HTML to edit; when you save, the visual "
            "design is dropped. Continue?"
        ),
        "layout": _("Sections"),
        "content": _("Content"),
        "section1": _("1 column"),
        "section2": _("2 columns"),
        "section3": _("3 columns"),
        "section4": _("4 columns"),
        "text": _("Text"),
        "image": _("Image"),
        "button": _("Button"),
        "divider": _("Divider"),
        "spacer": _("Spacer"),
        "social": _("Social links"),
        "footer": _("Footer with unsubscribe link"),
        "sampleText": _("Write your text here."),
        "buttonText": _("Read more"),
        "footerText": _("You receive this email because you signed up for it."),
    }
