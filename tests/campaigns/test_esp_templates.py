"""One template for many rendered messages (campaigns.sending.esp_templates): what they share,
each one's values, and the ESP's substitution giving each message back exactly, or the message
left to a call of its own."""

import pytest

from campaigns.sending.esp_templates import (
    MailgunDialect,
    SendGridDialect,
    SesDialect,
    find_template,
    shared_batch,
    similar_groups,
    values_in,
)

LINK = '<a href="https://t.example.com/c/{token}/">Offer</a>'


def message(name: str, token: str, subject: str = "Hello {name}") -> dict[str, str]:
    html = f"<p>Dear {name},</p><p>{LINK.format(token=token)}</p><p>Bye</p>"
    return {
        "subject": subject.format(name=name),
        "text": f"Dear {name},\nOffer: https://t.example.com/c/{token}/\nBye\n",
        "html": html,
    }


MESSAGES = [
    message("Ann", "1.aB3xK9"),
    message("Bob", "2.Zq81-_p"),
    message("Chloé", "3.q0"),
    message("", "4.LONGERTOKEN0123456789"),
]


def test_it_finds_what_the_texts_share_and_each_ones_values():
    texts = [m["html"] for m in MESSAGES]

    skeleton = find_template(texts)

    assert skeleton[0] == "<p>Dear " and skeleton[-1].endswith('/">Offer</a></p><p>Bye</p>')
    assert skeleton.count(None) == 2
    expected = [("Ann", "1.aB3xK9"), ("Bob", "2.Zq81-_p"), ("Chloé", "3.q0"), ("", "4.LONG")]
    for text, (name, token) in zip(texts, expected, strict=True):
        values = values_in(skeleton, text)
        assert values[0] == name and values[1].startswith(token)
        assert "".join(p if p is not None else values.pop(0) for p in skeleton) == text


def test_identical_texts_have_no_variable_and_a_text_that_does_not_fit_has_no_values():
    assert find_template(["same", "same"]) == ["same"]
    assert values_in(["same"], "same") == []
    assert values_in(["<p>", None, "</p>"], "<div>x</div>") is None
    assert values_in(["<p>", None, "</p>"], "<p>x</p>") == ["x"]
    assert values_in([None], "") == [""]


@pytest.mark.parametrize("dialect", [SendGridDialect, MailgunDialect, SesDialect])
def test_every_message_is_given_back_exactly_by_the_esps_substitution(dialect):
    dialect = dialect()

    batch, alone = shared_batch(MESSAGES, dialect)

    assert alone == [] and batch.positions == [0, 1, 2, 3]
    for original, values in zip(MESSAGES, batch.values, strict=True):
        for part in ("subject", "text", "html"):
            assert dialect.render(getattr(batch, part), values) == original[part]
    assert "Ann" not in batch.html and dialect.marker("v0") in batch.subject


def test_a_value_over_sendgrids_10000_bytes_of_substitutions_goes_alone():
    huge = message("Ann", "1." + "x" * 10_000)

    batch, alone = shared_batch([*MESSAGES[:2], huge], SendGridDialect())

    assert alone == [2] and batch.positions == [0, 1]


def test_a_value_ses_might_html_escape_goes_alone():
    batch, alone = shared_batch([*MESSAGES[:2], message("O'Brien & Co", "9.z")], SesDialect())

    assert alone == [2] and batch.positions == [0, 1]


def test_template_syntax_in_the_shared_text_sends_every_message_alone():
    mailgun = [message(name, token, "50% off, %recipient.x% {name}") for name, token in [
        ("Ann", "1.a"), ("Bob", "2.b")
    ]]  # fmt: skip
    ses = [message(name, token, "{{{{sale}}}} {name}") for name, token in [
        ("Ann", "1.a"), ("Bob", "2.b")
    ]]  # fmt: skip

    assert shared_batch(mailgun, MailgunDialect()) == (None, [0, 1])
    assert shared_batch(ses, SesDialect()) == (None, [0, 1])
    batch, alone = shared_batch(ses, SendGridDialect())  # SendGrid's tags are its own
    assert alone == [] and batch.positions == [0, 1]


def test_a_value_with_the_esps_variable_syntax_goes_alone():
    odd = message("%recipient.v0%", "3.c")

    batch, alone = shared_batch([*MESSAGES[:2], odd], MailgunDialect())

    assert alone == [2] and batch.positions == [0, 1]


def test_ses_refuses_a_local_part_beyond_seven_bits():
    assert not SesDialect().fits_address("josé@example.com")
    assert SesDialect().fits_address("jose@xn--exmple-cua.com")
    assert MailgunDialect().fits_address("josé@example.com")


def test_messages_of_another_body_make_a_group_of_their_own():
    other = [
        {"subject": f"Sale for {name}", "text": "", "html": f"<h1>{name}</h1>" + "<p>x</p>" * 9}
        for name in ("Ann", "Bob")
    ]

    groups = similar_groups([MESSAGES[0], other[0], MESSAGES[1], other[1], MESSAGES[2]])

    assert groups == [[0, 2, 4], [1, 3]]
