"""Django's createsuperuser, making an Atalaia admin (account role admin).

Django's command only sets is_superuser, which Atalaia does not look at: the account
role decides what a person may do. This app is listed before django.contrib.auth in
INSTALLED_APPS so that this command is the one `atalaia createsuperuser` runs.
"""

from django.contrib.auth.management.commands import createsuperuser

from atalaia.accounts.actions import set_role
from atalaia.accounts.models import AccountRole, User


class Command(createsuperuser.Command):
    help = "Create an admin (account role admin), who enrols two-factor at first sign-in."

    def handle(self, *args, **options):
        before = set(User.objects.filter(is_superuser=True).values_list("pk", flat=True))
        super().handle(*args, **options)
        for user in User.objects.filter(is_superuser=True).exclude(pk__in=before):
            set_role(user, AccountRole.ADMIN, None)
