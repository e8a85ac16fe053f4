from atalaia.notify.tests.conftest import mail  # noqa: F401 - a real SMTP server
