"""Keys derived from the instance secrets: encryption at rest and the timeline MAC.

The instance has a key ring: SECRET_KEY first, then SECRET_KEY_FALLBACKS (older
secrets, kept while what they made is still around). Each key has a short id. New
ciphertexts and MACs are made with the first key and carry its id, so an old one is
checked with the key that made it; `atalaia keys rotate` re-encrypts what older keys
encrypted. No secret lives in the database, so a copy of the database alone can
neither read secrets nor forge timeline entries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from functools import cached_property, lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

# A ciphertext is "<key id>:<Fernet token>"; one made before key ids is a bare token
# (Fernet's alphabet has no colon), tried with every key of the ring.
SEPARATOR = ":"


class CannotDecrypt(ValueError):
    """A stored secret that none of this instance's keys opens."""


@dataclass(frozen=True)
class Key:
    secret: str

    def derive(self, purpose: str) -> bytes:
        return hmac.new(self.secret.encode(), b"atalaia:" + purpose.encode(),
                        hashlib.sha256).digest()

    @cached_property
    def id(self) -> str:
        # Derived, not a hash of the secret itself: the id says nothing about the secret.
        return self.derive("key-id").hex()[:8]

    @cached_property
    def fernet(self) -> Fernet:
        return Fernet(base64.urlsafe_b64encode(self.derive("secrets-at-rest")))


def ring() -> tuple[Key, ...]:
    """The current key first, then the fallbacks, in the order they are configured."""
    return _ring(settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))


@lru_cache(maxsize=8)
def _ring(current: str, fallbacks: tuple[str, ...]) -> tuple[Key, ...]:
    secrets = list(dict.fromkeys([current, *fallbacks]))  # a key listed twice counts once
    return tuple(Key(secret) for secret in secrets)


def current() -> Key:
    return ring()[0]


def key_with_id(key_id: str) -> Key | None:
    return next((key for key in ring() if key.id == key_id), None)


def derive_key(purpose: str) -> bytes:
    return current().derive(purpose)


def encrypt(plain: str) -> str:
    key = current()
    return f"{key.id}{SEPARATOR}{key.fernet.encrypt(plain.encode()).decode()}"


def key_id_of(token: str) -> str:
    """The id of the key a ciphertext was made with ("" for one made before key ids)."""
    key_id, separator, _rest = token.partition(SEPARATOR)
    return key_id if separator else ""


def decrypt(token: str) -> str:
    key_id, separator, body = token.partition(SEPARATOR)
    if not separator:
        return _open(MultiFernet([key.fernet for key in ring()]), token,
                     "with any of this instance's keys")
    key = key_with_id(key_id)
    if key is None:
        raise CannotDecrypt(f"secret was encrypted with key {key_id}, which is neither the "
                            f"secret key nor one of its fallbacks (SECRET_KEY_FALLBACKS)")
    return _open(key.fernet, body, f"with key {key_id} (damaged)")


def _open(fernet: Fernet | MultiFernet, token: str, why: str) -> str:
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        raise CannotDecrypt(f"secret cannot be decrypted {why}") from None


def reencrypt(token: str) -> str:
    """The same secret under the current key (unchanged when it already is)."""
    if key_id_of(token) == current().id:
        return token
    return encrypt(decrypt(token))


def mac(purpose: str, message: bytes, key: Key | None = None) -> str:
    """A hex HMAC-SHA256 of MESSAGE under KEY (the current key by default)."""
    secret = (key or current()).derive(purpose)
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """A column holding encrypt()'s output. Stored as a plain text column (migrations
    see a TextField); the class is what `atalaia keys rotate` looks for."""

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.TextField", args, kwargs


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
