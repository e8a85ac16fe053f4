"""Which account role may do what. One table, checked by every view and API route."""

from django.core.exceptions import PermissionDenied

from atalaia.accounts.models import AccountRole

A, C, R, M, V = (AccountRole.ADMIN, AccountRole.COMMANDER, AccountRole.RESPONDER,
                 AccountRole.COMMUNICATOR, AccountRole.VIEWER)

CAPABILITIES: dict[str, frozenset[str]] = {
    "view": frozenset({A, C, R, M, V}),
    "incident.declare": frozenset({A, C, R}),
    "incident.command": frozenset({A, C}),        # level override, roles, visibility, stages
    "incident.respond": frozenset({A, C, R}),     # timeline actions, checklist, affected services
    "incident.communicate": frozenset({A, C, M}), # public status, notes
    "incident.note": frozenset({A, C, R, M}),
    "catalog.edit": frozenset({A}),
    "plan.edit": frozenset({A}),
    "users.manage": frozenset({A}),
    "integrations.manage": frozenset({A}),
    "monitors.manage": frozenset({A, C}),        # monitors, maintenance windows, test now
    "oncall.manage": frozenset({A, C}),          # schedules, layers, overrides, feed resets
    "deliveries.view": frozenset({A, C, M}),      # outgoing messages and their errors
    "deliveries.manage": frozenset({A, C}),       # send a failed one again
    "people.view": frozenset({A, C}),             # who can be reached, who cannot
    "remote.manage": frozenset({A}),              # SSH hosts, credentials, trusting host keys
    "runbooks.edit": frozenset({A, C}),           # import runbooks
    "audit.view": frozenset({A}),
}


def can(user, capability: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.role in CAPABILITIES[capability]


def require(user, capability: str) -> None:
    if not can(user, capability):
        raise PermissionDenied(f"your account role may not do this ({capability})")
