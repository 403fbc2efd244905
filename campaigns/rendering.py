"""Rendering a mass email: compiled once per mass email, filled in per recipient.

`CompiledMassEmail.compile(mass_email)` reads the settings, checks the template and its tracking
URLs, parses the HTML once (campaigns.html_body), turns subject and bodies into %-format strings
with one slot per placeholder, and pre-encodes the MIME skeleton (fixed headers, boundaries,
attachments in base64). `render(item)` then only computes the recipient's values (person fields,
signed tokens in URLs), formats, quoted-printable encodes the bodies and fills the skeleton.

Per-recipient URLs, all under MassEmailSettings.base_url, with campaigns.tokens tokens:
  {optOutUrl}        tracking:opt_out    …/u/<OPT_OUT item>/            (a page; its POST acts)
  List-Unsubscribe   tracking:one_click  …/u/<OPT_OUT item>/one-click/  (RFC 8058 one-click POST)
  {trackingUrl:ID}   tracking:click      …/c/<CLICK item, ID>/
  open pixel         tracking:open       …/o/<OPEN item>/
Headers: Message-ID <massmail.<HEADER item>@<from domain>> (the same when an item is retried),
X-Queue-Item-Id: <HEADER item>; with VERP on, envelope sender bounce+<VERP item>@<domain>.

The admin switch "disable the mandatory opt-out link" only stops appending a link to the body:
List-Unsubscribe stays, because Gmail and Yahoo require it of bulk senders. Informational
campaigns get neither, no tracking, and empty {optOutUrl}/{optOutLink}.
"""

import html
import os
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext

from campaigns import html_body, mime, tokens
from campaigns.models import CampaignType, MassEmailSettings, TrackingUrl
from crm import placeholders
from crm.models import OutboundEmailSettings
from crm.placeholders import Placeholder, header_safe

MARKER = "TOKENMARKER"
PIXEL = Placeholder("openPixel")  # the open pixel's slot, never written in a template
OPT_OUT_NAMES = ("optOutUrl", "optOutLink")
OPT_OUT_PARAGRAPH = '\r\n<p style="font-size:12px;color:#666666;">{optOutLink}</p>\r\n'
PIXEL_TAG = '<img src="%s" width="1" height="1" alt="" style="border:0;width:1px;height:1px;">'
AUTO_SUBMITTED_TYPES = (CampaignType.NEWSLETTER, CampaignType.INFORMATIONAL)
CONTEXTS = ("h", "t", "s")  # HTML body, plain-text body, subject


class RenderError(Exception):
    """The mass email cannot be rendered; the message tells the marketer why."""


class TrackingUrlError(RenderError):
    """The template links to a tracking URL that does not exist or belongs to another campaign."""


@dataclass(frozen=True)
class RenderedMessage:
    envelope_from: str  # MAIL FROM (the VERP address when on)
    recipient: str  # RCPT TO
    message_id: str
    data: bytes  # the whole message, CRLF line endings, ready for smtplib.SMTP.sendmail


@dataclass(frozen=True)
class Policy:
    """What a mass email adds to its messages, decided once from the campaign and settings."""

    informational: bool
    append_opt_out: bool
    list_unsubscribe: bool
    open_pixel: bool


@dataclass(frozen=True)
class Sender:
    from_header: str
    address: str
    domain: str
    reply_to_header: str


@dataclass(frozen=True)
class TokenUrl:
    """A URL split around its token once, so no reverse() is needed per recipient."""

    before: str
    after: str

    @classmethod
    def named(cls, base_url: str, url_name: str) -> "TokenUrl":
        before, after = (base_url + reverse(url_name, args=[MARKER])).split(MARKER)
        return cls(before, after)

    def escaped(self) -> "TokenUrl":
        return TokenUrl(html.escape(self.before), html.escape(self.after))

    def __call__(self, token: str) -> str:
        return self.before + token + self.after


def _crlf(text: str) -> str:
    """`text` with CRLF line endings and a final CRLF (quoted-printable relies on both)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    return text if text.endswith("\r\n") else text + "\r\n"


def _policy(mass_email, mass_settings: MassEmailSettings) -> Policy:
    informational = mass_email.campaign.is_informational
    return Policy(
        informational=informational,
        append_opt_out=not informational and not mass_settings.disable_opt_out_link,
        list_unsubscribe=not informational,
        open_pixel=(
            mass_settings.open_tracking
            and not informational
            and bool(mass_email.email_template.body_html.strip())
        ),
    )


def _sender(mass_email) -> Sender:
    if mass_email.smtp_account_id:
        default_address = mass_email.smtp_account.email_address
        default_name = mass_email.smtp_account.from_name
    else:
        outbound = OutboundEmailSettings.load()
        default_address = outbound.from_address or settings.DEFAULT_FROM_EMAIL
        default_name = outbound.from_name
    address = mime.clean_address(mass_email.from_address or default_address)
    local, _at, domain = address.rpartition("@")
    if not local or not domain:
        message = gettext("The from address “%(address)s” is not a valid email address.")
        raise RenderError(message % {"address": address})
    reply_to = ""
    if mass_email.reply_to_address:
        reply_to = mime.address(mass_email.reply_to_name, mass_email.reply_to_address)
    name = mass_email.from_name or default_name
    return Sender(mime.address(name, address), address, domain, reply_to)


def _body_pieces(template, policy: Policy) -> dict[str, list]:
    """Literal and placeholder pieces per body subtype ("plain", "html"); parses the HTML once."""
    has_html = bool(template.body_html.strip())
    text = template.body_text if template.body_text.strip() else ""
    if not text and has_html:
        text = html_body.to_plain_text(template.body_html)
    bodies = {}
    if text:
        text = _crlf(text)
        if policy.append_opt_out and not any(f"{{{name}}}" in text for name in OPT_OUT_NAMES):
            text += "\r\n{optOutLink}\r\n"
        bodies["plain"] = placeholders.split(text)
    if has_html:
        head, tail = html_body.split_at_body_end(_crlf(template.body_html))
        if policy.append_opt_out and not html_body.has_opt_out_link(template.body_html):
            head += OPT_OUT_PARAGRAPH
        pixel = [PIXEL] if policy.open_pixel else []
        bodies["html"] = placeholders.split(head) + pixel + placeholders.split(tail)
    return bodies


def _format(pieces: list, context: str) -> str:
    """`pieces` as a %-format string: literals escaped, built-ins filled, a slot per placeholder."""
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece.replace("%", "%%"))
        elif piece.name in placeholders.BUILTINS:
            value = placeholders.builtin_value(piece.name)
            out.append((html.escape(value) if context == "h" else value).replace("%", "%%"))
        else:
            out.append(f"%({context}|{piece.name})s")
    return "".join(out)


def _names(pieces: list) -> set[str]:
    return {piece.name for piece in pieces if isinstance(piece, Placeholder)}


def _tracking_urls(campaign, ids: set[int]) -> dict[int, TrackingUrl]:
    """The tracking URLs `ids` name; raises TrackingUrlError unless all belong to `campaign`."""
    found = TrackingUrl.objects.select_related("campaign").in_bulk(ids)
    for tracking_id in sorted(ids):
        tracking_url = found.get(tracking_id)
        if tracking_url is None:
            message = gettext("The template links to {trackingUrl:%(id)s}, which does not exist.")
            raise TrackingUrlError(message % {"id": tracking_id})
        if tracking_url.campaign_id != campaign.pk:
            message = gettext(
                "The template links to {trackingUrl:%(id)s} (“%(name)s”) of the campaign "
                "“%(other)s”; use a tracking URL of the campaign “%(campaign)s”."
            )
            raise TrackingUrlError(
                message
                % {
                    "id": tracking_id,
                    "name": tracking_url.name,
                    "other": tracking_url.campaign.name,
                    "campaign": campaign.name,
                }
            )
    return found


def _attachments(template) -> list[bytes]:
    parts = []
    for attachment in template.attachments.all():
        name = attachment.name or os.path.basename(attachment.file.name)
        try:
            with attachment.file.open("rb") as file:
                content = file.read()
        except OSError as exc:
            message = gettext("The attachment “%(name)s” of the template cannot be read: %(error)s")
            raise RenderError(message % {"name": name, "error": exc}) from exc
        parts.append(mime.attachment_part(name, content))
    return parts


def _header_lines(sender: Sender, campaign, policy: Policy) -> list[str]:
    lines = [f"From: {sender.from_header.replace('%', '%%')}"]
    if sender.reply_to_header:
        lines.append(f"Reply-To: {sender.reply_to_header.replace('%', '%%')}")
    lines += [
        "To: %(to)s",
        "Subject: %(subject)s",
        "Date: %(date)s",
        "Message-ID: %(message_id)s",
        "X-Queue-Item-Id: %(queue_item)s",
    ]
    if policy.list_unsubscribe:
        lines.append("List-Unsubscribe: <%(unsubscribe)s>")
        lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    lines.append("Precedence: bulk")
    if campaign.type in AUTO_SUBMITTED_TYPES:
        lines.append("Auto-Submitted: auto-generated")
    return lines


class CompiledMassEmail:
    """A mass email ready to render: everything fixed is computed once, in `compile`."""

    def __init__(self, *, mass_email, policy: Policy, sender: Sender, envelope_domain: str):
        self.mass_email = mass_email
        self.policy = policy
        self.sender = sender
        self.envelope_domain = envelope_domain  # "" when VERP is off
        self.is_test = False
        self.subject = ""
        self.subject_bytes: bytes | None = None  # set when the subject has no slots
        self.bodies: dict[bytes, str] = {}
        self.person_names: tuple[str, ...] = ()
        self.click_ids: tuple[int, ...] = ()
        self.needs_opt_out = False
        self.constants: dict[str, str] = {}
        self.skeleton = b""

    @classmethod
    def compile(cls, mass_email, *, is_test: bool = False) -> "CompiledMassEmail":
        """Compile `mass_email` for sending; raises RenderError (TrackingUrlError for a tracking
        URL of another campaign) with a message for the marketer."""
        mass_settings = MassEmailSettings.load()
        policy = _policy(mass_email, mass_settings)
        sender = _sender(mass_email)
        envelope_domain = (mass_settings.verp_domain or sender.domain) if mass_settings.verp else ""
        compiled = cls(
            mass_email=mass_email, policy=policy, sender=sender, envelope_domain=envelope_domain
        )
        compiled.is_test = is_test
        template = mass_email.email_template
        try:
            subject = placeholders.split(header_safe(template.subject))
            bodies = _body_pieces(template, policy)
        except placeholders.PlaceholderError as exc:
            message = gettext("The email template “%(name)s” is invalid: %(error)s")
            raise RenderError(message % {"name": template.name, "error": exc}) from exc
        compiled._compile_text(subject, bodies)
        compiled._compile_links(
            mass_settings.base_url, _names(subject).union(*map(_names, bodies.values()))
        )
        header_lines = _header_lines(sender, mass_email.campaign, policy)
        compiled.skeleton = mime.message_skeleton(
            header_lines, list(bodies), _attachments(template)
        )
        return compiled

    def _compile_text(self, subject: list, bodies: dict[str, list]) -> None:
        self.subject = _format(subject, "s")
        if not _names(subject) - placeholders.BUILTINS:
            self.subject_bytes = mime.unstructured(self.subject % {}).encode()
        self.bodies = {
            subtype.encode(): _format(pieces, "h" if subtype == "html" else "t")
            for subtype, pieces in bodies.items()
        }

    def _compile_links(self, base_url: str, names: set[str]) -> None:
        """Prepare person fields, opt-out, click and pixel URLs for the placeholders in `names`."""
        self.person_names = tuple(sorted(name for name in names if "." in name))
        tracking_ids = {
            Placeholder(name).tracking_url_id for name in names if name.startswith("trackingUrl:")
        }
        tracking_urls = _tracking_urls(self.mass_email.campaign, tracking_ids)
        self.label = gettext("Unsubscribe")
        self.html_label = html.escape(self.label)
        self.opt_out = TokenUrl.named(base_url, "tracking:opt_out")
        self.opt_out_html = self.opt_out.escaped()
        self.one_click = TokenUrl.named(base_url, "tracking:one_click")
        self.click = TokenUrl.named(base_url, "tracking:click")
        self.click_html = self.click.escaped()
        pixel = TokenUrl.named(base_url, "tracking:open").escaped()
        self.pixel = TokenUrl(*(PIXEL_TAG % pixel(MARKER)).split(MARKER))
        if self.policy.informational:
            for name in OPT_OUT_NAMES:
                self.constants.update({f"{context}|{name}": "" for context in CONTEXTS})
            for tracking_id, tracking_url in tracking_urls.items():
                name = f"trackingUrl:{tracking_id}"
                self.constants.update(
                    {f"t|{name}": tracking_url.url, f"s|{name}": tracking_url.url}
                )
                self.constants[f"h|{name}"] = html.escape(tracking_url.url)
            return
        self.click_ids = tuple(sorted(tracking_ids))
        self.needs_opt_out = self.policy.list_unsubscribe or bool(names & set(OPT_OUT_NAMES))

    def _values(self, item_id: int, target) -> tuple[dict[str, str], str]:
        """The recipient's value for every slot, and the opt-out token ("" when none)."""
        values = dict(self.constants)
        for name in self.person_names:
            raw = header_safe(placeholders.person_value(name, target)) if target is not None else ""
            values["t|" + name] = values["s|" + name] = raw
            values["h|" + name] = html.escape(raw)
        for tracking_id in self.click_ids:
            token = tokens.make(tokens.CLICK, item_id, tracking_id)
            name = f"trackingUrl:{tracking_id}"
            values["t|" + name] = values["s|" + name] = self.click(token)
            values["h|" + name] = self.click_html(token)
        if self.policy.open_pixel:
            values["h|openPixel"] = self.pixel(tokens.make(tokens.OPEN, item_id))
        token = tokens.make(tokens.OPT_OUT, item_id) if self.needs_opt_out else ""
        if token:
            url, html_url = self.opt_out(token), self.opt_out_html(token)
            values["t|optOutUrl"] = values["s|optOutUrl"] = url
            values["h|optOutUrl"] = html_url
            values["h|optOutLink"] = f'<a href="{html_url}">{self.html_label}</a>'
            values["t|optOutLink"] = values["s|optOutLink"] = f"{self.label}: {url}"
        return values, token

    def render(self, item) -> RenderedMessage:
        """The complete message for queue item `item` (its target and address loaded);
        raises RenderError when the item has no address."""
        email = item.email or (item.email_address.address if item.email_address_id else "")
        recipient = mime.clean_address(email)
        if not recipient:
            raise RenderError(
                gettext("The queue item %(id)s has no email address.") % {"id": item.id}
            )
        target = item.target
        values, opt_out_token = self._values(item.id, target)
        header_token = tokens.make(tokens.HEADER, item.id)
        message_id = f"<massmail.{header_token}@{self.sender.domain}>"
        name = placeholders.person_value("Person.name", target) if target is not None else ""
        fields = {
            b"to": mime.address(name, recipient).encode(),
            b"subject": self.subject_bytes or mime.unstructured(self.subject % values).encode(),
            b"date": mime.date_now(),
            b"message_id": message_id.encode(),
            b"queue_item": header_token.encode(),
            b"unsubscribe": self.one_click(opt_out_token).encode() if opt_out_token else b"",
        }
        for subtype, body in self.bodies.items():
            fields[subtype] = mime.quoted_printable(body % values)
        envelope_from = self.sender.address
        if self.envelope_domain:
            envelope_from = f"bounce+{tokens.make(tokens.VERP, item.id)}@{self.envelope_domain}"
        return RenderedMessage(envelope_from, recipient, message_id, self.skeleton % fields)
