import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaia.settings")
django_application = get_wsgi_application()

# Imported once Django is set up: the intake endpoints are served in front of
# Django's middleware (see atalaia/intake/front.py).
from atalaia.comms.front import StatusFront  # noqa: E402
from atalaia.intake.front import IntakeFront  # noqa: E402

# Intake POSTs and public status GETs are answered in front of Django's middleware
# (atalaia/intake/front.py, atalaia/comms/front.py); everything else goes through it.
application = StatusFront(IntakeFront(django_application))
