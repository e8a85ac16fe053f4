import pytest

from tests.servers import MailServer


@pytest.fixture
def mail(settings):
    """A real SMTP server, and Atalaia's e-mail pointed at it."""
    server = MailServer()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    yield server
    server.stop()
