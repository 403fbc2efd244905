"""The sending pipeline's and results' public functions the API calls, in one place, so that
a rename in campaigns/ (sending/, authoring/, results/) is followed here alone."""

from campaigns.authoring.duplicate import duplicate_mass_email
from campaigns.authoring.template_editor import render_fields
from campaigns.authoring.trial_send import TestSendError, send_test
from campaigns.results.figures import results
from campaigns.results.progress import progress
from campaigns.sending import job
from campaigns.sending.queue import count_recipients
from campaigns.sending.schedule import ScheduleRefused, schedule, unschedule
from campaigns.sending.send_now import SendNowRefused, send_now

# Pause, resume and cancel take a queryset and answer how many mass emails changed.
CONTROLS = {"pause": job.pause, "resume": job.resume, "cancel": job.cancel}

__all__ = [
    "CONTROLS",
    "ScheduleRefused",
    "SendNowRefused",
    "TestSendError",
    "count_recipients",
    "duplicate_mass_email",
    "progress",
    "render_fields",
    "results",
    "schedule",
    "send_now",
    "send_test",
    "unschedule",
]
