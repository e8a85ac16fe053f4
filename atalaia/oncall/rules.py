"""Per-person notification rules: which verified method, how long after a page,
for each urgency (e.g. push at once, SMS after 2 minutes, e-mail at once)."""

from django.utils.translation import gettext as _

from atalaia.accounts.models import User
from atalaia.notify.models import ContactMethod
from atalaia.oncall.models import NotificationRule, Urgency

MAX_DELAY_MINUTES = 1440
MAX_RULES = 20


class RuleError(ValueError):
    """A rule that cannot be added; the message says why."""


def add_rule(user: User, urgency: str, method_id, delay_minutes) -> NotificationRule:
    if urgency not in Urgency.values:
        raise RuleError(_("Urgency is high or low."))
    method = ContactMethod.objects.filter(pk=_number(method_id, -1), user=user).first()
    if method is None:
        raise RuleError(_("Choose one of your own contact methods."))
    delay = _number(delay_minutes, None)
    if delay is None or not 0 <= delay <= MAX_DELAY_MINUTES:
        raise RuleError(_("The delay is a whole number of minutes from 0 to 1440."))
    if user.notification_rules.filter(urgency=urgency).count() >= MAX_RULES:
        raise RuleError(_("At most 20 rules per urgency."))
    rule, _created = NotificationRule.objects.get_or_create(
        user=user, urgency=urgency, method=method, delay_minutes=delay)
    return rule


def _number(value, default):
    try:
        return int(str(value).strip())
    except ValueError:
        return default
