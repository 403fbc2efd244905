import pytest

from tests.webhooks.receiver import Receiver
from webhooks import endpoints


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 5


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def endpoint(receiver):
    """An endpoint for every event type, its secret given to the receiver."""
    created, secret = endpoints.create(receiver.url, [])
    receiver.secret = secret
    return created
