import pytest
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from tests.factories import MassEmailFactory, SentQueueItemFactory, TargetListEntryFactory
from tracking.models import TrackingHit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Headless Chromium announces itself as HeadlessChrome, which the machine rules treat as a
# scanner; a person's browser does not.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-US", user_agent=DESKTOP_CHROME)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def test_it_unsubscribes_and_subscribes_again_in_a_browser(live_server, page):
    entry = TargetListEntryFactory()
    mass_email = MassEmailFactory()
    mass_email.target_lists.set([entry.target_list])
    item = SentQueueItemFactory(mass_email=mass_email, contact=entry.contact)
    path = reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)])
    opted_out = CampaignLogRecord.objects.filter(queue_item=item, action="opted_out")

    page.goto(live_server.url + path)
    assert page.locator("h1").inner_text() == "Unsubscribe"
    assert item.email in page.locator("main").inner_text()
    assert not opted_out.exists()

    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    entry.refresh_from_db()
    assert entry.opted_out is True
    assert opted_out.count() == 1

    page.get_by_role("button", name="Subscribe again").click()
    page.get_by_text("You are subscribed again.").wait_for()
    entry.refresh_from_db()
    assert entry.opted_out is False
    assert not opted_out.exists()
    assert page.get_by_role("button", name="Unsubscribe").is_visible()


def test_it_unsubscribes_when_headless_chrome_posts(live_server, browser):
    entry = TargetListEntryFactory()
    mass_email = MassEmailFactory()
    mass_email.target_lists.set([entry.target_list])
    item = SentQueueItemFactory(mass_email=mass_email, contact=entry.contact)
    path = reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)])
    context = browser.new_context(locale="es-ES")  # HeadlessChrome's own user agent
    visitor = context.new_page()

    visitor.goto(live_server.url + path)
    visitor.get_by_role("button", name="Cancelar la suscripción").click()
    visitor.get_by_role("heading", name="Se ha cancelado su suscripción").wait_for()

    entry.refresh_from_db()
    assert entry.opted_out is True
    hit = TrackingHit.objects.get(queue_item=item)
    assert hit.is_machine is True  # counted apart in the reports, yet the opt-out stands
    context.close()


def test_it_keeps_one_list_and_leaves_another_in_the_preference_center(live_server, page):
    from targetlists.models import TargetListCategory
    from tests.factories import TargetListFactory

    news = TargetListEntryFactory(
        target_list=TargetListFactory(category=TargetListCategory.objects.create(name="News"))
    )
    offers = TargetListEntryFactory(
        target_list=TargetListFactory(name="Offers"), contact=news.contact
    )
    mass_email = MassEmailFactory()
    mass_email.target_lists.set([news.target_list, offers.target_list])
    item = SentQueueItemFactory(mass_email=mass_email, contact=news.contact)
    path = reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)])

    page.goto(live_server.url + path)
    page.get_by_label("Offers").uncheck()
    page.get_by_text("Tell us why (optional)").last.click()
    page.get_by_label("I receive too many emails").last.check()
    page.get_by_role("button", name="Save my choices").click()
    page.get_by_text("Your choices are saved.").wait_for()

    news.refresh_from_db()
    offers.refresh_from_db()
    assert (news.opted_out, offers.opted_out) == (False, True)
    assert page.get_by_label("News").is_checked() and not page.get_by_label("Offers").is_checked()
