"""What one run of the sending job did, as the command prints it and the job log keeps it."""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from campaigns.sending.outcomes import FAILED, RETRY, SENT, WAITING, Outcome


@dataclass
class SendReport:
    """What one run (or one worker helping it) did; `summary()` is what the command prints."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    waiting: int = 0
    requeued: int = 0
    queued: int = 0
    problems: list[str] = field(default_factory=list)
    configuration_errors: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)  # tracebacks of portions that broke
    notes: list[str] = field(default_factory=list)  # A/B tests decided, with their reasons

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.sent += outcome.result == SENT
            self.failed += outcome.result == FAILED
            self.retried += outcome.result == RETRY
            self.waiting += outcome.result == WAITING

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.retried

    def summary(self) -> str:
        text = _(
            "%(sent)s sent, %(failed)s failed, %(retried)s deferred, %(waiting)s waiting for "
            "their domain, %(queued)s queued, %(requeued)s stale claims resolved."
        ) % vars(self)
        text = " ".join([text, *self.configuration_errors, *self.problems])
        return "\n".join([text, *self.notes])


def named(mass_email, error) -> dict:
    """The mass email's name and an error, for the report's sentences."""
    return {"name": mass_email.name, "error": error}
