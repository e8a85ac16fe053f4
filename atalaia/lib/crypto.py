"""Keys derived from the instance secret: encryption at rest and the timeline MAC.

Both are derived from SECRET_KEY, which never lives in the database, so a copy
of the database alone can neither read secrets nor forge timeline entries.
"""

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def derive_key(purpose: str) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"atalaia:" + purpose.encode(),
                    hashlib.sha256).digest()


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derive_key("secrets-at-rest")))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("secret cannot be decrypted with this instance's key") from None


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
