"""The job "Check Group Email Accounts" against a real IMAP server (Dovecot)."""

import time

import pytest
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from crm.jobs import CHECK_GROUP_EMAIL_ACCOUNTS
from crm.models import EmailAccount, JobRun
from tests.factories import SentQueueItemFactory
from tests.ports import closed_port
from tests.tracking.dsn import exim_headers_dsn, postfix_dsn
from tracking import bounces, mailboxes
from tracking.mailboxes import MailboxFailure
from tracking.tasks import run_bounce_check

pytestmark = pytest.mark.django_db
SEEN = "\\Seen"

ORDINARY = b"""\
From: customer@example.org
To: news@example.com
Subject: Re: November news - undeliverable? mailbox full? 550!

Thanks, but please call me instead.
"""


def account_for(server, password: str | None = None, **fields) -> EmailAccount:
    account = EmailAccount(
        name=fields.pop("name", "Bounces"),
        email_address="news@example.com",
        monitor_bounces=True,
        imap_host=server.host,
        imap_port=server.port,
        imap_security="none",
        imap_username=server.username,
        **fields,
    )
    account.imap_password = password or server.password
    account.save()
    return account


def bounce_types(*items) -> list[list[str]]:
    rows = CampaignLogRecord.objects.filter(action="bounced")
    return [sorted(rows.filter(queue_item=i).values_list("bounce_type", flat=True)) for i in items]


def seen_flags(server, folder: str = "INBOX") -> list[bool]:
    return [SEEN in flags for _uid, flags in server.messages(folder)]


def test_it_records_the_bounces_of_a_mailbox_and_leaves_other_mail_alone(imap_mailbox):
    hard, soft, delayed = SentQueueItemFactory.create_batch(3)
    forged = SentQueueItemFactory()
    imap_mailbox.append(postfix_dsn(hard))
    imap_mailbox.append(exim_headers_dsn(soft, tokens.make(tokens.VERP, soft.pk), status="4.2.2"))
    imap_mailbox.append(postfix_dsn(delayed, status="4.4.1", action="delayed"))
    imap_mailbox.append(ORDINARY)
    imap_mailbox.append(postfix_dsn(forged, header_token=tokens.make(tokens.OPEN, forged.pk)))
    account_for(imap_mailbox)

    summary = run_bounce_check()

    assert summary == (
        "Bounces: 5 new messages, 1 hard bounces, 1 soft bounces, 0 blocked, 1 delay warnings, "
        "0 complaints, 2 left alone"
    )
    assert bounce_types(hard, soft, delayed, forged) == [["hard"], ["soft"], [], []]
    hard.email_address.refresh_from_db()
    soft.email_address.refresh_from_db()
    assert hard.email_address.invalid
    assert (soft.email_address.soft_bounces, soft.email_address.invalid) == (1, False)
    assert seen_flags(imap_mailbox) == [True, True, True, False, False]
    run = JobRun.objects.get(job=CHECK_GROUP_EMAIL_ACCOUNTS)
    assert (run.status, run.summary) == ("success", summary)


def test_each_message_is_read_once(imap_mailbox):
    first, second = SentQueueItemFactory.create_batch(2)
    imap_mailbox.append(postfix_dsn(first, status="4.2.2"))
    imap_mailbox.append(ORDINARY)
    account = account_for(imap_mailbox)
    mailboxes.check_account(account)

    account.refresh_from_db()
    again = mailboxes.check_account(account)
    imap_mailbox.append(postfix_dsn(second))
    account.refresh_from_db()
    later = mailboxes.check_account(account)

    assert (again.read, later.read, later.hard) == (0, 1, 1)
    first.email_address.refresh_from_db()
    assert first.email_address.soft_bounces == 1
    assert bounce_types(first, second) == [["soft"], ["hard"]]


def test_a_recreated_folder_is_read_again_without_recording_twice(imap_mailbox):
    item = SentQueueItemFactory()
    imap_mailbox.append(postfix_dsn(item))
    account = account_for(imap_mailbox)
    mailboxes.check_account(account)
    EmailAccount.objects.filter(pk=account.pk).update(imap_uid_validity=1, imap_last_uid=10**6)
    account.refresh_from_db()

    result = mailboxes.check_account(account)

    assert (result.read, result.hard) == (1, 1)
    assert bounce_types(item) == [["hard"]]
    account.refresh_from_db()
    assert account.imap_last_uid < 10**6


def test_a_run_that_dies_halfway_resumes_after_the_last_message_it_finished(
    imap_mailbox, monkeypatch
):
    monkeypatch.setattr(mailboxes, "FETCH_BATCH", 1)  # a batch is one message
    first, second = SentQueueItemFactory.create_batch(2)
    imap_mailbox.append(postfix_dsn(first))
    imap_mailbox.append(postfix_dsn(second))
    account = account_for(imap_mailbox)
    record_all = bounces.record_all

    def dies_at_the_second(reports):
        if reports[0].item_id == second.pk:
            raise RuntimeError("worker killed")
        return record_all(reports)

    monkeypatch.setattr(bounces, "record_all", dies_at_the_second)
    with pytest.raises(RuntimeError):
        mailboxes.check_account(account)
    monkeypatch.setattr(bounces, "record_all", record_all)
    assert bounce_types(first, second) == [["hard"], []]

    account.refresh_from_db()
    result = mailboxes.check_account(account)

    assert (result.read, result.hard) == (1, 1)
    assert bounce_types(first, second) == [["hard"], ["hard"]]


def test_a_folder_other_than_the_inbox(imap_mailbox):
    item = SentQueueItemFactory()
    imap_mailbox.append(postfix_dsn(item), folder="Bounces")
    imap_mailbox.append(ORDINARY)

    result = mailboxes.check_account(account_for(imap_mailbox, imap_folder="Bounces"))

    assert (result.read, result.hard, result.error) == (1, 1, "")
    assert seen_flags(imap_mailbox, "Bounces") == [True]
    assert seen_flags(imap_mailbox) == [False]


def test_a_failing_account_fails_the_run_after_the_others_are_read(imap_mailbox):
    item = SentQueueItemFactory()
    imap_mailbox.append(postfix_dsn(item))
    account_for(imap_mailbox, name="A wrong password", password="not-the-password")
    account_for(imap_mailbox, name="B good")
    account_for(imap_mailbox, name="C no folder", imap_folder="Nowhere")

    with pytest.raises(MailboxFailure) as failure:
        run_bounce_check()

    assert "A wrong password: The IMAP server 127.0.0.1 refused the login" in str(failure.value)
    assert "C no folder: The folder “Nowhere” cannot be opened." in str(failure.value)
    assert bounce_types(item) == [["hard"]]
    run = JobRun.objects.get(job=CHECK_GROUP_EMAIL_ACCOUNTS)
    assert run.status == "failed"
    assert "B good: 1 new messages, 1 hard bounces" in run.summary


def test_a_server_that_is_down_is_named():
    port = closed_port()
    account = EmailAccount(
        name="Down", email_address="b@example.com", imap_host="127.0.0.1", imap_port=port
    )
    account.imap_security = "none"

    result = mailboxes.check_account(account)

    assert result.error.startswith(f"Cannot connect to the IMAP server 127.0.0.1:{port}")
    assert str(result) == f"Down: {result.error}"


def test_administrators_check_an_account_from_the_list(imap_mailbox, admin_client):
    item = SentQueueItemFactory()
    imap_mailbox.append(postfix_dsn(item))
    account = account_for(imap_mailbox)

    response = admin_client.post(
        reverse("admin:crm_emailaccount_changelist"),
        {"action": "check_for_bounces", "_selected_action": [account.pk]},
        follow=True,
    )

    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        "Bounces: 1 new messages, 1 hard bounces, 0 soft bounces, 0 blocked, 0 delay warnings, "
        "0 complaints, 0 left alone"
    ]
    assert bounce_types(item) == [["hard"]]


def test_one_run_reads_every_new_message_past_any_count_cap(imap_mailbox, monkeypatch):
    monkeypatch.setattr(mailboxes, "FETCH_BATCH", 7)  # many batches from a small mailbox
    items = SentQueueItemFactory.create_batch(12)
    for n, item in enumerate(items):
        imap_mailbox.append(postfix_dsn(item, status="4.2.2" if n % 2 else "5.1.1"))
        imap_mailbox.append(ORDINARY)

    result = mailboxes.check_account(account_for(imap_mailbox))

    assert (result.read, result.hard, result.soft, result.left_alone) == (24, 6, 6, 12)
    assert result.waiting == 0
    assert seen_flags(imap_mailbox) == [True, False] * 12


def test_a_run_out_of_time_leaves_the_rest_for_the_next_run(imap_mailbox):
    items = SentQueueItemFactory.create_batch(3)
    for item in items:
        imap_mailbox.append(postfix_dsn(item))
    account = account_for(imap_mailbox)

    stopped = mailboxes.check_account(account, deadline=time.monotonic())
    account.refresh_from_db()
    resumed = mailboxes.check_account(account)

    assert (stopped.read, stopped.waiting) == (0, 3)
    assert "3 more wait for the next run" in str(stopped)
    assert (resumed.read, resumed.hard, resumed.waiting) == (3, 3, 0)
    assert bounce_types(*items) == [["hard"]] * 3


def test_a_batch_that_dies_is_read_again_and_recorded_once(imap_mailbox, monkeypatch):
    items = SentQueueItemFactory.create_batch(3)
    for item in items:
        imap_mailbox.append(postfix_dsn(item, status="4.2.2"))
    account = account_for(imap_mailbox)
    record_all = bounces.record_all

    def dies_after_recording(reports):
        record_all(reports)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(bounces, "record_all", dies_after_recording)
    with pytest.raises(RuntimeError):
        mailboxes.check_account(account)
    monkeypatch.setattr(bounces, "record_all", record_all)
    account.refresh_from_db()
    result = mailboxes.check_account(account)

    assert (result.read, result.soft) == (3, 3)
    assert bounce_types(*items) == [["soft"]] * 3
    items[0].email_address.refresh_from_db()
    assert items[0].email_address.soft_bounces == 1


def test_a_message_that_cannot_be_read_is_left_alone_and_the_rest_are_read(imap_mailbox):
    item = SentQueueItemFactory()
    imap_mailbox.append(b"Content-Type: multipart/report; boundary=\r\n\r\n\xff\xfe--\r\n")
    imap_mailbox.append(postfix_dsn(item))

    result = mailboxes.check_account(account_for(imap_mailbox))

    assert (result.read, result.hard, result.left_alone) == (2, 1, 1)
