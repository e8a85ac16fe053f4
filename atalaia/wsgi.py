import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaia.settings")
django_application = get_wsgi_application()

# Imported once Django is set up: the intake endpoints are served in front of
# Django's middleware (see atalaia/intake/front.py).
from django.conf import settings  # noqa: E402

from atalaia.comms.front import StatusFront  # noqa: E402
from atalaia.intake.front import IntakeFront  # noqa: E402
from atalaia.lib.deadline import DeadlineMiddleware, Deadlines  # noqa: E402

# Intake POSTs and public status GETs are answered in front of Django's middleware
# (atalaia/intake/front.py, atalaia/comms/front.py); everything else goes through it.
# Every request is timed; `atalaia web` starts the watchdog that enforces the deadline.
deadlines = Deadlines(settings.WEB_REQUEST_SECONDS, settings.WEB_REQUEST_GRACE_SECONDS)
application = DeadlineMiddleware(StatusFront(IntakeFront(django_application)), deadlines)
