"""Typed readers for ATALAIA_* environment variables.

Every reader has a working default; a bad value stops start-up with a message
naming the variable, so a typo never turns into silent misbehaviour.
"""

import ipaddress
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def _raw(name: str) -> str | None:
    """The value of NAME, or the contents of the file named by NAME_FILE."""
    value = os.environ.get(name)
    file_name = os.environ.get(name + "_FILE")
    if value is not None and file_name:
        raise ImproperlyConfigured(f"{name}: set either {name} or {name}_FILE, not both")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name}: {exc}") from exc
    return value


def string(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def boolean(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}: expected true or false, got {value!r}")


def integer(name: str, default: int, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}")
    return number


def number(name: str, default: float, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        result = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {value!r}") from None
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {result}")
    return result


def string_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


def network_list(name: str) -> list[str]:
    """Comma-separated addresses or networks (CIDR), checked now; none by default."""
    items = string_list(name, [])
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
    return items


def origin(name: str) -> str:
    """The scheme, host and port of an http(s) URL (for a security policy); "" if unset
    or a path on this site."""
    value = string(name)
    if not value or (value.startswith("/") and not value.startswith("//")):
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ImproperlyConfigured(f"{name}: expected an http:// or https:// URL, got {value!r}")
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def database(name: str, default_sqlite: Path) -> dict:
    """A Django DATABASES entry from a URL: sqlite:///path or postgresql://user:pw@host:port/db."""
    url = _raw(name)
    if not url:
        return sqlite_database(default_sqlite)
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if not path or path == "/":
            raise ImproperlyConfigured(f"{name}: sqlite URL needs a file path, got {url!r}")
        return sqlite_database(Path(path))
    if parts.scheme in ("postgres", "postgresql"):
        db_name = unquote(parts.path.lstrip("/"))
        if not db_name:
            raise ImproperlyConfigured(f"{name}: PostgreSQL URL needs a database name")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name}: bad port in {url!r}") from None
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": db_name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(
        f"{name}: unsupported scheme {parts.scheme!r}; use sqlite:///PATH or postgresql://..."
    )


def sqlite_durability(name: str = "ATALAIA_SQLITE_SYNCHRONOUS") -> str:
    """NORMAL (the default): a crash of a process loses nothing committed, a power loss
    may lose the last transactions; FULL: nothing committed is lost on power loss
    either, at the price of a sync of the write-ahead log on every commit."""
    value = (_raw(name) or "NORMAL").upper()
    if value not in ("NORMAL", "FULL"):
        raise ImproperlyConfigured(f"{name}: expected NORMAL or FULL, got {value!r}")
    return value


def sqlite_database(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # IMMEDIATE takes the write lock when a transaction starts, so two
            # writers never deadlock upgrading a read lock; WAL lets readers
            # (live timelines) go on while the worker writes.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": f"PRAGMA journal_mode=WAL; "
                            f"PRAGMA synchronous={sqlite_durability()};",
        },
        "TEST": {"NAME": str(path.with_name("test-" + path.name))},
    }
