import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from crm.models import Contact, EmailAddress
from targetlists.models import TargetList, TargetListEntry
from tests.factories import (
    AccountFactory,
    ContactFactory,
    LeadFactory,
    TargetListEntryFactory,
    TargetListFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def make_contacts(count: int, last_name: str) -> list[int]:
    addresses = EmailAddress.objects.bulk_create(
        EmailAddress(address=address, address_lower=address)
        for address in (f"{last_name.lower()}{n}@example.com" for n in range(count))
    )
    contacts = Contact.objects.bulk_create(
        Contact(first_name=f"C{n}", last_name=last_name, email_address=address)
        for n, address in enumerate(addresses)
    )
    return [contact.pk for contact in contacts]


def run_action(client, url: str, selected: list[int], select_across: bool = False, **form):
    """Post the changelist's action form, then the "which list" page as a browser would."""
    common = {
        "action": "add_to_target_list",
        ACTION_CHECKBOX_NAME: selected,
        "select_across": "1" if select_across else "0",
    }
    page = client.post(url, {**common, "index": "0"})
    assert page.status_code == 200
    assert b'name="apply"' in page.content
    return client.post(url, {**common, "apply": "yes", **form})


def test_it_lists_target_lists_with_entry_and_opted_out_counts(marketer_client):
    target_list = TargetListFactory(name="Newsletter readers")
    TargetListEntryFactory.create_batch(3, target_list=target_list)
    TargetListEntryFactory(target_list=target_list, opted_out=True)

    response = marketer_client.get(reverse("admin:targetlists_targetlist_changelist"))

    assert response.status_code == 200
    row = response.context["cl"].result_list.get(pk=target_list.pk)
    assert (row.entry_count, row.opted_out_count) == (4, 1)


def test_it_shows_entries_by_type_on_the_list_page(marketer_client):
    target_list = TargetListFactory()
    TargetListEntryFactory.create_batch(2, target_list=target_list)
    TargetListEntryFactory(target_list=target_list, contact=None, lead=LeadFactory())
    TargetListEntryFactory(
        target_list=target_list, contact=None, account=AccountFactory(), opted_out=True
    )

    url = reverse("admin:targetlists_targetlist_change", args=[target_list.pk])
    response = marketer_client.get(url)

    html = response.content.decode()
    assert response.status_code == 200
    assert "entries-by-type" in html
    assert f"target_list__id__exact={target_list.pk}&amp;type=contact" in html
    assert ">2</a>" in html  # two contacts
    assert ">4</a>" in html  # four entries in all
    assert f"target_list__id__exact={target_list.pk}&amp;opted_out__exact=1" in html


def test_it_creates_a_list_and_adds_selected_contacts(marketer_client):
    chosen = ContactFactory.create_batch(2)
    ContactFactory()

    response = run_action(
        marketer_client,
        reverse("admin:crm_contact_changelist"),
        [contact.pk for contact in chosen],
        new_list_name="Trade fair 2026",
    )

    assert response.status_code == 302
    target_list = TargetList.objects.get(name="Trade fair 2026")
    assert {entry.contact for entry in target_list.entries.all()} == set(chosen)


def test_it_adds_all_results_of_a_filtered_search_in_constant_queries(
    marketer_client, django_assert_max_num_queries
):
    garcia = make_contacts(2000, "Garcia")
    make_contacts(50, "Other")
    target_list = TargetListFactory()
    url = reverse("admin:crm_contact_changelist") + "?q=garcia"
    form = {
        "action": "add_to_target_list",
        ACTION_CHECKBOX_NAME: garcia[:50],  # only the first page is ticked in the browser
        "select_across": "1",
        "apply": "yes",
        "target_list": target_list.pk,
    }

    with django_assert_max_num_queries(20):
        response = marketer_client.post(url, form)

    assert response.status_code == 302
    entries = TargetListEntry.objects.filter(target_list=target_list)
    assert set(entries.values_list("contact_id", flat=True)) == set(garcia)
    with django_assert_max_num_queries(20):
        marketer_client.post(url, form)
    assert entries.count() == 2000
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == [f"2000 records added to target list “{target_list.name}”."]


def test_it_adds_nothing_twice_and_says_so(marketer_client):
    contact = ContactFactory()
    target_list = TargetListFactory()
    url = reverse("admin:crm_contact_changelist")

    run_action(marketer_client, url, [contact.pk], target_list=target_list.pk)
    response = run_action(marketer_client, url, [contact.pk], target_list=target_list.pk)

    assert target_list.entries.count() == 1
    assert "0 records added" in str(list(response.wsgi_request._messages)[0])


def test_it_asks_again_when_no_list_is_chosen(marketer_client):
    contact = ContactFactory()

    response = run_action(marketer_client, reverse("admin:crm_contact_changelist"), [contact.pk])

    assert response.status_code == 200
    assert "Choose an existing target list or name a new one." in response.content.decode()
    assert not TargetListEntry.objects.exists()


@pytest.mark.parametrize(
    ("url_name", "factory", "field"),
    [
        ("admin:crm_account_changelist", AccountFactory, "account"),
        ("admin:crm_lead_changelist", LeadFactory, "lead"),
        ("admin:auth_user_changelist", UserFactory, "user"),
    ],
)
def test_it_offers_the_action_on_accounts_leads_and_users(
    marketer_client, url_name, factory, field
):
    person = factory()
    target_list = TargetListFactory()

    response = run_action(
        marketer_client, reverse(url_name), [person.pk], target_list=target_list.pk
    )

    assert response.status_code == 302
    assert TargetListEntry.objects.get(target_list=target_list).target == person
    assert TargetListEntry.objects.get(target_list=target_list).target_type == field


def test_it_hides_the_action_from_staff_without_entry_permission(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client.force_login(viewer)

    response = client.get(reverse("admin:crm_contact_changelist"))

    assert response.status_code == 200
    assert "add_to_target_list" not in response.content.decode()


def test_it_filters_entries_by_type_and_marks_them_opted_out_and_back(marketer_client):
    target_list = TargetListFactory()
    contacts = TargetListEntryFactory.create_batch(2, target_list=target_list)
    lead = TargetListEntryFactory(target_list=target_list, contact=None, lead=LeadFactory())
    url = reverse("admin:targetlists_targetlistentry_changelist")

    listed = marketer_client.get(url, {"target_list__id__exact": target_list.pk, "type": "lead"})
    assert list(listed.context["cl"].result_list) == [lead]

    ids = [entry.pk for entry in contacts]
    marketer_client.post(url, {"action": "mark_opted_out", ACTION_CHECKBOX_NAME: ids, "index": 0})
    assert set(TargetListEntry.objects.filter(opted_out=True)) == set(contacts)

    marketer_client.post(url, {"action": "mark_opted_in", ACTION_CHECKBOX_NAME: ids, "index": 0})
    assert not TargetListEntry.objects.filter(opted_out=True).exists()


def test_it_removes_entries_from_their_list_but_keeps_the_people(marketer_client):
    entries = TargetListEntryFactory.create_batch(2)
    url = reverse("admin:targetlists_targetlistentry_changelist")

    marketer_client.post(
        url,
        {"action": "remove_from_target_list", ACTION_CHECKBOX_NAME: [entries[0].pk], "index": 0},
    )

    assert list(TargetListEntry.objects.all()) == [entries[1]]
    assert Contact.objects.filter(pk=entries[0].contact_id).exists()


def test_it_adds_one_entry_by_hand_and_requires_exactly_one_person(marketer_client):
    target_list, contact, lead = TargetListFactory(), ContactFactory(), LeadFactory()
    url = reverse("admin:targetlists_targetlistentry_add")

    both = marketer_client.post(
        url, {"target_list": target_list.pk, "contact": contact.pk, "lead": lead.pk}
    )
    one = marketer_client.post(url, {"target_list": target_list.pk, "contact": contact.pk})

    assert "Choose exactly one account, contact, lead or user" in both.content.decode()
    assert one.status_code == 302
    assert [entry.contact for entry in target_list.entries.all()] == [contact]


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:targetlists_targetlist_changelist",
        "admin:targetlists_targetlist_add",
        "admin:targetlists_targetlistentry_changelist",
        "admin:targetlists_targetlistentry_add",
        "admin:targetlists_targetlistcategory_changelist",
    ],
)
def test_it_loads_pages_for_a_superuser(admin_client, url_name):
    TargetListEntryFactory()
    assert admin_client.get(reverse(url_name)).status_code == 200


def test_it_toggles_one_entry_from_the_list_checkbox(marketer_client):
    first, second = TargetListEntryFactory.create_batch(2, opted_out=False)
    url = reverse("admin:targetlists_targetlistentry_changelist")

    response = marketer_client.post(
        url,
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": first.pk,
            "form-0-opted_out": "on",
            "form-1-id": second.pk,
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.opted_out, second.opted_out) == (True, False)
