"""`atalaia user …`: people and their account roles, from the command line.

It lives in `web` because it also edits team members, which belong to the catalog
(an app above accounts). Every change goes through the same actions as the console.
"""

import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from atalaia.accounts import signin
from atalaia.accounts.actions import (
    AccountError,
    create_user,
    make_password,
    reset_password,
    reset_two_factor,
    set_active,
    set_role,
)
from atalaia.accounts.models import AccountRole, User
from atalaia.catalog.actions import add_team_member, remove_team_member
from atalaia.catalog.models import Team

ROLES = [role.value for role in AccountRole]


class Command(BaseCommand):
    help = ("Manage people: create, set-role, reset-password, reset-2fa, unlock, list, "
            "deactivate, activate, add-to-team, remove-from-team.")
    # call_command(..., stdin=StringIO(...)) gives a password the way a pipe would.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = sub.add_parser("create", help="create a person; prints a one-time password")
        create.add_argument("name")
        create.add_argument("--email", default="")
        create.add_argument("--role", choices=ROLES, default=AccountRole.VIEWER)
        create.add_argument("--password-stdin", action="store_true",
                            help="read the password from standard input instead")
        role = sub.add_parser("set-role", help="give a person an account role")
        role.add_argument("name")
        role.add_argument("role", choices=ROLES)
        password = sub.add_parser("reset-password",
                                  help="set a new password; prints a one-time password")
        password.add_argument("name")
        password.add_argument("--stdin", action="store_true", dest="read_stdin",
                              help="read the new password from standard input instead")
        for action, text in (("reset-2fa", "forget a person's TOTP secret"),
                             ("unlock", "end a sign-in lock after failed attempts"),
                             ("deactivate", "stop a person from signing in"),
                             ("activate", "let a deactivated person sign in again")):
            sub.add_parser(action, help=text).add_argument("name")
        sub.add_parser("list", help="everyone, with role, two-factor and teams")
        for action in ("add-to-team", "remove-from-team"):
            team = sub.add_parser(action, help=f"{action.replace('-', ' ')} (a catalog team)")
            team.add_argument("name")
            team.add_argument("team", help="the team's slug")

    def handle(self, *args, action, **options):
        options["stream"] = options.pop("stdin", None) or sys.stdin
        try:
            getattr(self, "do_" + action.replace("-", "_"))(**options)
        except AccountError as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None

    def do_create(self, *, name, email, role, password_stdin, stream, **options):
        User.username_validator(name)
        if User.objects.filter(username=name).exists():
            raise CommandError(f"the username {name!r} is taken")
        password = _read_password(stream) if password_stdin else make_password()
        validate_password(password, User(username=name, email=email))
        create_user(name, password, role, email=email)
        self.stdout.write(f"created {name} ({role})")
        if not password_stdin:
            self.stdout.write(f"one-time password, shown only now: {password}")

    def do_set_role(self, *, name, role, **options):
        set_role(_user(name), role, None)
        self.stdout.write(f"{name} is now {role}")

    def do_reset_password(self, *, name, read_stdin, stream, **options):
        given = _read_password(stream) if read_stdin else None
        password = reset_password(_user(name), None, given)
        if given is None:
            self.stdout.write(f"one-time password, shown only now: {password}")
        else:
            self.stdout.write(f"password of {name} changed")

    def do_reset_2fa(self, *, name, **options):
        reset_two_factor(_user(name), None)
        self.stdout.write(f"two-factor of {name} reset: they enrol again at next sign-in "
                          "if their account requires it")

    def do_unlock(self, *, name, **options):
        if signin.unlock(_user(name), None):
            self.stdout.write(f"{name} unlocked: they can sign in again")
        else:
            self.stdout.write(f"{name} was not locked")

    def do_deactivate(self, *, name, **options):
        set_active(_user(name), False, None)
        self.stdout.write(f"{name} deactivated")

    def do_activate(self, *, name, **options):
        set_active(_user(name), True, None)
        self.stdout.write(f"{name} activated")

    def do_add_to_team(self, *, name, team, **options):
        added = add_team_member(_team(team), _user(name), None)
        self.stdout.write(f"{name} added to {team}" if added else f"{name} was in {team}")

    def do_remove_from_team(self, *, name, team, **options):
        removed = remove_team_member(_team(team), _user(name), None)
        self.stdout.write(f"{name} removed from {team}" if removed
                          else f"{name} was not in {team}")

    def do_list(self, **options):
        self.stdout.write(f"{'username':<24} {'role':<13} {'active':<7} {'2fa':<9} teams")
        for user in User.objects.order_by("username").prefetch_related("teams"):
            two_factor = "on" if user.totp_confirmed else (
                "required" if user.needs_totp else "off")
            teams = ",".join(sorted(team.slug for team in user.teams.all())) or "-"
            self.stdout.write(f"{user.username:<24} {user.role:<13} "
                              f"{'yes' if user.is_active else 'no':<7} {two_factor:<9} {teams}")


def _user(name: str) -> User:
    user = User.objects.filter(username=name).first()
    if user is None:
        raise CommandError(f"no user {name!r} (see `atalaia user list`)")
    return user


def _team(slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise CommandError(f"no team {slug!r} (teams come from the catalog file)")
    return team


def _read_password(stream) -> str:
    password = stream.readline().rstrip("\r\n")
    if not password:
        raise CommandError("no password on standard input")
    return password
