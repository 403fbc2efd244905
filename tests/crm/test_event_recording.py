"""Every place a change happens records its event in the stream (crm/events.py), in the
change's own transaction, with what a receiver needs in `data`."""

from types import SimpleNamespace

import pytest
from django.db import transaction
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import EmailQueueItem, MassEmail
from campaigns.sending import outcomes, portion, queue
from crm import events, upsert
from crm.models import Contact, Event
from people import privacy, signup
from targetlists import adding, membership
from targetlists.models import TargetListEntry
from tests.factories import (
    ContactFactory,
    EmailAddressFactory,
    LeadFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    SignupFormFactory,
    TargetListEntryFactory,
    TargetListFactory,
    TrackingUrlFactory,
)
from tests.people.importing import run_file, undo
from tracking import bounces, feedback, opt_out, recording
from tracking.recording import Visit

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def recorded(*types: str) -> list[Event]:
    return list(Event.objects.filter(type__in=types).order_by("tx", "id"))


def sending(item: EmailQueueItem) -> EmailQueueItem:
    EmailQueueItem.objects.filter(pk=item.pk).update(status="sending")
    item.refresh_from_db()
    return item


def test_a_chunk_records_its_sent_events_then_its_bounced_ones():
    mass_email = MassEmailFactory(status="in_process")
    items = [sending(SentQueueItemFactory(mass_email=mass_email)) for _ in range(3)]
    test_item = sending(SentQueueItemFactory(mass_email=mass_email, is_test=True))
    rendered = [SimpleNamespace(recipient=item.email, data=b"x") for item in items]
    results = [outcomes.Outcome(item, outcomes.SENT, rendered=rendered[0]) for item in items[:2]]
    results.append(outcomes.Outcome(test_item, outcomes.SENT, rendered=rendered[0]))
    bounced = outcomes.Outcome(
        items[2],
        outcomes.FAILED,
        error="550 5.1.1 no such user",
        bounced=True,
        code=550,
        reply="5.1.1 no such user",
    )

    outcomes.record([*results, bounced], mass_email, SimpleNamespace(max_attempts=3))

    sent = recorded(events.EMAIL_SENT)
    assert [e.data["queue_item_id"] for e in sent] == [items[0].pk, items[1].pk]
    first = sent[0]
    assert first.data == {
        "queue_item_id": items[0].pk,
        "email": items[0].email,
        "mass_email_id": mass_email.pk,
        "campaign_id": mass_email.campaign_id,
        "person": {"type": "contact", "id": items[0].contact_id},
    }
    assert (first.person_type, first.person_id) == ("contact", items[0].contact_id)
    (bounce,) = recorded(events.EMAIL_BOUNCED)
    assert bounce.data["kind"] == "hard" and bounce.data["email"] == items[2].email
    # The sent events in queue order, then the bounce: their ids follow each other.
    ids = [e.id for e in recorded(events.EMAIL_SENT, events.EMAIL_BOUNCED)]
    assert ids == list(range(ids[0], ids[0] + 3))
    assert ids[-1] == bounce.id


def test_a_sent_item_without_a_person_has_no_person_in_its_event():
    mass_email = MassEmailFactory(status="in_process")
    item = SentQueueItemFactory(mass_email=mass_email)
    EmailQueueItem.objects.filter(pk=item.pk).update(contact=None)  # the queue allows it
    item = sending(item)
    assert item.target is None
    rendered = SimpleNamespace(recipient="josé@exämple.com", data=b"x")
    attempts = item.attempts

    outcomes.record(
        [outcomes.Outcome(item, outcomes.SENT, rendered=rendered)],
        mass_email,
        SimpleNamespace(max_attempts=3),
    )

    (sent,) = recorded(events.EMAIL_SENT)
    assert sent.data["person"] is None and sent.data["email"] == "josé@exämple.com"
    assert (sent.person_type, sent.person_id) == ("", None)
    item.refresh_from_db()
    assert (item.status, item.email, item.attempts) == ("sent", "josé@exämple.com", attempts + 1)


def test_the_first_open_and_each_first_click_record_an_event_with_the_verdict(client):
    item = SentQueueItemFactory()
    link = TrackingUrlFactory(campaign=item.mass_email.campaign, url="https://example.com/a")
    pixel = reverse("tracking:open", args=[tokens.make(tokens.OPEN, item.pk)])

    client.get(pixel, HTTP_USER_AGENT=BROWSER)
    client.get(pixel, HTTP_USER_AGENT=BROWSER)
    click = reverse("tracking:click", args=[tokens.make(tokens.CLICK, item.pk, link.pk)])
    client.get(click, HTTP_USER_AGENT=BROWSER)
    client.get(click, HTTP_USER_AGENT=BROWSER)

    (opened,) = recorded(events.EMAIL_OPENED)
    assert opened.data["human"] is True
    assert opened.data["mass_email_id"] == item.mass_email_id
    assert opened.data["person"] == {"type": "contact", "id": item.contact_id}
    (clicked,) = recorded(events.EMAIL_CLICKED)
    assert clicked.data["url"] == "https://example.com/a"
    assert clicked.data["tracking_url_id"] == link.pk
    assert clicked.data["human"] is True


def test_an_open_by_a_machine_says_so():
    item = SentQueueItemFactory()

    recording.record_open(item.pk, Visit(user_agent=""))  # no agent: a scanner

    (opened,) = recorded(events.EMAIL_OPENED)
    assert opened.data["human"] is False


def test_a_buffered_batch_records_an_event_per_log_record_it_writes():
    item, other = SentQueueItemFactory(), SentQueueItemFactory()
    link = TrackingUrlFactory(campaign=item.mass_email.campaign, url="https://example.com/b")
    recording.record_open(other.pk, Visit(user_agent=BROWSER))  # already opened
    Event.objects.all().delete()
    hits = [
        ("open", item.pk, None, Visit(user_agent=BROWSER)),
        ("open", item.pk, None, Visit(user_agent=BROWSER)),
        ("click", item.pk, link.pk, Visit(user_agent=BROWSER)),
        ("open", other.pk, None, Visit(user_agent=BROWSER)),
    ]

    recording.record_batch(hits)

    assert [(e.type, e.data["queue_item_id"]) for e in recorded(*events.TYPES)] == [
        ("email.opened", item.pk),
        ("email.clicked", item.pk),
    ]
    assert recorded(events.EMAIL_CLICKED)[0].data["url"] == "https://example.com/b"


def test_an_opt_out_records_unsubscribed_once():
    item = SentQueueItemFactory()
    TargetListEntryFactory(contact=item.contact)

    opt_out.opt_out(item, via="opt_out")
    opt_out.opt_out(item, via="one_click")

    (event,) = recorded(events.EMAIL_UNSUBSCRIBED)
    assert event.data["email"] == item.email and event.data["via"] == "opt_out"


def test_a_bounce_report_records_its_kind_and_a_complaint_is_told_of():
    item, other = SentQueueItemFactory(), SentQueueItemFactory()

    bounces.record_all(
        [bounces.Bounce(item.pk, "soft", "4.2.2"), bounces.Bounce(item.pk, "soft", "4.2.2")]
    )
    feedback.record_complaint(other)

    (bounce,) = recorded(events.EMAIL_BOUNCED)
    assert bounce.data["kind"] == "soft" and bounce.data["queue_item_id"] == item.pk
    (complaint,) = recorded(events.EMAIL_COMPLAINED)
    assert complaint.data["email"] == other.email


def test_a_mass_email_records_started_and_completed():
    target_list = TargetListFactory()
    TargetListEntryFactory(target_list=target_list)
    mass_email = MassEmailFactory(status="pending")
    mass_email.target_lists.add(target_list)

    queue.build_queue(mass_email)
    EmailQueueItem.objects.filter(mass_email=mass_email).update(status="sent")
    mass_email.refresh_from_db()
    portion.complete_if_done(mass_email)
    portion.complete_if_done(mass_email)

    (started,) = recorded(events.MASS_EMAIL_STARTED)
    assert started.data == {
        "mass_email_id": mass_email.pk,
        "campaign_id": mass_email.campaign_id,
        "recipients": 1,
    }
    (completed,) = recorded(events.MASS_EMAIL_COMPLETED)
    assert completed.data["mass_email_id"] == mass_email.pk


def test_upserts_record_created_then_updated_and_erasure_deleted_without_the_address():
    found = upsert.upsert(Contact, email="ann@example.com", values={"last_name": "Lee"})
    upsert.upsert(Contact, email="ann@example.com", values={"first_name": "Ann"})
    upsert.upsert(Contact, email="ann@example.com", values={"first_name": "Ann"})
    person_id = found.person.pk
    privacy.erase_person(found.person)

    kinds = [(e.type, e.data.get("changed")) for e in recorded(*events.TYPES)]
    assert kinds == [
        ("contact.created", None),
        ("contact.updated", ["first_name"]),
        ("contact.deleted", None),
    ]
    created, _updated, deleted = recorded(*events.TYPES)
    assert created.data["email"] == "ann@example.com"
    assert created.data["person"] == {"type": "contact", "id": person_id}
    assert deleted.data["email"] == ""


def test_bulk_membership_records_one_event_per_member_in_one_insert():
    target_list = TargetListFactory()
    people = [ContactFactory() for _ in range(3)]
    ids = membership.Selection("contact", "ids", [p.pk for p in people])

    membership.add(target_list, ids)
    membership.add(target_list, ids)  # already members: nothing more
    membership.remove(target_list, membership.Selection("contact", "ids", [people[0].pk]))
    membership.opt_out(target_list, membership.Selection("contact", "ids", [people[1].pk]))

    added = recorded(events.LIST_MEMBER_ADDED)
    assert sorted(e.person_id for e in added) == sorted(p.pk for p in people)
    assert {e.data["list_id"] for e in added} == {target_list.pk}
    assert {e.data["email"] for e in added} == {p.email for p in people}
    assert added[0].data["person"] == {"type": "contact", "id": added[0].person_id}
    removed = recorded(events.LIST_MEMBER_REMOVED)
    assert [(e.person_id, e.data.get("opted_out")) for e in removed] == [
        (people[0].pk, None),
        (people[1].pk, True),
    ]


def test_the_admins_add_to_list_and_remove_entries_record_members():
    target_list = TargetListFactory()
    people = [ContactFactory() for _ in range(2)]
    TargetListEntry.objects.create(target_list=target_list, contact=people[0])

    added = adding.add_to_target_list(target_list, Contact.objects.all())
    adding.remove_entries(TargetListEntry.objects.filter(target_list=target_list))

    assert added == 1
    assert [e.person_id for e in recorded(events.LIST_MEMBER_ADDED)] == [people[1].pk]
    removed = recorded(events.LIST_MEMBER_REMOVED)
    assert sorted(e.person_id for e in removed) == sorted(p.pk for p in people)
    assert {e.data["list_id"] for e in removed} == {target_list.pk}


def test_a_confirmed_signup_records_the_lead_its_lists_and_the_confirmation():
    form = SignupFormFactory()
    target_list = TargetListFactory()
    form.target_lists.add(target_list)
    address = EmailAddressFactory(address="new@example.com")
    lead = signup.find_or_create_lead(form, address, signup.Submission(email=address.address))

    signup.subscribe(form, lead, address, text="yes", client="", confirmed=True)

    lists = sorted(form.target_lists.values_list("pk", flat=True))
    types = [e.type for e in recorded(*events.TYPES)]
    added = ["list.member_added"] * len(lists)
    assert types == ["contact.created", *added, "subscription.confirmed"]
    confirmed = recorded(events.SUBSCRIPTION_CONFIRMED)[0]
    assert sorted(confirmed.data["list_ids"]) == lists and target_list.pk in lists
    assert (confirmed.person_type, confirmed.person_id) == ("lead", lead.pk)


def test_an_import_records_people_members_and_its_end():
    target_list = TargetListFactory()
    ContactFactory(email_address=EmailAddressFactory(address="in@example.com"))

    done = run_file(b"email\nin@example.com\nnew@example.com\n", target_list=target_list)

    created = recorded(events.CONTACT_CREATED)
    assert [e.data["email"] for e in created] == ["new@example.com"]
    assert len(recorded(events.LIST_MEMBER_ADDED)) == 2
    (finished,) = recorded(events.IMPORT_FINISHED)
    assert finished.data["import_id"] == done.pk
    assert (finished.data["created"], finished.data["skipped"]) == (1, 1)


def test_a_change_rolled_back_leaves_no_event():
    lead = LeadFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        privacy.erase_person(lead)
        raise RuntimeError("rolled back")
    assert not recorded(events.CONTACT_DELETED)
    assert MassEmail.objects.count() == 0


def test_undoing_an_import_records_the_people_deleted_and_the_members_removed():
    target_list = TargetListFactory()
    existing = ContactFactory(email_address=EmailAddressFactory(address="in@example.com"))
    done = run_file(b"email\nin@example.com\nnew@example.com\n", target_list=target_list)
    new = Contact.objects.get(email_address__address="new@example.com")
    Event.objects.all().delete()

    undo(done)

    (deleted,) = recorded(events.CONTACT_DELETED)
    assert (deleted.person_id, deleted.data["email"]) == (new.pk, "new@example.com")
    removed = recorded(events.LIST_MEMBER_REMOVED)
    assert [e.person_id for e in removed] == [existing.pk]


def test_the_admin_records_people_created_changed_and_deleted(admin_client):
    add = reverse("admin:crm_contact_add")
    admin_client.post(add, {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    contact = Contact.objects.get()
    change = reverse("admin:crm_contact_change", args=[contact.pk])
    admin_client.post(
        change, {"first_name": "Anna", "last_name": "Lee", "email": "ann@example.com"}
    )
    changelist = reverse("admin:crm_contact_changelist")
    admin_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [contact.pk], "post": "yes"},
    )

    found = [(e.type, e.data.get("changed"), e.data["via"]) for e in recorded(*events.TYPES)]
    assert found == [
        ("contact.created", None, "admin"),
        ("contact.updated", ["first_name"], "admin"),
        ("contact.deleted", None, "admin"),
    ]
    assert recorded(events.CONTACT_DELETED)[0].data["email"] == "ann@example.com"
    assert not Contact.objects.exists()
