"""What a portion loads for its claimed items (campaigns.sending.portion.load_items): one query,
and everything a placeholder of any kind of person reads, so rendering asks the database
nothing more."""

import pytest

from campaigns.authoring.rendering import CompiledMassEmail
from campaigns.models import EmailQueueItem, MassEmail
from campaigns.sending.portion import chunk_size, load_items
from crm import placeholders
from crm.models import EmailAddress
from tests.factories import (
    AccountFactory,
    ContactFactory,
    EmailTemplateFactory,
    LeadFactory,
    MassEmailFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mass_settings")]


def every_placeholder() -> str:
    names = [
        f"{entity}.{field}"
        for entity, fields in placeholders.ENTITY_FIELDS.items()
        for field in sorted(fields)
    ]
    names += [
        f"{entity}.{relation}.{field}"
        for (entity, relation), target in placeholders.RELATIONS.items()
        for field in sorted(placeholders.ENTITY_FIELDS[target])
    ]
    return " | ".join(f"[{name}]{{{name}}}" for name in names)


def queued(mass_email: MassEmail, person) -> EmailQueueItem:
    if hasattr(person, "email_address"):
        address = person.email_address
    else:  # a User keeps its address as text
        address = EmailAddress.for_address(person.email)
    item = EmailQueueItem(mass_email=mass_email, status=EmailQueueItem.Status.SENDING)
    item.email_address, item.email = address, address.address
    item.set_target(person)
    item.save()
    return item


def test_every_placeholder_of_every_kind_of_person_renders_from_one_query(
    django_assert_num_queries,
):
    template = EmailTemplateFactory(body_html=f"<p>{every_placeholder()}</p>", body_text="")
    mass_email = MassEmailFactory(email_template=template)
    people = [
        AccountFactory(),
        ContactFactory(account=AccountFactory(name="Globex")),
        LeadFactory(),
        UserFactory(first_name="Ada", last_name="Lovelace", email="ada@example.org"),
    ]
    items = [queued(mass_email, person) for person in people]
    compiled = CompiledMassEmail.compile(mass_email)
    full = [
        compiled.render(item).data.split(b"\r\n\r\n", 1)[1]
        for item in EmailQueueItem.objects.filter(pk__in=[i.pk for i in items]).order_by("id")
    ]

    with django_assert_num_queries(1):
        loaded = load_items([item.pk for item in items], mass_email)
    with django_assert_num_queries(0):
        lean = [compiled.render(item).data.split(b"\r\n\r\n", 1)[1] for item in loaded]

    # Bodies as rendered from fully loaded people (boundaries and dates aside: same layout).
    assert [len(body) for body in lean] == [len(body) for body in full]
    assert b"Globex" in lean[1] and b"Ada Lovelace" in lean[3]


def test_a_chunk_is_four_messages_a_connection_within_bounds():
    assert chunk_size(1) == 100
    assert chunk_size(10) == 100
    assert chunk_size(40) == 160
    assert chunk_size(400) == 1000
