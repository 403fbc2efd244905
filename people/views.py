"""Public signup pages: the hosted form (also embedded in an iframe) and the confirmation link.

The form's POST carries a signed, single-use form token instead of a session, so it is exempt
from CSRF (it works inside an iframe on any site); the confirmation page's button is a POST
with a CSRF token, so a mail scanner following the link confirms nothing.
"""

import re

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from crm.login_safety import client_address
from crm.security_headers import content_security_policy
from people import signup
from people.models import SignupForm


class SignupFields(forms.Form):
    email = forms.CharField(label=_("Email"), max_length=320)
    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    company = forms.CharField(label=_("Company"), max_length=255, required=False)

    def __init__(self, form: SignupForm, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, asked in (
            ("first_name", form.ask_first_name),
            ("last_name", form.ask_last_name),
            ("company", form.ask_company),
        ):
            if not asked:
                del self.fields[name]

    def clean_email(self) -> str:
        problem = signup.address_error(self.cleaned_data["email"])
        if problem:
            raise forms.ValidationError(_("Enter a valid email address."))
        return self.cleaned_data["email"].strip()


def _active_form(key: str) -> SignupForm:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", key):
        raise Http404  # never reaches the database (a NUL byte would make PostgreSQL fail)
    form = SignupForm.objects.filter(key=key, is_active=True).first()
    if form is None:
        raise Http404
    return form


def _page(request, form, fields, status=200) -> HttpResponse:
    context = {"form": form, "fields": fields, "token": signup.form_token(form)}
    return render(request, "people/signup_form.html", context, status=status)


@content_security_policy(frame_ancestors=["*"])  # the snippet frames it on any site
@csrf_exempt
@never_cache
@xframe_options_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def signup_page(request: HttpRequest, key: str) -> HttpResponse:
    """GET shows the form; POST subscribes (or asks for confirmation) and says thank you."""
    form = _active_form(key)
    with translation.override(form.language or translation.get_language()):
        if request.method != "POST":
            return _page(request, form, SignupFields(form))
        fields = SignupFields(form, request.POST)
        if not fields.is_valid():
            return _page(request, form, fields, status=400)
        data = signup.Submission(
            **fields.cleaned_data,
            honeypot=request.POST.get("website", ""),
            client_ip=client_address(request),  # behind TRUSTED_PROXY_COUNT proxies too
        )
        try:
            signup.submit(form, request.POST.get("token", ""), data)
        except signup.BadToken:
            fields.add_error(None, _("This form has expired. Please send it again."))
            return _page(request, form, fields, status=400)
        except signup.TooManyRequests:
            return render(request, "people/too_many.html", {"form": form}, status=429)
        if form.redirect_link_id and form.redirect_link.url:
            return HttpResponseRedirect(form.redirect_link.url)  # a stored address only
        return render(request, "people/signup_done.html", {"form": form})


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a Confirm button (scanners follow links); POST confirms the subscription."""
    try:
        if request.method != "POST":
            signup.check_confirmation_token(token)
            return render(request, "people/confirm.html", {"token": token})
        confirmation = signup.confirm(token)
    except signup.Expired:
        return render(request, "people/link_expired.html", status=410)
    except signup.BadToken:
        return render(request, "tracking/invalid_link.html", status=404)
    return render(request, "people/confirmed.html", {"form": confirmation.form})
