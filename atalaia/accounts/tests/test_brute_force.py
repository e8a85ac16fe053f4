"""Guessing at sign-in is stopped: wrong passwords and wrong codes lock, a lock lasts its
time (on a controlled clock), the person hears of it by e-mail through the outbox, an
admin sees and ends it; a TOTP code works once; a recovery code works once."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from atalaia.accounts import signin, twofactor
from atalaia.accounts.actions import confirm_totp, create_user, reset_two_factor
from atalaia.accounts.models import AuditEvent, Lockout, RecoveryCode, User
from atalaia.notify import outbox
from atalaia.notify.tests.conftest import mail  # noqa: F401 - a real SMTP server

PASSWORD = "a long first password"
# Five seconds into a 30-second TOTP step: codes for "now" stay codes for "now".
T0 = datetime(2026, 12, 8, 12, 0, 5, tzinfo=UTC)
TOO_MANY = "Too many attempts. Try again in 15 minutes."


def login(client: Client, username: str, password: str = PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def enrolled(name: str = "rosa") -> tuple[User, str]:
    """An admin with two-factor on, enrolled the way the console does it."""
    user = create_user(name, PASSWORD, "admin", email=f"{name}@example.test")
    client = Client()
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        assert login(client, name).status_code == 302
        user.refresh_from_db()
        secret = twofactor.secret_of(user)
        assert client.post("/accounts/2fa/enrol/",
                           {"code": pyotp.TOTP(secret).now()}).status_code == 200
    user.refresh_from_db()
    assert user.totp_confirmed
    return user, secret


def half_signed_in(name: str = "rosa", address: str = "127.0.0.1") -> Client:
    client = Client(REMOTE_ADDR=address)
    response = login(client, name)
    assert response.status_code == 302 and "/accounts/2fa/verify/" in client.get(
        "/incidents/")["Location"]
    return client


def verify(client: Client, code: str):
    return client.post("/accounts/2fa/verify/", {"code": code})


def wrong_codes(secret: str, count: int) -> list[str]:
    totp = pyotp.TOTP(secret)
    now = totp.timecode(T0)
    valid = {totp.generate_otp(step) for step in (now - 1, now, now + 1)}
    return [code for code in (f"{n:06d}" for n in range(count + 3)) if code not in valid][:count]


def signed_in_fully(client: Client) -> bool:
    return client.get("/incidents/").status_code == 200


def test_thirty_wrong_passwords_lock_the_account_until_its_time(db, mail, personas,  # noqa: F811
                                                               clients):
    create_user("rosa", PASSWORD, "responder", email="rosa@example.test")
    attacker = Client()
    with time_machine.travel(T0, tick=False) as clock:
        answers = [login(attacker, "rosa", f"guess number {n}").status_code for n in range(30)]
        assert answers == [200] * signin.LOCK_AFTER + [429] * (30 - signin.LOCK_AFTER)

        right = login(attacker, "rosa")
        assert right.status_code == 429 and right["Retry-After"] == "900"
        assert TOO_MANY in right.content.decode()
        assert not signed_in_fully(attacker)
        # The lock is on the account: the person's own address is refused as well.
        assert login(Client(REMOTE_ADDR="198.51.100.7"), "rosa").status_code == 429

        [event] = AuditEvent.objects.filter(action="user.lock", object_repr="rosa")
        assert event.changes == {"reason": "password", "minutes": 15, "address": "127.0.0.1"}
        console = clients["admin"].get("/accounts/users/").content.decode()
        locked = console.split('id="locked-accounts"')[1].split("</table>")[0]
        assert "rosa" in locked and "wrong passwords" in locked

        assert outbox.send_due() == 1
        [message] = mail.parsed()
        assert message["To"] == "rosa@example.test"
        assert "locked" in message["Subject"]
        text = message.get_payload(decode=True).decode()
        assert "rosa" in text and "127.0.0.1" in text and "wrong passwords" in text

        clock.shift(15 * 60 - 1)
        assert login(attacker, "rosa").status_code == 429
        clock.shift(2)
        assert login(attacker, "rosa").status_code == 302
        assert signed_in_fully(attacker)


def test_an_unknown_name_gets_the_same_answers_and_nobody_is_mailed(db, mail):  # noqa: F811
    with time_machine.travel(T0, tick=False):
        answers = [login(Client(), "nobody", f"guess {n}") for n in range(12)]
    assert [a.status_code for a in answers] == [200] * 10 + [429] * 2
    assert TOO_MANY in answers[-1].content.decode()
    assert answers[-1]["Retry-After"] == "900"
    assert not AuditEvent.objects.filter(action="user.lock").exists()
    assert outbox.send_due() == 0
    # The table keeps no name anyone typed.
    assert not Lockout.objects.filter(key__contains="nobody").exists()


def test_each_new_lock_lasts_longer_and_a_success_forgets_the_failures(db):
    create_user("rosa", PASSWORD, "viewer")
    with time_machine.travel(T0, tick=False) as clock:
        for n in range(signin.LOCK_AFTER - 1):
            login(Client(), "rosa", f"typo {n}")
        assert login(Client(), "rosa").status_code == 302  # failures forgotten
        for n in range(signin.LOCK_AFTER - 1):
            assert login(Client(), "rosa", f"typo {n}").status_code == 200
        for n in range(2):
            login(Client(), "rosa", f"typo {n}")
        assert login(Client(), "rosa")["Retry-After"] == "900"
        clock.shift(15 * 60 + 1)
        for n in range(signin.LOCK_AFTER):
            login(Client(), "rosa", f"again {n}")
        refused = login(Client(), "rosa")
        assert refused["Retry-After"] == "1800"
        assert "Try again in 30 minutes." in refused.content.decode()


def test_an_admin_unlocks_from_the_console_and_it_is_audited(personas, clients):
    rosa = create_user("rosa", PASSWORD, "viewer")
    for n in range(signin.LOCK_AFTER):
        login(Client(), "rosa", f"guess {n}")
    assert login(Client(), "rosa").status_code == 429
    page = clients["admin"].get(f"/accounts/users/{rosa.pk}/").content.decode()
    assert 'id="person-locked"' in page
    assert clients["viewer"].post(f"/accounts/users/{rosa.pk}/unlock/").status_code == 403
    response = clients["admin"].post(f"/accounts/users/{rosa.pk}/unlock/",
                                     {"next": "/accounts/users/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/users/"
    assert AuditEvent.objects.filter(action="user.unlock", object_repr="rosa",
                                     actor=personas["admin"]).exists()
    assert "rosa" not in clients["admin"].get("/accounts/users/").content.decode().split(
        'id="locked-accounts"')[1].split("</table>")[0]
    assert login(Client(), "rosa").status_code == 302


def test_the_cli_unlocks(db, capsys):
    create_user("rosa", PASSWORD, "viewer")
    for n in range(signin.LOCK_AFTER):
        login(Client(), "rosa", f"guess {n}")
    call_command("user", "unlock", "rosa")
    assert "rosa unlocked" in capsys.readouterr().out
    assert login(Client(), "rosa").status_code == 302
    call_command("user", "unlock", "rosa")
    assert "was not locked" in capsys.readouterr().out


def test_thirty_wrong_codes_lock_the_second_step_until_its_time(db, mail):  # noqa: F811
    rosa, secret = enrolled()
    with time_machine.travel(T0, tick=False) as clock:
        attacker = half_signed_in()  # the password is known to them
        answers = [verify(attacker, code).status_code for code in wrong_codes(secret, 30)]
        assert answers == [200] * signin.LOCK_AFTER + [429] * (30 - signin.LOCK_AFTER)
        right = verify(attacker, pyotp.TOTP(secret).now())
        assert right.status_code == 429 and TOO_MANY in right.content.decode()
        assert not signed_in_fully(attacker)
        # Signing in again with the password does not start the count afresh.
        assert login(Client(), "rosa").status_code == 429

        [event] = AuditEvent.objects.filter(action="user.lock", object_repr="rosa")
        assert event.changes["reason"] == "two-factor"
        assert outbox.send_due() == 1
        text = mail.parsed()[0].get_payload(decode=True).decode()
        assert "knows your password" in text

        clock.shift(15 * 60 + 1)
        assert verify(attacker, pyotp.TOTP(secret).now()).status_code == 302
        assert signed_in_fully(attacker)


def test_a_right_password_between_wrong_codes_does_not_reset_their_count(db):
    _rosa, secret = enrolled()
    codes = wrong_codes(secret, signin.LOCK_AFTER)
    with time_machine.travel(T0, tick=False):
        for code in codes[:5]:
            verify(half_signed_in(), code)
        again = half_signed_in()
        for code in codes[5:]:
            verify(again, code)
        assert verify(again, pyotp.TOTP(secret).now()).status_code == 429


def test_a_code_signs_in_once(db):
    _rosa, secret = enrolled()
    totp = pyotp.TOTP(secret)
    with time_machine.travel(T0, tick=False) as clock:
        first, second = half_signed_in(), half_signed_in(address="198.51.100.7")
        code = totp.now()
        assert verify(first, code).status_code == 302
        replay = verify(second, code)
        assert replay.status_code == 200 and "used already" in replay.content.decode()
        # Nor an older code still inside the window of drift.
        assert verify(second, totp.at(T0 - timedelta(seconds=30))).status_code == 200
        assert not signed_in_fully(second)
        clock.shift(30)
        assert verify(second, totp.now()).status_code == 302


def test_the_code_that_confirmed_the_enrolment_does_not_sign_in_again(db):
    user = create_user("ines", PASSWORD, "admin")
    with time_machine.travel(T0, tick=False):
        client = Client()
        login(client, "ines")
        user.refresh_from_db()
        code = pyotp.TOTP(twofactor.secret_of(user)).now()
        assert client.post("/accounts/2fa/enrol/", {"code": code}).status_code == 200
        assert verify(half_signed_in("ines"), code).status_code == 200


def test_of_two_sessions_sending_one_code_at_once_one_wins(db):
    rosa, secret = enrolled()
    # Both read the account before either accepts: the conditional update decides.
    seen_by_first, seen_by_second = User.objects.get(pk=rosa.pk), User.objects.get(pk=rosa.pk)
    with time_machine.travel(T0, tick=False):
        code = pyotp.TOTP(secret).now()
        assert [twofactor.verify(seen_by_first, code),
                twofactor.verify(seen_by_second, code)] == [True, False]


def test_recovery_codes_are_shown_once_and_each_works_once(personas, clients):
    ines = create_user("ines", PASSWORD, "admin")
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        client = Client()
        login(client, "ines")
        ines.refresh_from_db()
        shown = client.post("/accounts/2fa/enrol/",
                            {"code": pyotp.TOTP(twofactor.secret_of(ines)).now()})
    assert shown["Cache-Control"] == "no-store"
    page = shown.content.decode()
    codes = page.split('id="recovery-codes">')[1].split("</ul>")[0]
    codes = [c.removeprefix("<li>") for c in codes.split("</li>") if c]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert not RecoveryCode.objects.filter(digest__in=codes).exists()  # kept hashed only

    with time_machine.travel(T0, tick=False):
        first = half_signed_in("ines")
        assert verify(first, codes[0].upper().replace("-", " ")).status_code == 302
        landed = first.get("/incidents/")
        assert landed.status_code == 200 and "9 codes are left" in landed.content.decode()
        assert verify(half_signed_in("ines"), codes[0]).status_code == 200
        assert AuditEvent.objects.filter(action="user.recovery_code_used").count() == 1

        assert "9 recovery codes left." in first.get("/accounts/security/").content.decode()
        fresh = first.post("/accounts/security/")
        assert fresh["Cache-Control"] == "no-store"
        new_codes = fresh.content.decode().split('id="recovery-codes">')[1].split("</ul>")[0]
        new_code = new_codes.split("</li>")[0].removeprefix("<li>")
        assert verify(half_signed_in("ines"), codes[1]).status_code == 200  # the old set
        assert verify(half_signed_in("ines"), new_code).status_code == 302

    reset_two_factor(ines, personas["admin"])
    assert not RecoveryCode.objects.filter(user=ines).exists()


@pytest.mark.parametrize("path", ["/accounts/security/"])
def test_the_security_page_needs_a_full_sign_in(db, path):
    enrolled()
    with time_machine.travel(T0, tick=False):
        half = half_signed_in()
        assert half.post(path).status_code == 302
    assert not AuditEvent.objects.filter(action="user.recovery_codes").exists()


def test_one_address_trying_many_names_is_slowed_without_locking_anyone(db):
    create_user("rosa", PASSWORD, "viewer")
    sprayer = Client(REMOTE_ADDR="203.0.113.5")
    with time_machine.travel(T0, tick=False) as clock:
        answers = [login(sprayer, f"name{n}", "Summer2026!").status_code for n in range(60)]
        assert answers == [200] * 60
        slowed = login(sprayer, "rosa")
        assert slowed.status_code == 429 and slowed["Retry-After"] == "10"
        assert "Try again in 1 minute." in slowed.content.decode()
        assert login(Client(REMOTE_ADDR="198.51.100.7"), "rosa").status_code == 302
        clock.shift(10)
        assert login(sprayer, "rosa").status_code == 302
    assert not Lockout.objects.filter(locked_until__isnull=False).exists()


def _half_signed_in_over_http(base: str) -> httpx.Client:
    session = httpx.Client(base_url=base, timeout=30)
    session.get("/accounts/login/")
    response = session.post("/accounts/login/", data={
        "username": "rosa", "password": PASSWORD,
        "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    assert response.status_code == 302, response.text
    return session


def test_sessions_sending_one_code_at_the_same_moment_let_one_in(live_server,
                                                                transactional_db):
    rosa = create_user("rosa", PASSWORD, "admin")
    secret = twofactor.start_enrolment(rosa)
    confirm_totp(rosa)
    sessions = [_half_signed_in_over_http(live_server.url) for _ in range(4)]
    code = pyotp.TOTP(secret).now()
    together = threading.Barrier(len(sessions))

    def send(session: httpx.Client) -> int:
        together.wait()
        return session.post("/accounts/2fa/verify/", data={
            "code": code, "csrfmiddlewaretoken": session.cookies["csrftoken"]}).status_code

    with ThreadPoolExecutor(len(sessions)) as pool:
        answers = sorted(pool.map(send, sessions))
    for session in sessions:
        session.close()
    assert answers == [200, 200, 200, 302]


def test_a_totp_secret_under_a_lost_key_is_explained_and_recovery_codes_still_work(
        db, settings):
    ines = create_user("ines", PASSWORD, "admin")
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        client = Client()
        login(client, "ines")
        ines.refresh_from_db()
        secret = twofactor.secret_of(ines)
        page = client.post("/accounts/2fa/enrol/", {"code": pyotp.TOTP(secret).now()})
    codes = page.content.decode().split('id="recovery-codes">')[1].split("</ul>")[0]
    code = codes.split("</li>")[0].removeprefix("<li>")
    # The secret changed and the old one is not among the fallbacks.
    settings.SECRET_KEY = "a-new-secret-that-is-not-the-old-one-0123456789"
    settings.SECRET_KEY_FALLBACKS = []
    with time_machine.travel(T0, tick=False):
        refused = verify(half_signed_in("ines"), pyotp.TOTP(secret).now())
        assert refused.status_code == 200
        assert "cannot read your two-factor secret" in refused.content.decode()
        assert verify(half_signed_in("ines"), code).status_code == 302


def test_strangers_cannot_lock_a_person_out_of_a_device_they_signed_in_on(db):
    """OWASP's device cookies: a name locked by someone else's guesses still opens from
    the browser its owner signed in on; that browser's own guesses are limited apart."""
    create_user("rosa", PASSWORD, "responder")
    own = Client()
    with time_machine.travel(T0 - timedelta(hours=2), tick=False):
        assert login(own, "rosa").status_code == 302
    device = own.cookies[signin.DEVICE_COOKIE].value
    with time_machine.travel(T0, tick=False):
        attacker = Client(REMOTE_ADDR="203.0.113.9")
        for n in range(signin.LOCK_AFTER):
            login(attacker, "rosa", f"guess {n}")
        assert login(attacker, "rosa").status_code == 429
        assert login(Client(), "rosa").status_code == 429  # a new browser is a stranger

        returning = Client()
        returning.cookies[signin.DEVICE_COOKIE] = device
        assert login(returning, "rosa").status_code == 302
        assert signed_in_fully(returning)

        # The cookie is Rosa's, not anyone's: under another name it counts for nothing.
        create_user("tiago", PASSWORD, "responder")
        for n in range(signin.LOCK_AFTER):
            login(attacker, "tiago", f"guess {n}")
        borrowed = Client()
        borrowed.cookies[signin.DEVICE_COOKIE] = device
        assert login(borrowed, "tiago").status_code == 429

        # Guesses from the device are limited by its own bucket and lock nobody else out.
        guessing = Client()
        guessing.cookies[signin.DEVICE_COOKIE] = device
        answers = [login(guessing, "rosa", f"typo {n}").status_code for n in range(20)]
        assert 429 in answers and answers.index(429) == signin.LOCK_AFTER + 2
        assert AuditEvent.objects.filter(action="user.lock", object_repr="rosa").count() == 1


def test_a_known_device_passes_a_two_factor_step_locked_by_a_password_thief(db):
    user, secret = enrolled("rosa")
    own = Client()
    with time_machine.travel(T0 - timedelta(minutes=30), tick=False):
        login(own, "rosa")
        assert verify(own, pyotp.TOTP(secret).now()).status_code == 302
    device = own.cookies[signin.DEVICE_COOKIE].value
    with time_machine.travel(T0, tick=False):
        thief = half_signed_in("rosa", address="203.0.113.9")
        for code in wrong_codes(secret, signin.LOCK_AFTER):
            verify(thief, code)
        assert verify(thief, pyotp.TOTP(secret).now()).status_code == 429

        returning = Client()
        returning.cookies[signin.DEVICE_COOKIE] = device
        assert login(returning, "rosa").status_code == 302
        assert verify(returning, pyotp.TOTP(secret).now()).status_code == 302
        assert signed_in_fully(returning)
