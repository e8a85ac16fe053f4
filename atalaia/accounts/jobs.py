"""The accounts app's job in the worker (atalaia/lib/jobs.py)."""

from atalaia.accounts import limits, signin
from atalaia.lib import jobs


def register() -> None:
    # Full buckets say nothing a missing one would not; an hour between sweeps is plenty.
    jobs.register("accounts.prune_buckets", limits.prune, every=3600)
    # Failures and locks older than a day are forgiven anyway (accounts/signin.py).
    jobs.register("accounts.prune_lockouts", signin.prune, every=3600)
