"""Rendering a mass email: compiled once per mass email, filled in per recipient.

`CompiledMassEmail.compile(mass_email)` reads the settings, checks the template and its tracking
URLs, parses the HTML once (campaigns.authoring.html_body), and pre-encodes the whole message as one
bytes %-format: fixed headers, boundaries, attachments in base64, and the bodies' literal pieces
already quoted-printable, each ending in a soft line break, with a slot per placeholder.
`render(item)` then only computes and encodes the recipient's values (person fields, signed
tokens in URLs) and fills the slots.

Per-recipient URLs, all under MassEmailSettings.base_url, with campaigns.authoring.tokens tokens:
  {optOutUrl}        tracking:opt_out    …/u/<OPT_OUT item>/            (a page; its POST acts)
  List-Unsubscribe   tracking:one_click  …/u/<OPT_OUT item>/one-click/  (RFC 8058 one-click POST)
  {trackingUrl:ID}   tracking:click      …/c/<CLICK item, ID>/
  open pixel         tracking:open       …/o/<OPEN item>/
  hidden link        tracking:click      …/c/<CLICK item, 0>/   (HTML only, before the first
                     {trackingUrl:ID}: a honeypot no person sees, so scanners' clicks show)
  {webViewUrl}       web_view            …/v/<WEB_VIEW item>/   (campaigns.authoring.web_view)
Headers: Message-ID <massmail.<HEADER item>@<from domain>> (the same when an item is retried),
X-Queue-Item-Id: <HEADER item>, List-Id and Feedback-ID; with VERP on, envelope sender
bounce+<VERP item>@<domain>. With a DKIM key for the from domain (or a parent), each message
is signed last, over its final bytes (campaigns.authoring.dkim).

Before splitting, the template is prepared once (campaigns.authoring.preparing): CSS inlined,
preheader and web view line, and with "track all links" every web link made a {trackingUrl:ID}.

The admin switch "disable the mandatory opt-out link" only stops appending a link to the body:
List-Unsubscribe stays, because Gmail and Yahoo require it of bulk senders. Informational
campaigns get neither, no tracking, and empty {optOutUrl}/{optOutLink}.
"""

import dataclasses
import html
import os
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext

from campaigns.authoring import dkim, mime, preparing, slots, tokens, variants, visual
from campaigns.models import CampaignType, DkimKey, MassEmailSettings, TrackingUrl
from crm import addresses, placeholders
from crm.models import OutboundEmailSettings
from crm.placeholders import Placeholder, header_safe

AUTO_SUBMITTED_TYPES = (CampaignType.NEWSLETTER, CampaignType.INFORMATIONAL)


class RenderError(Exception):
    """The mass email cannot be rendered; the message tells the marketer why."""


class TrackingUrlError(RenderError):
    """The template links to a tracking URL that does not exist or belongs to another campaign."""


@dataclass(frozen=True)
class RenderedMessage:
    envelope_from: str  # MAIL FROM (the VERP address when on)
    recipient: str  # the address as stored (the log keeps it as written)
    message_id: str
    data: bytes  # the whole message, CRLF line endings, ready for smtplib.SMTP.sendmail
    smtp_recipient: addresses.SmtpAddress | None = None  # RCPT TO, as the To header has it


@dataclass(frozen=True)
class Policy:
    """What a mass email adds to its messages, decided once from the campaign and settings."""

    informational: bool
    append_opt_out: bool
    list_unsubscribe: bool
    open_pixel: bool
    hidden_link: bool  # the honeypot link that tells scanners' clicks from people's
    esp: str = ""  # MassEmailSettings.esp: whose metadata header carries the item's token


@dataclass(frozen=True)
class Sender:
    from_header: str
    address: str
    domain: str
    reply_to_header: str


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
        hidden_link=not informational,
        esp=mass_settings.esp,
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


# The key of the item's signed token in an ESP's metadata, and the header, per ESP
# (MassEmailSettings.esp), that the ESP returns as its webhook events' metadata (tracking.esp).
ESP_METADATA_KEY = "massmail_item"
ESP_METADATA_HEADERS = {
    "amazon_ses": 'X-Metadata: {"massmail_item": "%(queue_item)s"}',
    "mailgun": 'X-Mailgun-Variables: {"massmail_item": "%(queue_item)s"}',
    "sendgrid": 'X-SMTPAPI: {"unique_args": {"massmail_item": "%(queue_item)s"}}',
    "postmark": "X-PM-Metadata-massmail_item: %(queue_item)s",
}


def _header_lines(sender: Sender, mass_email, policy: Policy) -> list[str]:
    campaign = mass_email.campaign
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
    if policy.esp in ESP_METADATA_HEADERS:
        lines.append(ESP_METADATA_HEADERS[policy.esp])
    list_id = mime.list_id(campaign.name, campaign.pk, sender.domain)
    lines.append(f"List-Id: {list_id.replace('%', '%%')}")
    feedback_id = mime.feedback_id(mass_email.pk, campaign.pk, campaign.type, sender.domain)
    lines.append(f"Feedback-ID: {feedback_id.replace('%', '%%')}")
    if policy.list_unsubscribe:
        lines.append("List-Unsubscribe: <%(unsubscribe)s>")
        lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    lines.append("Precedence: bulk")
    if campaign.type in AUTO_SUBMITTED_TYPES:
        lines.append("Auto-Submitted: auto-generated")
    return lines


def _pieces(template, policy: Policy) -> tuple[list, dict[str, list]]:
    """The subject's and the bodies' pieces; raises RenderError for a bad placeholder."""
    try:
        subject = placeholders.split(header_safe(template.subject))
        bodies = slots.body_pieces(
            template,
            append_opt_out=policy.append_opt_out,
            open_pixel=policy.open_pixel,
            hidden_link=policy.hidden_link,
        )
    except placeholders.PlaceholderError as exc:
        message = gettext("The email template “%(name)s” is invalid: %(error)s")
        raise RenderError(message % {"name": template.name, "error": exc}) from exc
    if not bodies:
        message = gettext("The email template “%(name)s” has neither an HTML nor a text body.")
        raise RenderError(message % {"name": template.name})
    return subject, bodies


def _prepared(mass_email, policy: Policy, base_url: str) -> preparing.PreparedTemplate:
    name = mass_email.email_template.name
    try:
        return preparing.prepare(mass_email, tracked=not policy.informational, base_url=base_url)
    except preparing.InliningError as exc:
        message = gettext("The CSS of the email template “%(name)s” cannot be inlined: %(error)s")
        raise RenderError(message % {"name": name, "error": exc}) from exc
    except visual.MjmlError as exc:
        message = gettext(
            "The design of the email template “%(name)s” cannot be compiled: %(error)s"
        )
        raise RenderError(message % {"name": name, "error": exc}) from exc


def signer_for(domain: str) -> dkim.Signer | None:
    """The signer of the active DKIM key for `domain` or its nearest parent domain (DMARC's
    relaxed alignment); None without one. Raises RenderError when the key cannot be read."""
    labels = domain.lower().rstrip(".").split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    keys = {key.domain: key for key in DkimKey.objects.filter(domain__in=candidates, active=True)}
    for candidate in candidates:
        if candidate in keys:
            try:
                return dkim.Signer.for_key(keys[candidate])
            except dkim.DkimError as exc:
                raise RenderError(str(exc)) from exc
    return None


def _links(mass_email, policy: Policy, base_url: str, pieces: list[list]) -> slots.Links:
    names = set().union(*map(_names, pieces))
    tracking_ids = {Placeholder(name).tracking_url_id for name in names} - {None}
    tracking_urls = _tracking_urls(mass_email.campaign, tracking_ids)
    return slots.Links(
        base_url,
        {pk: tracking_url.url for pk, tracking_url in tracking_urls.items()},
        tracked=not policy.informational,
        label=gettext("Unsubscribe"),
    )


class CompiledMassEmail:
    """A mass email ready to render: everything fixed is computed once, in `compile`."""

    def __init__(self, *, sender: Sender, links: slots.Links, policy: Policy, verp_domain: str):
        self.sender = sender
        self.links = links
        self.list_unsubscribe = policy.list_unsubscribe
        self.envelope_domain = verp_domain  # "" when VERP is off
        self.is_test = False
        self.subject = ""
        self.subject_bytes: bytes | None = None  # the encoded subject when it has no slots
        self.body_keys: tuple[tuple[str, bytes], ...] = ()
        self.person_fields: tuple[tuple[str, str, str | None], ...] = ()  # key, name, fallback
        self.clicks: tuple[tuple[int, str], ...] = ()
        self.open_pixel = False
        self.needs_opt_out = False
        self.web_view = False
        self.web_view_token = False
        self.signer: dkim.Signer | None = None
        self.web_bodies: dict[str, str] = {}  # subtype -> unencoded %-format, for the web view
        self.skeleton = b""

    @classmethod
    def compile_variants(cls, mass_email, *, is_test: bool = False) -> "variants.VariantRenderer":
        """The mass email compiled once as itself and once per A/B variant, for sending;
        raises RenderError as `compile` does, naming the variant."""
        by_variant = {None: cls.compile(mass_email, is_test=is_test)}
        for variant in mass_email.variants.select_related("template").order_by("letter"):
            try:
                by_variant[variant.pk] = cls.compile(mass_email, is_test=is_test, variant=variant)
            except RenderError as exc:
                raise type(exc)(f"{variant}: {exc}") from exc
        return variants.VariantRenderer(by_variant)

    @classmethod
    def compile(
        cls, mass_email, *, is_test: bool = False, for_web: bool = False, variant=None
    ) -> "CompiledMassEmail":
        """Compile `mass_email` for sending; raises RenderError (TrackingUrlError for a tracking
        URL of another campaign) with a message for the marketer.

        Test sends (`is_test`) render exactly like real ones, working links included. `for_web`
        compiles for the web view (campaigns.authoring.web_view): no open pixel, bodies kept
        unencoded.
        """
        mass_email = variants.as_sent(mass_email, variant)
        mass_settings = MassEmailSettings.load()
        policy = _policy(mass_email, mass_settings)
        if for_web:
            policy = dataclasses.replace(policy, open_pixel=False)
        sender = _sender(mass_email)
        template = mass_email.email_template
        prepared = _prepared(mass_email, policy, mass_settings.base_url)
        subject, bodies = _pieces(prepared, policy)
        links = _links(mass_email, policy, mass_settings.base_url, [subject, *bodies.values()])
        verp_domain = (mass_settings.verp_domain or sender.domain) if mass_settings.verp else ""
        compiled = cls(sender=sender, links=links, policy=policy, verp_domain=verp_domain)
        compiled.is_test = is_test
        compiled.web_view = for_web
        compiled.signer = None if for_web else signer_for(sender.domain)
        encoded_bodies = compiled._compile_text(subject, bodies)
        header_lines = _header_lines(sender, mass_email, policy)
        compiled.skeleton = mime.message_skeleton(
            header_lines, encoded_bodies, _attachments(template)
        )
        return compiled

    def _compile_text(self, subject: list, bodies: dict[str, list]) -> dict[str, bytes]:
        """The subject's format and the bodies' encoded formats; notes which values to make."""
        expanded = slots.expand(subject, "s", self.links)
        self.subject = slots.to_format(expanded)
        keys = {piece.key for piece in expanded if isinstance(piece, slots.Slot)}
        if not keys:
            self.subject_bytes = mime.unstructured(self.subject % {}).encode()
        body_keys: set[str] = set()
        encoded = {}
        for subtype, pieces in bodies.items():
            expanded = slots.expand(pieces, "h" if subtype == "html" else "t", self.links)
            encoded[subtype] = slots.to_encoded_format(expanded, body_keys)
            if self.web_view:
                self.web_bodies[subtype] = slots.to_format(expanded)
        self.body_keys = tuple((key, key.encode()) for key in sorted(body_keys))
        keys |= body_keys
        field_keys = sorted({k[2:] for k in keys if not k.startswith("token|")})
        self.person_fields = tuple((key, *slots.parse_field_key(key)) for key in field_keys)
        clicks = {int(k.rpartition(":")[2]) for k in keys if k.startswith("token|click:")}
        self.clicks = tuple((pk, slots.click_token(pk)) for pk in sorted(clicks))
        self.open_pixel = slots.OPEN_TOKEN in keys
        self.web_view_token = slots.WEB_VIEW_TOKEN in keys
        self.needs_opt_out = self.links.tracked and (
            self.list_unsubscribe or slots.OPT_OUT_TOKEN in keys
        )
        return encoded

    def _values(self, item_id: int, target) -> dict[str, str]:
        """The recipient's value for every slot: person fields (escaped for HTML) and tokens."""
        values = {}
        for key, name, fallback in self.person_fields:
            raw = header_safe(placeholders.person_value(name, target)) if target is not None else ""
            if fallback is not None and not raw.strip():
                values["t|" + key] = values["s|" + key] = values["h|" + key] = fallback
                continue
            values["t|" + key] = values["s|" + key] = raw
            values["h|" + key] = html.escape(raw)
        for tracking_id, key in self.clicks:
            values[key] = tokens.make(tokens.CLICK, item_id, tracking_id)
        if self.open_pixel:
            values[slots.OPEN_TOKEN] = tokens.make(tokens.OPEN, item_id)
        if self.needs_opt_out:
            values[slots.OPT_OUT_TOKEN] = tokens.make(tokens.OPT_OUT, item_id)
        if self.web_view_token:
            values[slots.WEB_VIEW_TOKEN] = tokens.make(tokens.WEB_VIEW, item_id)
        return values

    def web_page(self, item) -> tuple[str, str]:
        """The HTML body (or else the text body) of `item`'s message, and which it is ("html"
        or "plain"), for the web view; needs compile(…, for_web=True)."""
        values = self._values(item.id, item.target)
        subtype = "html" if "html" in self.web_bodies else "plain"
        return self.web_bodies[subtype] % values, subtype

    def render(self, item) -> RenderedMessage:
        """The complete message for queue item `item` (its target and address loaded);
        raises RenderError when the item has no address, AddressError when SMTP cannot carry
        it."""
        email = item.email or (item.email_address.address if item.email_address_id else "")
        recipient = mime.clean_address(email)
        if not recipient:
            message = gettext("The queue item %(id)s has no email address.")
            raise RenderError(message % {"id": item.id})
        smtp_recipient = addresses.for_smtp(recipient)
        target = item.target
        values = self._values(item.id, target)
        header_token = tokens.make(tokens.HEADER, item.id)
        message_id = f"<massmail.{header_token}@{self.sender.domain}>"
        name = placeholders.person_value("Person.name", target) if target is not None else ""
        # The To header names the domain as its A-label, as the envelope does (RFC 5890).
        fields = {
            b"to": mime.address(name, smtp_recipient.address).encode(),
            b"subject": self.subject_bytes or mime.unstructured(self.subject % values).encode(),
            b"date": mime.date_now(),
            b"message_id": message_id.encode(),
            b"queue_item": header_token.encode(),
        }
        if self.list_unsubscribe:
            fields[b"unsubscribe"] = self.links.one_click(values[slots.OPT_OUT_TOKEN]).encode()
        for key, field in self.body_keys:
            fields[field] = mime.qp_value(values[key])
        envelope_from = self.sender.address
        if self.envelope_domain:
            envelope_from = f"bounce+{tokens.make_verp(item.id)}@{self.envelope_domain}"
        data = self.skeleton % fields
        if self.signer is not None:
            data = self.signer.sign(data)  # last: the signature covers the bytes as sent
        return RenderedMessage(envelope_from, recipient, message_id, data, smtp_recipient)
