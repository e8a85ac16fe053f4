"""Where the instance secret comes from (settings.py).

In order: ATALAIA_SECRET_KEY (or ATALAIA_SECRET_KEY_FILE); on SQLite only, the key
file an older version generated in the data folder (so an upgrade keeps its key),
then the key file in the config folder, generated there on first start. The config
folder is not the data folder, so a copy of the data folder carries no key.
"""

import os
import re
import secrets
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from atalaia.lib import env

FILE_NAME = "secret_key"
MIN_LENGTH = 32


def config_dir() -> Path:
    """ATALAIA_CONFIG_DIR, or the XDG config folder of the user running Atalaia."""
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(env.string("ATALAIA_CONFIG_DIR", str(Path(xdg) / "atalaia"))).resolve()


def load(config: Path, data: Path, embedded: bool) -> tuple[str, Path | None]:
    """The secret and the file it was read from (None: from the environment)."""
    configured = env.string("ATALAIA_SECRET_KEY")
    if configured:
        _check_length("ATALAIA_SECRET_KEY", configured)
        return configured, None
    if not embedded:
        # Several machines share one PostgreSQL database, so they must share
        # one key too: a key generated here would exist on this machine only.
        raise ImproperlyConfigured(
            "ATALAIA_SECRET_KEY (or ATALAIA_SECRET_KEY_FILE) is required when "
            "ATALAIA_DATABASE_URL points at PostgreSQL"
        )
    legacy = data / FILE_NAME
    path = legacy if legacy.exists() else config / FILE_NAME
    if not path.exists():
        _generate(path)
    key = path.read_text().strip()
    _check_length(str(path), key)
    return key, path


def fallbacks() -> list[str]:
    """ATALAIA_SECRET_KEY_FALLBACKS: older secrets, separated by commas or spaces."""
    raw = env.string("ATALAIA_SECRET_KEY_FALLBACKS")
    keys = [key for key in re.split(r"[\s,]+", raw) if key]
    for key in keys:
        _check_length("ATALAIA_SECRET_KEY_FALLBACKS", key)
    return keys


def _check_length(where: str, key: str) -> None:
    if len(key) < MIN_LENGTH:
        raise ImproperlyConfigured(f"{where}: must be at least {MIN_LENGTH} characters long")


def _generate(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, scratch = tempfile.mkstemp(dir=path.parent)  # readable by its owner only
        with os.fdopen(handle, "w") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            # Two processes starting at once: the first link wins and both read its key.
            os.link(scratch, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(scratch)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"cannot write a new secret key to {path} ({exc.strerror}): set "
            f"ATALAIA_CONFIG_DIR to a writable folder, or ATALAIA_SECRET_KEY_FILE") from None
