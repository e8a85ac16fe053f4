import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaia.settings")
django_application = get_wsgi_application()

# Imported once Django is set up: the intake endpoints are served in front of
# Django's middleware (see atalaia/intake/front.py).
from atalaia.intake.front import IntakeFront  # noqa: E402

application = IntakeFront(django_application)
