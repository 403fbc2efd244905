"""How a notice says it failed, is delayed, or is an auto-reply (tracking.notices)."""

from tracking import notices


def test_it_reads_a_failure_in_wrapped_lines():
    assert notices.says_failure("your message could not\n    be delivered to one recipient")
    assert notices.says_failure("Su mensaje no pudo ser entregado")
    assert not notices.says_failure("Thanks for your newsletter, see you soon")


def test_a_warning_is_a_delay_even_when_it_lists_fatal_errors():
    assert notices.says_delay("THIS IS A WARNING MESSAGE ONLY.\nThe following had fatal errors")
    assert notices.says_delay("Message will be retried for 2 more day(s)")
    assert notices.says_delay("", subject="Mail Delivery Status Notification (Delay)")
    assert not notices.says_delay(
        "Delivery attempts will continue. Message could not be delivered for 5 days: giving up"
    )
    assert not notices.says_delay("", subject="Warning: jo@example.org - User unknown!")


def test_an_auto_reply_is_told_by_its_subject_or_its_words():
    assert notices.says_auto_reply("Automatic reply: news", "")
    assert notices.says_auto_reply("Re: news", "I am out of the office until Monday.")
    assert not notices.says_auto_reply("failure notice", "I'm afraid I wasn't able to deliver")


def test_it_finds_the_lines_about_one_recipient():
    notice = (
        "The following address(es) failed:\n\n  a@example.org\n    550 5.2.2 Mailbox full\n"
        "  b@example.org\n    550 5.1.1 User unknown\n\n--- copy\n"
    )

    assert "Mailbox full" in notices.words_about(notice, "a@example.org")
    assert "User unknown" not in notices.words_about(notice, "a@example.org")
    assert "User unknown" in notices.words_about(notice, "B@example.org")
    assert notices.words_about(notice, "c@example.org") == ""


def test_an_address_alone_on_its_line_runs_on_into_its_reason():
    notice = "I wasn't able to deliver:\n\n<a@example.org>:\n\nSorry, no mailbox here. (#5.1.1)\n"

    assert "no mailbox here" in notices.words_about(notice, "a@example.org")
