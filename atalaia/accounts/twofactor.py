"""TOTP two-factor authentication (RFC 6238) with secrets encrypted at rest."""

import hmac
import io
import secrets
import time

import pyotp
import qrcode
import qrcode.image.svg
from django.conf import settings

from atalaia.accounts.models import User
from atalaia.lib.crypto import decrypt, encrypt, sha256_hex

SESSION_KEY = "atalaia_2fa_ok"


def start_enrolment(user: User) -> str:
    secret = pyotp.random_base32()
    user.totp_secret = encrypt(secret)
    user.totp_confirmed = False
    user.save(update_fields=["totp_secret", "totp_confirmed"])
    return secret


def secret_of(user: User) -> str:
    return decrypt(user.totp_secret) if user.totp_secret else ""


def provisioning_uri(user: User) -> str:
    return pyotp.TOTP(secret_of(user)).provisioning_uri(name=user.username,
                                                        issuer_name=settings.SITE_NAME)


def qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


def matching_step(user: User, code: str) -> int | None:
    """The time step whose code this is, or None. One step of drift either way
    covers phones whose clocks are a little off."""
    secret = secret_of(user)
    code = "".join(code.split())
    if not secret or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(time.time())
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify(user: User, code: str) -> bool:
    """Accept a code once: its step must be later than the last one accepted. The
    conditional update decides, so of two sessions sending one code at the same
    moment exactly one wins."""
    step = matching_step(user, code)
    if step is None:
        return False
    won = User.objects.filter(pk=user.pk, totp_last_step__lt=step).update(totp_last_step=step)
    if won:
        user.totp_last_step = step
    return bool(won)


# 16 characters of base 32: 80 random bits per code.
RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
RECOVERY_CODES = 10


def recovery_digest(code: str) -> str:
    return sha256_hex("recovery\0" + "".join(c for c in code.lower() if c.isalnum()))


def looks_like_recovery_code(code: str) -> bool:
    return len("".join(c for c in code if c.isalnum())) == 16


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
    return codes
