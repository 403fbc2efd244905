"""The pool a run sends a source's messages through: SMTP sessions, or an ESP's API.

A source whose sending method is SMTP gets a SessionPool (campaigns.sending.sessions); one that
sends through an ESP's HTTP API an ApiPool (campaigns.sending.esp_pool), with the same interface.
"""

from campaigns.sending.deferrals import DomainBackoff
from campaigns.sending.esp_pool import ApiPool
from campaigns.sending.sessions import SessionPool
from campaigns.sending.transport import smtp_source
from crm.models import EmailAccount, OutboundEmailSettings


def pool_for(
    source: OutboundEmailSettings | EmailAccount, backoff: DomainBackoff
) -> SessionPool | ApiPool:
    """The pool for `source`: its ESP's API when it uses one, else its SMTP sessions."""
    if getattr(source, "uses_esp_api", False):
        return ApiPool(source, backoff)
    return SessionPool(source, backoff)


class SessionPools:
    """The pools of one run, one per sending source (None: the system settings)."""

    def __init__(self, backoff: DomainBackoff):
        self.backoff = backoff
        self._by_source: dict[int | None, SessionPool | ApiPool] = {}

    def for_mass_email(self, mass_email) -> SessionPool | ApiPool:
        key = mass_email.smtp_account_id
        if key not in self._by_source:
            self._by_source[key] = pool_for(smtp_source(mass_email), self.backoff)
        return self._by_source[key]

    def close(self) -> None:
        for pool in self._by_source.values():
            pool.close()
