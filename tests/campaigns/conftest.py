import pytest

from tests.integration.smtp_server import SmtpServer, configure_system_smtp


@pytest.fixture(params=[True, False], ids=["pipelining", "no-pipelining"])
def smtp_server(request):
    """A real SMTP server (aiosmtpd) the system settings point at, with and without RFC 2920
    pipelining: the sender takes a different path for each."""
    server = SmtpServer()
    server.handler.pipelining = request.param
    server.start()
    configure_system_smtp(server.port)
    yield server
    server.stop()
