import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm import addresses
from crm.addresses import AddressError, for_smtp, problem


def test_it_sends_an_international_domain_as_its_a_label():
    assert for_smtp("jose@exämple.com") == addresses.SmtpAddress("jose@xn--exmple-cua.com", False)


def test_it_needs_smtputf8_for_a_non_ascii_local_part():
    sent = for_smtp("josé@exämple.com")
    assert sent.address == "josé@xn--exmple-cua.com"
    assert sent.needs_smtputf8


def test_it_accepts_an_address_of_254_characters():
    address = "a" * 64 + "@" + ".".join(["b" * 61] * 3) + ".example"[: 254 - 64 - 1 - 185]
    address = address[:254]
    assert len(address) == 254 and problem(address) == "", problem(address)


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com", "too long"),
        ("x" * 300 + "@example.com", "longer than 64"),
        ("nobody", "no @"),
        ("nobody@", "no domain"),
        ("two words@example.com", "characters an address cannot have"),
        ("dots..twice@example.com", "characters an address cannot have"),
        ("jo\x00e@example.com", "control characters"),
        ("jose@exa_mple.com", "not a valid domain"),
        ("jose@com", "not a valid domain"),
        ("jose@xn--a.com", "IDNA"),
        ("jose@☃\u200d.com", "IDNA"),
    ],
)
def test_it_names_the_problem_of_an_address_smtp_cannot_carry(address, words):
    with pytest.raises(AddressError, match=words):
        for_smtp(address)


def test_it_accepts_quoted_local_parts_and_address_literals():
    assert problem('"john doe"@example.com') == ""
    assert problem("postmaster@[192.0.2.1]") == ""
    assert problem("user@localhost") == ""


@given(st.text(max_size=400))
def test_it_answers_every_string_with_a_form_or_a_reason(text):
    reason = problem(text)
    if reason:
        assert isinstance(reason, str)
    else:
        sent = for_smtp(text)
        assert len(sent.address.encode()) <= 254
        sent.address.split("@")[-1].encode("ascii")  # the domain is always ASCII when sent
