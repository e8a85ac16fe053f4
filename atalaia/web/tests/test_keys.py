"""Keys that rotate: the secret changes, with the old one among the fallbacks, and
`atalaia keys rotate` moves every stored secret to the new key; timelines keep
verifying through the key id of each MAC, and tampering is still caught."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from atalaia.accounts import twofactor
from atalaia.comms import subscriptions
from atalaia.comms.models import ChannelKind, CompanyChannel
from atalaia.incidents.actions import add_entry, declare_incident
from atalaia.incidents.models import Incident, TimelineEntry
from atalaia.lib import crypto
from atalaia.notify import contacts, outbox
from atalaia.remote.models import Credential
from atalaia.web import keys
from tests.servers import database_url

OLD = "old-secret-key-that-is-long-enough-0123456789"
NEW = "new-secret-key-that-is-long-enough-9876543210"
WRONG = "some-other-key-that-is-long-enough-5555555555"


def atalaia(*args, **env):
    result = subprocess.run([sys.executable, "-m", "atalaia", *args], capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "ATALAIA_DATABASE_URL": database_url(),
                                 "ATALAIA_SECRET_KEY_FALLBACKS": "", **env})
    assert "Traceback" not in result.stderr, result.stderr
    return result


def raw_sql(sql, params):
    # Tampering goes around the application, as an attacker with database access would.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def stored_secrets() -> dict[tuple[str, int], str]:
    """Every stored ciphertext, by column and row."""
    return {(str(column), pk): value for column in keys.columns()
            for pk, value in column.filled().values_list("pk", column.name)}


@pytest.fixture
def old_key(settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []


@pytest.fixture
def secrets_and_timeline(old_key, transactional_db, demo, personas):
    """One secret in every encrypted column and two timelines, all made under the old
    key; one secret, and the first entry of the second timeline, as made before key ids."""
    twofactor.start_enrolment(personas["admin"])
    contacts.add_verified(personas["responder"], "email", "responder@example.com", "work")
    outbox.enqueue("email", "someone@example.com", "someone", "Hello", "Body", "hello-1")
    subscriptions.subscribe("email", "reader@example.com", "en", [])
    CompanyChannel.objects.create(name="Mastodon", kind=ChannelKind.SOCIAL, hint="x",
                                  target=crypto.encrypt("mastodon://token@example.social"))
    legacy = crypto.Key(OLD).fernet.encrypt(b"passphrase").decode()
    Credential.objects.create(name="ops", private_key=crypto.encrypt("-----BEGIN KEY-----"),
                              passphrase=legacy)
    incident = declare_incident(personas["commander"], "Checkout errors", ["payments"])
    for step in range(3):
        add_entry(incident, personas["responder"], "action", f"step {step}")
    older = declare_incident(personas["commander"], "Older", ["dns"])
    raw_sql(f"UPDATE {TimelineEntry._meta.db_table} SET mac_key_id = '' "
            "WHERE incident_id = %s AND seq = 1", [older.pk])
    plain = {where: crypto.decrypt(value) for where, value in stored_secrets().items()}
    assert {column for column, _pk in plain} == {str(c) for c in keys.columns()}
    return Incident.objects.get(pk=incident.pk), plain


def test_secrets_and_timelines_survive_a_change_of_secret(secrets_and_timeline, settings):
    incident, plain = secrets_and_timeline
    rotated = atalaia("keys", "rotate", ATALAIA_SECRET_KEY=NEW,
                      ATALAIA_SECRET_KEY_FALLBACKS=f" {OLD} ,")
    assert rotated.returncode == 0, rotated.stderr
    assert f"{len(plain)} stored secret(s) re-encrypted under key {crypto.Key(NEW).id}" \
        in rotated.stdout
    verified = atalaia("timeline", "verify", ATALAIA_SECRET_KEY=NEW,
                       ATALAIA_SECRET_KEY_FALLBACKS=OLD)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"incident {incident.pk}: {incident.entry_count} entries, chain intact" \
        in verified.stdout
    assert verified.stdout.count("chain intact") == 2
    # Every secret is now under the new key alone: it reads without the old one.
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, []
    after = stored_secrets()
    assert {crypto.key_id_of(value) for value in after.values()} == {crypto.Key(NEW).id}
    assert {where: crypto.decrypt(value) for where, value in after.items()} == plain


def test_rotate_again_changes_nothing(secrets_and_timeline, settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    call_command("keys", "rotate", stdout=StringIO())
    before = stored_secrets()
    out = StringIO()
    call_command("keys", "rotate", stdout=out)
    assert "0 stored secret(s) re-encrypted" in out.getvalue()
    assert stored_secrets() == before


def test_a_rotation_cut_short_is_finished_by_the_next(secrets_and_timeline, settings,
                                                      monkeypatch):
    _incident, plain = secrets_and_timeline
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    monkeypatch.setattr(keys, "BATCH", 1)
    (deliveries,) = [c for c in keys.columns() if str(c) == "notify.Delivery.target"]
    assert deliveries.filled().count() >= 2
    # One batch commits, then the process dies.
    keys._rotate_batch(deliveries, None, keys.Rotation())
    out = StringIO()
    call_command("keys", "rotate", stdout=out)
    assert f"{len(plain) - 1} stored secret(s) re-encrypted" in out.getvalue()
    after = stored_secrets()
    assert {crypto.key_id_of(value) for value in after.values()} == {crypto.Key(NEW).id}
    assert {where: crypto.decrypt(value) for where, value in after.items()} == plain


def test_status_counts_secrets_and_entries_per_key(secrets_and_timeline, settings):
    _incident, plain = secrets_and_timeline
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    entries = TimelineEntry.objects.count()
    old_id, new_id = crypto.Key(OLD).id, crypto.Key(NEW).id
    out = StringIO()
    call_command("keys", "status", stdout=out)
    text = out.getvalue()
    assert f"key {new_id}: current" in text and f"key {old_id}: fallback" in text
    assert "remote.Credential.passphrase: 1 (before key ids)" in text
    assert f"remote.Credential.private_key: 1 under {old_id} (fallback)" in text
    assert f"{len(plain)} stored secret(s) are not under the current key" in text
    assert (f"timeline entries (MACs are never re-made): 1 (before key ids), "
            f"{entries - 1} under {old_id} (fallback)") in text


def test_an_edited_entry_still_fails_after_the_change(secrets_and_timeline, settings,
                                                      personas):
    incident, _plain = secrets_and_timeline
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    call_command("keys", "rotate", stdout=StringIO())
    add_entry(incident, personas["responder"], "note", "after the change")  # new key
    call_command("timeline_verify", str(incident.pk), stdout=StringIO())
    entry = incident.entries.get(seq=3)
    raw_sql(f"UPDATE {TimelineEntry._meta.db_table} SET body = %s WHERE id = %s",
            ['{"text": "step rewritten"}', entry.pk])
    out = StringIO()
    with pytest.raises(CommandError, match="1 incident timeline"):
        call_command("timeline_verify", str(incident.pk), stdout=out)
    assert "BROKEN at entry 3: content does not match its MAC" in out.getvalue()


@pytest.mark.parametrize("key_id", ["", "new"])
def test_a_relabelled_entry_still_fails(secrets_and_timeline, settings, key_id):
    # Naming another key (or none: "try every key") does not make an edit pass.
    incident, _plain = secrets_and_timeline
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    label = crypto.Key(NEW).id if key_id == "new" else ""
    raw_sql(f"UPDATE {TimelineEntry._meta.db_table} SET body = %s, mac_key_id = %s "
            "WHERE incident_id = %s AND seq = 2", ['{"text": "x"}', label, incident.pk])
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("timeline_verify", str(incident.pk), stdout=out)
    assert "BROKEN at entry 2" in out.getvalue()


def test_a_key_not_in_the_fallbacks_gives_a_clear_error(secrets_and_timeline, settings):
    incident, plain = secrets_and_timeline
    old_id = crypto.Key(OLD).id
    rotated = atalaia("keys", "rotate", ATALAIA_SECRET_KEY=NEW)
    assert rotated.returncode == 1
    assert (f"{len(plain)} stored secret(s) cannot be decrypted with any configured key"
            in rotated.stderr and "ATALAIA_SECRET_KEY_FALLBACKS" in rotated.stderr)
    verified = atalaia("timeline", "verify", ATALAIA_SECRET_KEY=WRONG)
    assert verified.returncode == 1
    assert (f"incident {incident.pk}: CANNOT CHECK entry 1: its MAC was made with key "
            f"{old_id}, which is neither the secret key nor one of its fallbacks") \
        in verified.stdout
    # Before key ids an entry does not say which key made it: a missing key and an
    # edit look the same.
    assert "BROKEN at entry 1: content does not match its MAC under any configured key" \
        in verified.stdout
    assert ("1 incident timeline(s) broken; 1 incident timeline(s) could not be checked"
            in verified.stderr)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = WRONG, []
    status = StringIO()
    call_command("keys", "status", stdout=status)
    assert f"under {old_id} (NOT CONFIGURED: unreadable)" in status.getvalue()
    # Nothing was changed: with the old key back in the fallbacks, everything reads.
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    assert {where: crypto.decrypt(value) for where, value in stored_secrets().items()} == plain


def test_decrypt_names_the_missing_key(settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    token = crypto.encrypt("hello")
    settings.SECRET_KEY = NEW
    with pytest.raises(crypto.CannotDecrypt, match=f"key {crypto.Key(OLD).id}, which is"):
        crypto.decrypt(token)
    settings.SECRET_KEY_FALLBACKS = [OLD]
    assert crypto.decrypt(token) == "hello"
    assert crypto.key_id_of(crypto.encrypt("hello")) == crypto.Key(NEW).id


def test_django_signing_honours_the_fallbacks(settings):
    from django.core import signing

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    token = signing.dumps({"p": 1}, salt="test")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    assert signing.loads(token, salt="test") == {"p": 1}


# -- where the key is read from -------------------------------------------------------

def shell(code: str, **env):
    return subprocess.run([sys.executable, "-m", "atalaia", "shell", "-v0", "-c", code],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ATALAIA_SECRET_KEY": "",
                               "ATALAIA_DATABASE_URL": "", **env})


SHOW = "from django.conf import settings; print(settings.SECRET_KEY, settings.SECRET_KEY_PATH)"


def test_a_new_key_is_generated_outside_the_data_folder(tmp_path):
    env = {"ATALAIA_DATA_DIR": str(tmp_path / "data"),
           "ATALAIA_CONFIG_DIR": str(tmp_path / "config")}
    first = shell(SHOW, **env)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "config" / "secret_key"
    assert first.stdout.split() == [key_file.read_text(), str(key_file)]
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "data" / "secret_key").exists()
    assert shell(SHOW, **env).stdout == first.stdout


def test_a_key_left_in_the_data_folder_keeps_working_with_a_warning(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").write_text("k" * 40 + "\n")
    env = {"ATALAIA_DATA_DIR": str(tmp_path / "data"),
           "ATALAIA_CONFIG_DIR": str(tmp_path / "config")}
    assert shell(SHOW, **env).stdout.split()[0] == "k" * 40
    check = subprocess.run([sys.executable, "-m", "atalaia", "check"], capture_output=True,
                           text=True, timeout=60,
                           env={**os.environ, "ATALAIA_SECRET_KEY": "",
                                "ATALAIA_DATABASE_URL": "", **env})
    assert "atalaia.keys.W001" in check.stderr and "inside the data folder" in check.stderr
    assert not (tmp_path / "config" / "secret_key").exists()


def test_fallbacks_come_from_the_environment_or_a_file(tmp_path):
    listed = tmp_path / "fallbacks"
    listed.write_text(f"{OLD}\n{WRONG}\n")
    code = "from django.conf import settings; print(settings.SECRET_KEY_FALLBACKS)"
    result = shell(code, ATALAIA_SECRET_KEY=NEW, ATALAIA_SECRET_KEY_FALLBACKS_FILE=str(listed))
    assert result.stdout.strip() == repr([OLD, WRONG])
    short = shell(code, ATALAIA_SECRET_KEY=NEW, ATALAIA_SECRET_KEY_FALLBACKS=f"{OLD},short")
    assert short.returncode != 0
    assert "ATALAIA_SECRET_KEY_FALLBACKS: must be at least 32 characters" in short.stderr


def test_an_unwritable_config_folder_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    result = shell(SHOW, ATALAIA_DATA_DIR=str(tmp_path / "data"),
                   ATALAIA_CONFIG_DIR=str(tmp_path / "file" / "atalaia"))
    assert result.returncode != 0
    assert "cannot write a new secret key to" in result.stderr
    assert "ATALAIA_CONFIG_DIR" in result.stderr and "Traceback" not in result.stderr


def test_every_encrypted_value_is_stored_in_a_column_rotation_knows(db):
    """Whatever the code stores from encrypt() goes into an EncryptedTextField, so that
    `keys rotate` finds it: field=encrypt(…), {"field": encrypt(…)}, obj.field = encrypt(…)."""
    import ast
    from pathlib import Path

    def encrypts(node) -> bool:
        return any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "encrypt"
                   for n in ast.walk(node))

    known = {column.name for column in keys.columns()}
    stored: set[tuple[str, str]] = set()
    root = Path(crypto.__file__).parent.parent
    for path in root.rglob("*.py"):
        if "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg and encrypts(node.value):
                stored.add((node.arg, path.name))
            elif isinstance(node, ast.Dict):
                pairs = zip(node.keys, node.values, strict=True)
                stored |= {(key.value, path.name) for key, value in pairs
                           if isinstance(key, ast.Constant) and encrypts(value)}
            elif isinstance(node, ast.Assign) and encrypts(node.value):
                stored |= {(target.attr, path.name) for target in node.targets
                           if isinstance(target, ast.Attribute)}
    assert stored and {name for name, _file in stored} <= known, stored
