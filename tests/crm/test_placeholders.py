import pytest

from crm import placeholders
from tests.factories import AccountFactory, ContactFactory


def test_it_splits_literals_and_placeholders():
    pieces = placeholders.split("Hi {Person.firstName}, see {trackingUrl:12}!")
    assert pieces == [
        "Hi ",
        placeholders.Placeholder("Person.firstName"),
        ", see ",
        placeholders.Placeholder("trackingUrl:12"),
        "!",
    ]
    assert pieces[3].tracking_url_id == 12


def test_it_names_an_unknown_placeholder():
    with pytest.raises(placeholders.PlaceholderError, match=r"\{Person\.shoeSize\}"):
        placeholders.validate("Hi {Person.shoeSize}")


def test_it_names_an_unclosed_placeholder():
    with pytest.raises(placeholders.PlaceholderError, match=r"\{Person\.firstName"):
        placeholders.validate("Hi {Person.firstName and more")


def test_it_leaves_css_blocks_alone():
    assert placeholders.validate("<style>p{color:red} a { margin: 0 }</style>") == []


@pytest.mark.django_db
def test_it_escapes_html_and_keeps_headers_on_one_line():
    contact = ContactFactory(first_name="<b>Eve</b>\r\nBcc: x@evil.test")
    html = placeholders.render_preview("{Person.firstName}", contact, html_context=True)
    subject = placeholders.render_preview("{Person.firstName}", contact, html_context=False)
    assert html == "&lt;b&gt;Eve&lt;/b&gt;\r\nBcc: x@evil.test"
    assert "\n" not in subject and "\r" not in subject


@pytest.mark.django_db
def test_it_renders_one_level_of_relation():
    contact = ContactFactory(account=AccountFactory(name="Acme"))
    assert (
        placeholders.render_preview("{Contact.account.name}", contact, html_context=True) == "Acme"
    )
    assert placeholders.render_preview("{Lead.accountName}", contact, html_context=True) == ""


def test_it_reads_a_fallback_after_a_bar():
    pieces = placeholders.split("Hi {Person.firstName|dear reader}, {Contact.account.name|}!")
    assert pieces[1] == placeholders.Placeholder("Person.firstName", "dear reader")
    assert pieces[3] == placeholders.Placeholder("Contact.account.name", "")


@pytest.mark.parametrize("text", ["{today|never}", "{optOutUrl|x}", "{trackingUrl:3|x}"])
def test_it_refuses_a_fallback_on_what_is_not_a_person_field(text):
    with pytest.raises(placeholders.PlaceholderError, match="Only person fields"):
        placeholders.validate(text)


def test_it_names_an_unknown_placeholder_that_has_a_fallback():
    with pytest.raises(placeholders.PlaceholderError, match=r"\{Person\.nickname\}"):
        placeholders.validate("Hi {Person.nickname|there}")


def test_it_refuses_an_unclosed_fallback():
    with pytest.raises(placeholders.PlaceholderError, match="not closed"):
        placeholders.validate("Hi {Person.firstName|there")


@pytest.mark.django_db
def test_it_previews_the_fallback_only_for_an_empty_value():
    text = "Hi {Person.firstName|there} {Person.lastName|}"
    empty = ContactFactory(first_name="  ", last_name="Lee")
    named = ContactFactory(first_name="Ann", last_name="")
    assert placeholders.render_preview(text, empty, html_context=False) == "Hi there Lee"
    assert placeholders.render_preview(text, named, html_context=True) == "Hi Ann "
