"""Many values as one parameter: the `any_of` lookup and the raw-SQL helpers, on both
databases."""

import pytest
from django.db import connection

from crm.models import Contact, EmailAddress
from crm.value_lists import any_of_sql, list_param

pytestmark = pytest.mark.django_db


@pytest.fixture
def addresses():
    return EmailAddress.objects.bulk_create(
        EmailAddress(address=f"v{n}@example.org", address_lower=f"v{n}@example.org")
        for n in range(30)
    )


def test_any_of_finds_exactly_the_given_ids_with_one_parameter(addresses):
    wanted = [a.pk for a in addresses[::3]] + [10**12]  # one that does not exist
    found = EmailAddress.objects.filter(pk__any_of=wanted)
    assert sorted(found.values_list("pk", flat=True)) == sorted(a.pk for a in addresses[::3])
    _sql, params = found.query.sql_with_params()
    assert len(params) == 1


def test_any_of_takes_any_iterable_of_ids_and_works_on_foreign_keys_and_in_exclude(addresses):
    people = Contact.objects.bulk_create(
        Contact(last_name=f"V{n}", email_address=a) for n, a in enumerate(addresses)
    )
    chosen = {addresses[1].pk, addresses[2].pk}
    by_address = Contact.objects.filter(email_address_id__any_of=chosen)
    assert set(by_address.values_list("pk", flat=True)) == {people[1].pk, people[2].pk}
    others = Contact.objects.exclude(email_address__any_of=(pk for pk in chosen))
    assert others.count() == len(people) - 2


def test_no_ids_match_nothing_and_exclude_nothing(addresses):
    assert not EmailAddress.objects.filter(pk__any_of=[]).exists()
    assert EmailAddress.objects.exclude(pk__any_of=[]).count() == len(addresses)


def test_a_value_that_is_not_an_id_is_refused_before_the_database(addresses):
    with pytest.raises(ValueError):
        list(EmailAddress.objects.filter(pk__any_of=["1; DROP TABLE crm_emailaddress"]))


def test_raw_sql_with_a_named_parameter(addresses):
    ids = [addresses[0].pk, addresses[5].pk]
    sql = f"SELECT id FROM crm_emailaddress WHERE {any_of_sql('id', '%(ids)s')} ORDER BY id"
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": list_param(ids)})
        assert [row[0] for row in cursor.fetchall()] == ids
