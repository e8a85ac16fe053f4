"""TOTP two-factor authentication (RFC 6238) with secrets encrypted at rest."""

import io

import pyotp
import qrcode
import qrcode.image.svg
from django.conf import settings

from atalaia.accounts.models import User
from atalaia.lib.crypto import decrypt, encrypt

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


def verify(user: User, code: str) -> bool:
    secret = secret_of(user)
    code = "".join(code.split())
    # One step of drift either way covers phones whose clocks are a little off.
    return bool(secret) and code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1)
