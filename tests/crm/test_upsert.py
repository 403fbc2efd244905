"""Upserting people by address or external id: matching, the three merges, and consent."""

import threading

import pytest
from django.db import connection

from crm import consent, upsert
from crm.models import ConsentRecord, Contact, EmailAddress, Lead, SuppressedAddress
from crm.upsert import Consent, UpsertRefused
from tests.factories import ContactFactory, EmailAddressFactory

pytestmark = pytest.mark.django_db


def test_it_creates_a_contact_for_a_new_address():
    done = upsert.upsert(
        Contact, email="Ann@Example.com", values={"first_name": "Ann", "last_name": "Lee"}
    )

    assert done.created
    assert done.person.email == "Ann@Example.com"
    assert Contact.objects.get().last_name == "Lee"


@pytest.mark.parametrize(
    "merge, expected",
    [("fill", ("Ann", "CEO")), ("overwrite", ("Anna", "CEO")), ("keep", ("Ann", ""))],
)
def test_it_merges_an_existing_record_as_asked(merge, expected):
    existing = ContactFactory(first_name="Ann", title="")

    done = upsert.upsert(
        Contact,
        email=existing.email.upper(),
        values={"first_name": "Anna", "title": "CEO"},
        merge=merge,
    )

    existing.refresh_from_db()
    assert not done.created and done.person.pk == existing.pk
    assert (existing.first_name, existing.title) == expected
    assert Contact.objects.count() == 1


def test_the_external_id_wins_and_an_address_without_one_is_adopted():
    by_address = ContactFactory(external_id=None)

    linked = upsert.upsert(
        Contact, email=by_address.email, external_id="crm-42", values={"last_name": "X"}
    )
    moved = upsert.upsert(
        Contact,
        email="new@example.com",
        external_id="crm-42",
        values={},
        merge="overwrite",
    )

    by_address.refresh_from_db()
    assert linked.person.pk == moved.person.pk == by_address.pk
    assert by_address.external_id == "crm-42"
    assert by_address.email == "new@example.com"
    assert moved.changed == ["email"]


def test_an_address_used_by_another_external_id_gets_a_record_of_its_own():
    other = ContactFactory(external_id="crm-1")

    done = upsert.upsert(
        Contact, email=other.email, external_id="crm-2", values={"last_name": "Twin"}
    )

    assert done.created
    assert done.person.email_address_id == other.email_address_id


def test_kinds_are_apart():
    contact = ContactFactory()

    done = upsert.upsert(Lead, email=contact.email, values={"last_name": "Lead"})

    assert done.created and isinstance(done.person, Lead)


def test_an_opted_out_address_stays_opted_out_unless_resubscribed_with_consent():
    contact = ContactFactory(email_address=EmailAddressFactory(opt_out=True))

    upsert.upsert(Contact, email=contact.email, values={}, wish=Consent(opted_out=False))
    with pytest.raises(UpsertRefused) as refused:
        upsert.upsert(Contact, email=contact.email, values={}, wish=Consent(resubscribe=True))
    assert EmailAddress.objects.get().opt_out
    assert refused.value.code == "consent_required"

    upsert.upsert(
        Contact,
        email=contact.email,
        values={},
        wish=Consent(resubscribe=True, text="Signed up again at the fair", source="key"),
    )

    record = ConsentRecord.objects.get()
    assert not EmailAddress.objects.get().opt_out
    assert (record.action, record.method, record.text) == (
        "opt_in",
        "api",
        "Signed up again at the fair",
    )


def test_opting_out_is_honoured_whatever_the_merge():
    contact = ContactFactory()

    upsert.upsert(
        Contact, email=contact.email, values={}, merge="keep", wish=Consent(opted_out=True)
    )

    assert EmailAddress.objects.get().opt_out
    assert ConsentRecord.objects.get().action == "opt_out"


def test_an_erased_address_is_refused():
    SuppressedAddress.objects.create(address_hash=consent.address_hash("gone@example.com"))

    with pytest.raises(UpsertRefused) as refused:
        upsert.upsert(Contact, email="GONE@example.com", values={"last_name": "X"})

    assert refused.value.code == "address_suppressed"
    assert not Contact.objects.exists()


@pytest.mark.parametrize("email", ["no-at-sign", "a@" + "b" * 260 + ".com", "a b@example.com"])
def test_an_address_smtp_cannot_carry_is_refused(email):
    with pytest.raises(UpsertRefused) as refused:
        upsert.upsert(Contact, email=email, values={"last_name": "X"})

    assert refused.value.code == "invalid_fields"
    assert "email" in refused.value.errors


def test_an_external_id_taken_by_another_record_is_refused_on_change():
    ContactFactory(external_id="crm-1")
    other = ContactFactory()

    with pytest.raises(UpsertRefused) as refused:
        upsert.change_person(other, values={"external_id": "crm-1"})

    assert refused.value.code == "external_id_taken"


@pytest.mark.django_db(transaction=True)
def test_upserts_of_one_new_address_at_once_make_one_record():
    start = threading.Barrier(4)
    errors = []

    def run():
        start.wait()
        try:
            upsert.upsert(Contact, email="race@example.com", values={"last_name": "R"})
        except Exception as exc:  # noqa: BLE001  (the assertion below reports it)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Contact.objects.count() == 1
