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
