"""Signup forms: a submission creates or finds the Lead, and subscribes it (double opt-in or not).

A submission always gets the same answer, whether the address is new, already subscribed,
rate-limited, a honeypot catch or a replay: nothing on the page tells list membership. Lead
Created is logged in the form's campaign when the Lead is new; Opted In (with a consent record)
when the entries are added: at once without double opt-in, else when the emailed link is
confirmed. The confirmation email is sent by a Celery task (people.tasks.send_confirmation),
queued when the submission commits, so a slow or down SMTP server never holds up the visitor.
"""

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from crm import consent, events
from crm.celery import run_task_on_commit
from crm.models import EmailAddress, Lead
from crm.smtp import SmtpFailure
from people.address_check import address_problem
from people.confirmation_email import send_confirmation
from people.models import SignupConfirmation, SignupForm, SignupSubmission
from targetlists.models import TargetListEntry

logger = logging.getLogger(__name__)
Action = CampaignLogRecord.Action
# A claim older than this belongs to a worker that died mid-send (an SMTP conversation of a few
# commands, each at most SMTP_TIMEOUT): its task, delivered again, sends the email.
CLAIM_LEASE = timedelta(minutes=10)
# The admin queues at most this many confirmation emails at once.
SEND_AGAIN_LIMIT = 500


class BadToken(ValueError):
    """The form token or confirmation link is forged, altered, for another form, or expired."""


class Expired(BadToken):
    """A confirmation link older than SIGNUP_CONFIRMATION_DAYS."""


class TooManyRequests(Exception):
    """This client has sent more submissions this hour than SIGNUP_RATE_PER_CLIENT."""


@dataclass(frozen=True)
class Submission:
    email: str
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    honeypot: str = ""
    client_ip: str = ""


def form_token(form: SignupForm) -> str:
    """A signed, single-use token for one rendering of the form."""
    return tokens.make(tokens.SIGNUP_FORM, form.pk, int(time.time()), secrets.randbits(48))


def read_form_token(form: SignupForm, token: str) -> str:
    """The token's nonce; raises BadToken when it is not this form's or too old."""
    form_id, issued, nonce = _read(tokens.SIGNUP_FORM, token, 3)
    age = time.time() - issued
    if form_id != form.pk or not -60 < age < settings.SIGNUP_FORM_TOKEN_HOURS * 3600:
        raise BadToken("the form token is for another form or has expired")
    return str(nonce)


def _read(kind: str, token: str, count: int) -> tuple[int, ...]:
    try:
        return tokens.read(kind, token, count)
    except (tokens.BadToken, ValueError, OverflowError) as exc:
        raise BadToken(str(exc)) from exc


def address_error(email: str) -> str:
    """Why the typed address cannot be used ('' when it can): shown on the form."""
    return address_problem(email.strip())


def submit(form: SignupForm, token: str, data: Submission) -> None:
    """Handle one POST. Raises BadToken (re-show the form) or TooManyRequests (429); every
    other case ends in the same thank-you answer, doing nothing for bots, replays, erased or
    rate-limited addresses."""
    receive(form, read_form_token(form, token), data)


def submit_from_api(form: SignupForm, data: Submission) -> None:
    """A submission a website's backend sends through the API (authenticated by its key, so
    no form token): the same rules and answer as the hosted page's. Raises TooManyRequests."""
    receive(form, secrets.token_hex(16), data)


def receive(form: SignupForm, nonce: str, data: Submission) -> None:
    """The work of a submission whose form token (nonce) was checked (see submit)."""
    client = consent.client_hash(data.client_ip)
    if client and _recent(client_hash=client) >= settings.SIGNUP_RATE_PER_CLIENT:
        raise TooManyRequests
    address_text = data.email.strip()
    hashed = consent.address_hash(address_text)
    try:
        with transaction.atomic():
            SignupSubmission.objects.create(
                form=form, nonce=nonce, address_hash=hashed, client_hash=client
            )
    except IntegrityError:
        logger.info("signup form %s: a replayed token was ignored", form.pk)
        return
    _forget_old_submissions()
    if data.honeypot:
        logger.info("signup form %s: the honeypot field was filled; ignored", form.pk)
        return
    if _recent(address_hash=hashed) > settings.SIGNUP_RATE_PER_ADDRESS:
        logger.info("signup form %s: too many submissions for one address; ignored", form.pk)
        return
    if consent.is_suppressed(address_text):
        return
    _accept(form, data, address_text, client)


def _forget_old_submissions() -> None:
    """Submissions are kept while their token could be replayed and the rate limits count
    them, then deleted (one indexed statement)."""
    hours = max(settings.SIGNUP_FORM_TOKEN_HOURS, 1) + 1
    SignupSubmission.objects.filter(at__lt=timezone.now() - timedelta(hours=hours)).delete()


def _recent(**where) -> int:
    since = timezone.now() - timedelta(hours=1)
    return SignupSubmission.objects.filter(at__gte=since, **where).count()


def _accept(form: SignupForm, data: Submission, address_text: str, client: str) -> None:
    with transaction.atomic():
        address = EmailAddress.for_address(address_text)
        lead = find_or_create_lead(form, address, data)
        if not form.double_opt_in:
            subscribe(form, lead, address, text=form.consent_text, client=client)
            return
        confirmation = SignupConfirmation.objects.create(
            form=form,
            lead=lead,
            email_address=address,
            text=form.consent_text,
            text_version=form.text_version,
            client_hash=client,
        )
        _queue_confirmation_email(confirmation.pk)


def _queue_confirmation_email(confirmation_id: int) -> None:
    run_task_on_commit("people.tasks.send_confirmation", confirmation_id)


def send_again(confirmations: QuerySet) -> int:
    """Queue the confirmation email again (a fresh link) for those of `confirmations` not yet
    confirmed, at most SEND_AGAIN_LIMIT; how many were queued. Their sent time and error are
    cleared until the task has sent it."""
    waiting = confirmations.filter(confirmed_at__isnull=True).order_by("pk")
    ids = list(waiting.values_list("pk", flat=True)[:SEND_AGAIN_LIMIT])
    with transaction.atomic():
        SignupConfirmation.objects.filter(pk__in=ids).update(email_sent_at=None, email_error="")
        for confirmation_id in ids:
            _queue_confirmation_email(confirmation_id)
    return len(ids)


def send_queued_confirmation(confirmation_id: int) -> bool:
    """The Celery task's work: send the confirmation email unless it was sent already (a task
    delivered twice), is being sent by another worker, or the signup is confirmed; whether it
    went out. Raises SmtpFailure for a temporary failure (recorded): the task tries again."""
    now = timezone.now()
    claimed = (
        SignupConfirmation.objects.filter(
            pk=confirmation_id, email_sent_at__isnull=True, confirmed_at__isnull=True
        )
        .filter(Q(email_claimed_at__isnull=True) | Q(email_claimed_at__lt=now - CLAIM_LEASE))
        .update(email_claimed_at=now)
    )
    if not claimed:
        logger.info(
            "signup %s: no confirmation email to send (sent, being sent, confirmed or gone)",
            confirmation_id,
        )
        return False
    confirmation = SignupConfirmation.objects.select_related("form", "lead", "email_address")
    return send_confirmation_email(confirmation.get(pk=confirmation_id))


def send_confirmation_email(confirmation: SignupConfirmation) -> bool:
    """Send the confirmation email with a fresh link; whether it went out. When and why not
    are kept on the confirmation (the admin lists them and can send again); a failure is
    logged. Raises SmtpFailure, after recording it, when it is temporary (server down, 4xx)."""
    token = tokens.make(tokens.SIGNUP_CONFIRM, confirmation.pk, int(time.time()))
    try:
        send_confirmation(confirmation, token)
    except Exception as exc:  # noqa: BLE001  (kept on the row; the admin sees it)
        logger.exception("the confirmation email of signup %s could not be sent", confirmation.pk)
        SignupConfirmation.objects.filter(pk=confirmation.pk).update(
            email_error=str(exc)[:1000], email_claimed_at=None
        )
        if isinstance(exc, SmtpFailure) and exc.temporary:
            raise
        return False
    SignupConfirmation.objects.filter(pk=confirmation.pk).update(
        email_sent_at=timezone.now(), email_error="", email_claimed_at=None
    )
    return True


def find_or_create_lead(form: SignupForm, address: EmailAddress, data: Submission) -> Lead:
    """The Lead with this address (the oldest), or a new one; a new Lead logs Lead Created."""
    lead = Lead.objects.filter(email_address=address).order_by("pk").first()
    if lead is not None:
        return lead
    lead = Lead.objects.create(
        email_address=address,
        first_name=data.first_name.strip()[:100],
        last_name=data.last_name.strip()[:100],
        account_name=data.company.strip()[:255],
        source=form.lead_source,
    )
    _log(form, lead, address, Action.LEAD_CREATED)
    data = {"person": {"type": "lead", "id": lead.pk}, "email": address.address, "via": "signup"}
    events.record_event(events.CONTACT_CREATED, data, person=lead)
    return lead


def _log(form: SignupForm, lead: Lead, address: EmailAddress, action: str) -> None:
    if form.campaign_id:
        CampaignLogRecord.objects.create(
            campaign_id=form.campaign_id,
            action=action,
            lead=lead,
            email_address=address,
            email=address.address,
        )


def subscribe(
    form: SignupForm,
    lead: Lead,
    address: EmailAddress,
    *,
    text: str,
    client: str,
    text_version: int | None = None,
    confirmed: bool = False,
) -> None:
    """Add the Lead to the form's lists and log Opted In with a consent record. A confirmed
    (double opt-in) signup also lifts an earlier opt-out of those lists and of the address."""
    joined = []
    for target_list in form.target_lists.all():
        entry, created = TargetListEntry.objects.get_or_create(target_list=target_list, lead=lead)
        if confirmed and entry.opted_out:
            entry.opted_out = False
            entry.save(update_fields=["opted_out"])
            created = True
        if created:
            joined.append(target_list.pk)
    person = {"type": "lead", "id": lead.pk}
    found = [
        events.NewEvent(
            events.LIST_MEMBER_ADDED,
            {"person": person, "email": address.address, "list_id": list_id},
            ("lead", lead.pk),
        )
        for list_id in joined
    ]
    if confirmed:
        data = {
            "person": person,
            "email": address.address,
            "form_id": form.pk,
            "list_ids": [list_.pk for list_ in form.target_lists.all()],
        }
        found.append(events.NewEvent(events.SUBSCRIPTION_CONFIRMED, data, ("lead", lead.pk)))
    events.record_events(found)
    if confirmed and address.opt_out:
        EmailAddress.objects.filter(pk=address.pk).update(opt_out=False)
    _log(form, lead, address, Action.OPTED_IN)
    consent.record(
        consent.Action.OPT_IN,
        consent.Method.FORM,
        address=address,
        person=lead,
        source=form.name,
        text=text,
        text_version=text_version or form.text_version,
        client=client,
    )


def confirm(token: str) -> SignupConfirmation:
    """Confirm a double opt-in (again: nothing more happens). Raises BadToken or Expired."""
    confirmation_id, issued = _read(tokens.SIGNUP_CONFIRM, token, 2)
    if time.time() - issued > settings.SIGNUP_CONFIRMATION_DAYS * 86400:
        raise Expired("the confirmation link has expired")
    with transaction.atomic():
        confirmation = (
            SignupConfirmation.objects.select_for_update()
            .select_related("form", "lead", "email_address")
            .filter(pk=confirmation_id)
            .first()
        )
        if confirmation is None:
            raise BadToken("no such signup")
        if confirmation.confirmed_at is None:
            confirmation.confirmed_at = timezone.now()
            confirmation.save(update_fields=["confirmed_at"])
            subscribe(
                confirmation.form,
                confirmation.lead,
                confirmation.email_address,
                text=confirmation.text,
                client=confirmation.client_hash,
                text_version=confirmation.text_version,
                confirmed=True,
            )
    return confirmation


def check_confirmation_token(token: str) -> None:
    """Raise BadToken or Expired unless `token` is a live confirmation link (for the GET)."""
    confirmation_id, issued = _read(tokens.SIGNUP_CONFIRM, token, 2)
    if time.time() - issued > settings.SIGNUP_CONFIRMATION_DAYS * 86400:
        raise Expired("the confirmation link has expired")
    if not SignupConfirmation.objects.filter(pk=confirmation_id).exists():
        raise BadToken("no such signup")
