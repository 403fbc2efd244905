import pytest
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from crm.models import ConsentRecord
from targetlists.models import TargetListCategory
from tests.factories import (
    MassEmailFactory,
    SentQueueItemFactory,
    TargetListEntryFactory,
    TargetListFactory,
)
from tracking.preferences import reason_counts

pytestmark = pytest.mark.django_db


def two_lists():
    news = TargetListFactory(category=TargetListCategory.objects.create(name="Newsletter"))
    offers = TargetListFactory(name="Offers")
    first = TargetListEntryFactory(target_list=news)
    second = TargetListEntryFactory(target_list=offers, contact=first.contact)
    mass_email = MassEmailFactory()
    mass_email.target_lists.set([news, offers])
    item = SentQueueItemFactory(mass_email=mass_email, contact=first.contact)
    url = reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)])
    return item, first, second, url


def opted_out_log(item):
    return CampaignLogRecord.objects.filter(queue_item=item, action="opted_out")


def test_it_lists_the_lists_by_category_name_with_checkboxes(client):
    item, first, second, url = two_lists()
    page = client.get(url).content.decode()

    assert "Newsletter" in page and "Offers" in page
    assert f'name="keep" value="{first.pk}" checked' in page
    assert "Unsubscribe from everything" in page


def test_it_keeps_the_ticked_lists_and_leaves_the_others(client):
    item, first, second, url = two_lists()

    response = client.post(url, {"preferences": "1", "keep": [str(first.pk)], "reason": "too_many"})

    assert "Your choices are saved." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.opted_out, second.opted_out) == (False, True)
    assert opted_out_log(item).count() == 1
    assert reason_counts(item.mass_email.campaign) == {"too_many": 1}
    assert ConsentRecord.objects.get().method == "preferences"


def test_it_subscribes_a_list_again_when_ticked_again(client):
    item, first, second, url = two_lists()
    client.post(url, {"preferences": "1", "keep": [str(first.pk)]})
    client.post(url, {"preferences": "1", "keep": [str(first.pk), str(second.pk)]})

    second.refresh_from_db()
    assert second.opted_out is False
    assert not opted_out_log(item).exists()
    assert list(ConsentRecord.objects.order_by("id").values_list("action", flat=True)) == [
        "opt_out",
        "opt_in",
    ]


def test_it_unsubscribes_from_everything(client):
    item, first, second, url = two_lists()
    client.post(url, {"preferences": "1", "keep": [str(first.pk)], "everything": "1", "why": "Bye"})

    first.refresh_from_db()
    item.email_address.refresh_from_db()
    assert first.opted_out is True and item.email_address.opt_out is True
    assert reason_counts(item.mass_email.campaign) == {"": 1}


def test_it_ignores_entries_of_other_people(client):
    item, first, second, url = two_lists()
    stranger = TargetListEntryFactory(target_list=first.target_list)
    client.post(url, {"preferences": "1", "keep": [str(stranger.pk), "x", "9" * 40]})

    stranger.refresh_from_db()
    assert stranger.opted_out is False


def test_it_stores_the_reason_given_with_the_unsubscribe_button(client):
    item, first, second, url = two_lists()
    browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
    client.post(url, {"reason": "never_signed_up", "why": "Who?"}, HTTP_USER_AGENT=browser)

    assert reason_counts(item.mass_email.campaign) == {"never_signed_up": 1}
    assert ConsentRecord.objects.get().method == "page"


def test_it_still_unsubscribes_at_once_with_one_click(client):
    item, first, second, url = two_lists()
    one_click = reverse("tracking:one_click", args=[tokens.make(tokens.OPT_OUT, item.pk)])
    client.post(one_click, {"List-Unsubscribe": "One-Click"})

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.opted_out and second.opted_out
    assert ConsentRecord.objects.get().method == "one_click"


def test_it_refuses_a_reason_with_a_nul_byte_and_changes_nothing(client):
    item, first, second, url = two_lists()
    response = client.post(url, {"preferences": "1", "everything": "1", "why": "bad\x00byte"})
    from tracking.models import OptOutReason

    first.refresh_from_db()
    assert response.status_code == 400 and not first.opted_out
    assert not OptOutReason.objects.exists()
