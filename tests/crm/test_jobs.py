import pytest
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from crm.jobs import CHECK_GROUP_EMAIL_ACCOUNTS, SEND_MASS_EMAILS, ensure_scheduled_jobs, record_run
from crm.models import EmailAccount, JobRun
from tracking.mailboxes import MailboxFailure
from tracking.tasks import check_bounce_mailboxes

pytestmark = pytest.mark.django_db


class JobBroke(Exception):
    pass


def test_it_records_a_successful_run_with_its_summary():
    with record_run("Some Job") as run:
        run.summary = "sent 3"

    run = JobRun.objects.get()
    assert (run.job, run.status, run.summary, run.error) == ("Some Job", "success", "sent 3", "")
    assert run.finished_at >= run.started_at


def test_it_records_a_failed_run_with_the_error_and_reraises():
    with pytest.raises(JobBroke):
        with record_run("Some Job"):
            raise JobBroke("SMTP server on fire")

    run = JobRun.objects.get()
    assert run.status == "failed"
    assert run.error == "JobBroke: SMTP server on fire"
    assert run.finished_at is not None


def test_it_creates_both_scheduled_jobs_every_five_minutes():
    tasks = {task.name: task for task in PeriodicTask.objects.select_related("crontab")}

    assert tasks[SEND_MASS_EMAILS].task == "campaigns.tasks.send_mass_emails"
    assert tasks[CHECK_GROUP_EMAIL_ACCOUNTS].task == "tracking.tasks.check_bounce_mailboxes"
    for name in (SEND_MASS_EMAILS, CHECK_GROUP_EMAIL_ACCOUNTS):
        assert tasks[name].enabled
        assert (tasks[name].crontab.minute, tasks[name].crontab.hour) == ("*/5", "*")


def test_it_keeps_an_administrators_changes_when_run_again():
    hourly = CrontabSchedule.objects.create(minute="0", hour="*")
    PeriodicTask.objects.filter(name=SEND_MASS_EMAILS).update(crontab=hourly, enabled=False)

    created = ensure_scheduled_jobs()

    task = PeriodicTask.objects.get(name=SEND_MASS_EMAILS)
    assert created == []
    assert (task.crontab_id, task.enabled) == (hourly.pk, False)
    assert PeriodicTask.objects.filter(name=SEND_MASS_EMAILS).count() == 1


def test_it_recreates_a_deleted_scheduled_job():
    PeriodicTask.objects.filter(name=CHECK_GROUP_EMAIL_ACCOUNTS).delete()

    assert ensure_scheduled_jobs() == [CHECK_GROUP_EMAIL_ACCOUNTS]
    assert PeriodicTask.objects.filter(name=CHECK_GROUP_EMAIL_ACCOUNTS).exists()


def test_the_bounce_command_records_its_run(capsys):
    EmailAccount.objects.create(name="Sales", email_address="s@example.com")  # not monitored

    call_command("check_bounce_mailboxes")

    expected = "no account is set to be checked for bounces"
    assert capsys.readouterr().out.strip() == expected
    run = JobRun.objects.get()
    assert (run.job, run.status, run.summary) == (CHECK_GROUP_EMAIL_ACCOUNTS, "success", expected)


def test_the_bounce_task_records_a_failed_account_as_a_failed_run():
    EmailAccount.objects.create(name="Bounces", email_address="b@example.com", monitor_bounces=True)

    with pytest.raises(MailboxFailure, match="Bounces: No IMAP host is configured."):
        check_bounce_mailboxes.apply().get()

    run = JobRun.objects.get(job=CHECK_GROUP_EMAIL_ACCOUNTS)
    assert (run.status, run.summary) == ("failed", "Bounces: No IMAP host is configured.")
    assert "No IMAP host is configured." in run.error


def test_the_job_log_lists_runs_by_status(admin_client):
    with record_run("Good Job") as run:
        run.summary = "all fine"
    with pytest.raises(JobBroke):
        with record_run("Bad Job"):
            raise JobBroke("it broke")

    url = reverse("admin:crm_jobrun_changelist")
    failed = admin_client.get(url, {"status__exact": "failed"}).context["cl"].result_list
    everything = admin_client.get(url).context["cl"].result_list

    assert [(run.job, run.error) for run in failed] == [("Bad Job", "JobBroke: it broke")]
    assert {run.job for run in everything} == {"Good Job", "Bad Job"}
    assert admin_client.get(reverse("admin:crm_jobrun_add")).status_code == 403
