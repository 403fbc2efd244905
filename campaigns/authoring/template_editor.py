"""The email template form's live preview: JSON endpoints the editor script calls as you type.

`live_preview` renders the unsaved subject, preheader and bodies for the chosen recipient (the
sample person by default) and names the errors saving would give, field by field; `people`
finds recipients to preview for; `tracking_codes` lists a campaign's tracking URL codes to insert.
Nothing is saved, and every endpoint checks the user's permissions like the form does.
"""

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Model
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campaigns.authoring import html_body, preparing, visual
from campaigns.authoring.design_checks import check_mjml
from campaigns.models import Campaign, MassEmailSettings, TrackingUrl
from campaigns.models.tracking_codes import check_codes_exist
from crm import placeholders
from crm.models import EmailTemplate

FIELDS = ("subject", "preheader", "body_html", "body_text")
POSTED = (*FIELDS, "editor", "body_mjml")
PREVIEW_LINKS = {"optOutUrl": "#opt-out", "optOutLink": "Unsubscribe", "webViewUrl": "#web-view"}
MAX_LENGTH = 1_000_000  # characters per field, so a preview request stays cheap


def preview_links(texts) -> dict[str, str]:
    """The values links take in a preview: opt-out and web view anchors, and each existing
    {trackingUrl:N} of `texts` its stored URL (its message's anchor for a Show Message one)."""
    ids = set()
    for text in texts:
        try:
            ids |= {p.tracking_url_id for p in placeholders.validate(text)} - {None}
        except placeholders.PlaceholderError:
            continue
    stored = TrackingUrl.objects.filter(pk__in=ids).values_list("pk", "url")
    return {**PREVIEW_LINKS, **{f"trackingUrl:{pk}": url or "#message" for pk, url in stored}}


def compiled_html(template: EmailTemplate) -> tuple[str, dict[str, str]]:
    """The HTML body before it is dressed for sending: a visual template's MJML checked and
    compiled, a source template's HTML; and the errors by field."""
    if not template.is_visual:
        return template.body_html, {}
    try:
        check_mjml(template.body_mjml)
        return visual.compile_mjml(template.body_mjml, MassEmailSettings.load().base_url), {}
    except ValidationError as exc:
        return "", {"body_mjml": " ".join(exc.messages)}
    except visual.MjmlError as exc:
        return "", {"body_mjml": _("The design could not be compiled: %(error)s") % {"error": exc}}


def sent_html(template: EmailTemplate, source: str) -> tuple[str, dict[str, str]]:
    """`source` (compiled_html's) as recipients get it before placeholders are filled: CSS
    inlined and the hidden preheader first, as campaigns.authoring.preparing does once per mass
    email; and the errors by field."""
    if not source.strip():
        return source, {}
    try:
        return preparing.dressed_html(source, template.preheader), {}
    except preparing.InliningError as exc:
        return source, {"body_html": _("The CSS cannot be inlined: %(error)s") % {"error": exc}}


def render_fields(template: EmailTemplate, person) -> tuple[dict[str, str], dict[str, str]]:
    """The rendered subject, preheader, html (as sent: see sent_html) and text of `template`
    for `person`, and the errors by field (a field with an error renders empty). The text is
    derived from the HTML when it is empty, as when sending."""
    compiled, errors = compiled_html(template)
    source, inlining_errors = sent_html(template, compiled)
    errors.update(inlining_errors)
    extra = preview_links([template.subject, template.preheader, source, template.body_text])
    text = template.body_text
    if not text.strip() and compiled.strip():
        text = html_body.to_plain_text(compiled)
    html_field = "body_mjml" if template.is_visual else "body_html"
    sources = {
        "subject": (template.subject, False, "subject"),
        "preheader": (template.preheader, False, "preheader"),
        "html": (source, True, html_field),
        "text": (text, False, "body_text" if template.body_text.strip() else html_field),
    }
    rendered = {}
    for key, (text_source, html_context, field) in sources.items():
        try:
            rendered[key] = placeholders.render_preview(
                text_source, person, html_context=html_context, extra=extra
            )
        except placeholders.PlaceholderError as exc:
            rendered[key] = ""
            errors.setdefault(field, str(exc))
    return rendered, errors


def code_errors(template: EmailTemplate) -> dict[str, str]:
    """{trackingUrl:N} codes that match no tracking URL, by field (as saving reports them)."""
    try:
        check_codes_exist(template)
    except ValidationError as exc:
        return {field: " ".join(messages) for field, messages in exc.message_dict.items()}
    return {}


def chosen_person(request: HttpRequest, choice: str, models: dict[str, type[Model]]):
    """ "sample" (or nothing): the sample person; "me": the user; "kind:id": that record,
    if the user may see that kind. Raises PermissionDenied or ObjectDoesNotExist."""
    if choice in ("", "sample"):
        return placeholders.SamplePerson()
    if choice == "me":
        return request.user
    kind, _colon, pk = choice.partition(":")
    model = models.get(kind)
    if model is None or not pk.isdigit():
        raise PermissionDenied
    return model.objects.get(pk=pk)


def _may_edit(model_admin, request: HttpRequest) -> bool:
    return model_admin.has_add_permission(request) or model_admin.has_change_permission(request)


@require_POST
def live_preview(request: HttpRequest, model_admin, preview_models) -> JsonResponse:
    """The unsaved fields rendered for the chosen person (`preview_models(request)`: the kinds
    the user may see), with the errors saving would give."""
    if not _may_edit(model_admin, request):
        raise PermissionDenied
    models = preview_models(request)
    values = {field: request.POST.get(field, "")[:MAX_LENGTH] for field in POSTED}
    template = EmailTemplate(name="preview", **values)
    try:
        person = chosen_person(request, request.POST.get("person", ""), models)
    except ObjectDoesNotExist:
        return JsonResponse({"error": _("That person no longer exists.")}, status=404)
    if template.is_visual:
        template.body_html = compiled_html(template)[0]  # what its codes are checked in
    rendered, errors = render_fields(template, person)
    if not errors:
        errors = code_errors(template)
    answer = {"rendered": rendered, "errors": errors, "person": str(person)}
    if template.is_visual:
        answer["compiled"] = template.body_html  # for the source editor, if the marketer switches
    return JsonResponse(answer)


@require_GET
def people(request: HttpRequest, model_admin, search) -> JsonResponse:
    if not _may_edit(model_admin, request):
        raise PermissionDenied
    term = request.GET.get("q", "").strip()
    found = search(request, term) if len(term) >= 2 else []
    return JsonResponse(
        {
            "people": [
                {
                    "value": f"{match['kind']}:{match['person'].pk}",
                    "label": f"{match['person']} ({match['label']})",
                }
                for match in found
            ]
        }
    )


@require_GET
def tracking_codes(request: HttpRequest, model_admin) -> JsonResponse:
    if not _may_edit(model_admin, request) or not request.user.has_perm(
        "campaigns.view_trackingurl"
    ):
        raise PermissionDenied
    campaign_id = request.GET.get("campaign", "")
    campaign = Campaign.objects.filter(pk=campaign_id).first() if campaign_id.isdigit() else None
    links = campaign.tracking_urls.order_by("name") if campaign else TrackingUrl.objects.none()
    return JsonResponse(
        {"codes": [{"code": link.code, "name": link.name, "url": link.url} for link in links]}
    )


def campaign_choices(request: HttpRequest) -> list[tuple[int, str]]:
    """Campaigns whose tracking URL codes the user may insert, newest first."""
    if not request.user.has_perm("campaigns.view_trackingurl"):
        return []
    campaigns = Campaign.objects.filter(type__in=("email", "newsletter")).order_by("-created_at")
    return [(campaign.pk, campaign.name) for campaign in campaigns[:200]]


def editor_texts() -> dict[str, str]:
    """The editor script's words, in the user's language."""
    return {
        "preview": _("Live preview"),
        "desktop": _("Desktop"),
        "mobile": _("Mobile (375 px)"),
        "recipient": _("Preview for"),
        "sample": _("Sample person (every field filled)"),
        "me": _("Me"),
        "search": _("Search people by name or email…"),
        "insert": _("Insert at the cursor"),
        "campaign": _("Tracking URLs of campaign"),
        "noCampaign": _("(choose a campaign)"),
        "noCodes": _("This campaign has no tracking URLs yet."),
        "subject": _("Subject"),
        "preheader": _("Preheader"),
        "text": _("Plain-text version"),
        "errors": _("Saving would fail:"),
        "failed": _("The preview could not be updated."),
        "html": _("HTML body"),
    }
