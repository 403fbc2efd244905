"""A/B tests and follow-ups in the mass email admin: the variants inline, the test's figures and
reasoning on the page, "Choose winner", and "Follow up non-openers"."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from campaigns.models import MassEmail, MassEmailSettings, MassEmailVariant
from campaigns.models.variants import MAX_VARIANTS
from campaigns.results.winner import variant_figures
from campaigns.sending.ab_decision import CannotChoose, choose_winner
from campaigns.sending.follow_up import FOLLOWABLE, CannotFollowUp, create_follow_up

State = MassEmail.TestState
AB_FIELDS = (
    ("test_share", "test_wait_hours"),
    "test_metric",
    ("test_confidence", "test_min_sample"),
    "test_fallback",
)
AB_DESCRIPTION = gettext_lazy(
    "Add 2 to 5 variants below to test them. Each recipient's variant is decided once when "
    "sending starts; the test share goes out first, the rest waits for the winner. People's "
    "clicks are the better measure: many mail apps fetch every image, so opens are counted "
    "only for people, and still say less than clicks."
)


class VariantFormSet(forms.BaseInlineFormSet):
    """The variants; a post that does not mention them (a script's, an older page's) leaves
    them as they are rather than failing for want of the management form."""

    def __init__(self, data=None, *args, **kwargs):
        prefix = kwargs.get("prefix") or self.get_default_prefix()
        if data is not None and f"{prefix}-TOTAL_FORMS" not in data:
            data = data.copy()
            data[f"{prefix}-TOTAL_FORMS"] = data[f"{prefix}-INITIAL_FORMS"] = "0"
        super().__init__(data, *args, **kwargs)

    def clean(self) -> None:
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        if len(kept) == 1:
            raise ValidationError(_("A test needs 2 to 5 variants (or none: no test)."))


class VariantInline(admin.TabularInline):
    model = MassEmailVariant
    formset = VariantFormSet
    fields = ("letter", "subject", "preheader", "from_name", "template")
    extra = 0
    max_num = MAX_VARIANTS
    autocomplete_fields = ()

    # The variants are part of the mass email: whoever may change it may change them, while
    # it is editable (Draft or Pending).
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("campaigns.view_massemail") or self._may_change(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may_change(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return self._may_change(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may_change(request, obj)

    @staticmethod
    def _may_change(request, obj) -> bool:
        editable = obj is None or obj.is_editable
        return editable and request.user.has_perm("campaigns.change_massemail")


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


def interval(bounds: tuple[float, float], whole: int) -> str:
    return f"{100 * bounds[0]:.1f}–{100 * bounds[1]:.1f} %" if whole else "–"


def variant_rows(mass_email: MassEmail) -> list[dict]:
    """Each variant side by side (every item that got it), for the page and the results."""
    rows = []
    for row in variant_figures(mass_email, test_only=False):
        rows.append(
            {
                "variant": row.variant,
                "winner": row.variant.pk == mass_email.test_winner_id,
                "sent": row.sent,
                "delivered": row.delivered,
                "opened": row.opened,
                "opened_rate": percent(row.opened, row.delivered),
                "opened_interval": interval(row.opened_interval(), row.delivered),
                "clicked": row.clicked,
                "clicked_rate": percent(row.clicked, row.delivered),
                "clicked_interval": interval(row.clicked_interval(), row.delivered),
                "opted_out": row.opted_out,
                "bounced": row.bounced,
            }
        )
    return rows


def ab_context(request: HttpRequest, mass_email: MassEmail) -> dict:
    """What the mass email page and its results page show of the test."""
    if not mass_email.test_state and not mass_email.variants.exists():
        return {}
    can_choose = request.user.has_perm("campaigns.change_massemail") and (
        mass_email.test_state in (State.TESTING, State.WAITING)
    )
    opens_untracked = (
        mass_email.test_metric == MassEmail.TestMetric.OPENS
        and not MassEmailSettings.load().open_tracking
    )
    return {
        "ab_test": {
            "warning": _(
                "Opens are not tracked (mass email settings): no variant can win on opens."
            )
            if opens_untracked
            else "",
            "state": mass_email.get_test_state_display() if mass_email.test_state else "",
            "metric": mass_email.get_test_metric_display(),
            "confidence": mass_email.test_confidence,
            "winner": mass_email.test_winner,
            "reasoning": mass_email.test_reasoning,
            "rows": variant_rows(mass_email) if mass_email.test_state else [],
            "can_choose": can_choose,
        }
    }


def choose_winner_view(model_admin: ModelAdmin, request: HttpRequest, pk: int):
    if not request.user.has_perm("campaigns.change_massemail"):
        raise PermissionDenied
    mass_email = get_object_or_404(MassEmail, pk=pk)
    variant = get_object_or_404(MassEmailVariant, pk=request.POST.get("variant") or 0)
    try:
        released = choose_winner(mass_email, variant, request.user)
    except CannotChoose as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
    else:
        model_admin.message_user(
            request,
            ngettext(
                "%(variant)s is the winner; %(count)d held message goes out with the next runs.",
                "%(variant)s is the winner; %(count)d held messages go out with the next runs.",
                released,
            )
            % {"variant": variant, "count": released},
        )
    return HttpResponseRedirect(reverse("admin:campaigns_massemail_change", args=[pk]))


class FollowUpForm(forms.Form):
    subject = forms.CharField(
        label=gettext_lazy("subject"),
        max_length=255,
        help_text=gettext_lazy("Another subject than the first time; placeholders work."),
    )
    hours = forms.IntegerField(
        label=gettext_lazy("not opened after (hours)"),
        min_value=1,
        max_value=24 * 30,
        initial=72,
        help_text=gettext_lazy(
            "Who got the mass email at least this long before the follow-up starts, and did "
            "not open it as a person. Who opted out, bounced or complained since is left out."
        ),
    )


def follow_up_view(model_admin: ModelAdmin, request: HttpRequest, pk: int):
    if not request.user.has_perm("campaigns.add_massemail"):
        raise PermissionDenied
    mass_email = get_object_or_404(MassEmail.objects.select_related("campaign"), pk=pk)
    form = FollowUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            follow_up = create_follow_up(
                mass_email, form.cleaned_data["subject"], form.cleaned_data["hours"], request.user
            )
        except CannotFollowUp as exc:
            model_admin.message_user(request, str(exc), messages.ERROR)
        else:
            model_admin.message_user(
                request,
                _(
                    "A Draft follow-up was created. Its recipients are chosen when it starts "
                    "sending; set it to Pending when ready."
                ),
            )
            return HttpResponseRedirect(
                reverse("admin:campaigns_massemail_change", args=[follow_up.pk])
            )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": mass_email,
        "form": form,
        "title": _("Follow up non-openers of %(name)s") % {"name": mass_email.name},
    }
    return TemplateResponse(request, "admin/campaigns/massemail/follow_up.html", context)


def can_follow_up(request: HttpRequest, mass_email: MassEmail) -> bool:
    return request.user.has_perm("campaigns.add_massemail") and mass_email.status in FOLLOWABLE
