"""The SSH engine against a real OpenSSH server and asyncssh servers in this process.

The real sshd (Debian's openssh-server) runs on a free loopback port with throwaway
keys; the asyncssh servers stand in where many hosts or exact server behaviour are
needed. No database is used.
"""

import asyncio
import contextlib
import getpass
import itertools
import json
import logging
import os
import selectors
import shlex
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import asyncssh
import pytest

from atalaia.remote import ssh

SSHD = Path("/usr/sbin/sshd")
PASSPHRASE = "correct-horse-7341-passphrase"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def public_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key().decode().strip()


@pytest.fixture(scope="module")
def keys():
    client = asyncssh.generate_private_key("ssh-ed25519")
    host = asyncssh.generate_private_key("ssh-ed25519")
    return SimpleNamespace(client=client, client_text=client.export_private_key().decode(),
                           host=host, host_line=public_line(host),
                           authorized=asyncssh.import_authorized_keys(public_line(client)))


def wait_for_line(stream, prefix: str, timeout: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while selector.select(max(0.0, deadline - time.monotonic())):
        line = stream.readline()
        if not line or line.startswith(prefix):
            return line
    return ""


@pytest.fixture(scope="module")
def sshd(tmp_path_factory, keys):
    """Debian's sshd on a free loopback port; we log in as the current user."""
    if not SSHD.exists():
        pytest.skip("openssh-server is not installed")
    with contextlib.suppress(OSError):
        os.makedirs("/run/sshd", exist_ok=True)
    work = tmp_path_factory.mktemp("sshd")
    host_key = work / "host_key"
    host_key.write_bytes(keys.host.export_private_key())
    host_key.chmod(0o600)
    (work / "authorized_keys").write_text(public_line(keys.client) + "\n")
    port = free_port()
    options = {"ListenAddress": "127.0.0.1", "PidFile": work / "sshd.pid",
               "AuthorizedKeysFile": work / "authorized_keys", "StrictModes": "no",
               "PasswordAuthentication": "no", "KbdInteractiveAuthentication": "no",
               "UsePAM": "no", "PermitRootLogin": "prohibit-password"}
    args = [str(SSHD), "-D", "-e", "-p", str(port), "-f", "/dev/null", "-h", str(host_key)]
    for name, value in options.items():
        args += ["-o", f"{name}={value}"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    line = wait_for_line(proc.stderr, "Server listening", 10)
    if not line.startswith("Server listening"):
        proc.kill()
        pytest.skip(f"sshd did not start: {line or proc.stderr.read()}")
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()
    yield SimpleNamespace(port=port, user=getpass.getuser(), log=log)
    proc.terminate()
    proc.wait(timeout=10)


def target(keys, port: int, **changes) -> ssh.Target:
    fields = {"key": "h1", "address": "127.0.0.1", "port": port,
              "username": getpass.getuser(), "host_key": keys.host_line,
              "private_key": keys.client_text} | changes
    return ssh.Target(**fields)


def run_one(t: ssh.Target, command: str, timeout: float = 20, **kwargs) -> ssh.Result:
    [result] = ssh.run_sync([t], command, timeout, 1, **kwargs)
    return result


@contextlib.asynccontextmanager
async def servers(keys, count: int, handler):
    """`count` asyncssh servers on loopback ports, each running `handler(process)`
    (its output is bytes)."""
    listeners = [await asyncssh.listen("127.0.0.1", 0, server_host_keys=[keys.host],
                                       authorized_client_keys=keys.authorized,
                                       process_factory=handler, encoding=None)
                 for _ in range(count)]
    try:
        yield [listener.get_port() for listener in listeners]
    finally:
        for listener in listeners:
            listener.close()
            await listener.wait_closed()


def with_servers(keys, count: int, handler, run):
    """asyncio.run of `run(ports)` while the servers listen."""
    async def main():
        async with servers(keys, count, handler) as ports:
            return await run(ports)
    return asyncio.run(main())


# --- output and exit status, on a real sshd -------------------------------------------


def test_output_and_exit_status_zero(sshd, keys):
    result = run_one(target(keys, sshd.port), "echo hello; echo oops >&2")
    assert (result.status, result.exit_status) == ("ok", 0)
    assert (result.stdout, result.stderr, result.error) == ("hello\n", "oops\n", "")
    assert sorted(result.full_output.splitlines()) == [b"hello", b"oops"]
    assert not result.truncated and result.duration > 0


def test_non_zero_exit_is_failed(sshd, keys):
    result = run_one(target(keys, sshd.port), "echo partial; exit 3")
    assert (result.status, result.exit_status, result.stdout) == ("failed", 3, "partial\n")


def test_killed_by_a_signal_is_failed(sshd, keys):
    result = run_one(target(keys, sshd.port), "kill -9 $$")
    assert (result.status, result.exit_status) == ("failed", -9)
    assert result.error == "the command was killed by signal KILL"


def test_timeout_keeps_the_output_so_far(sshd, keys):
    # The timeout counts from the connection: long enough for a busy machine to connect
    # and echo, far shorter than the sleep.
    result = run_one(target(keys, sshd.port), "echo started; sleep 120", timeout=5)
    assert (result.status, result.exit_status) == ("timeout", None)
    assert result.error == "timed out after 5 s"
    assert result.stdout == "started\n"
    assert result.duration < 5 + ssh.CLOSE_WAIT_S + 5  # cut off, not left to finish


def test_shell_metacharacters_arrive_literally(sshd, keys, tmp_path):
    marker = tmp_path / "pwned"
    value = f'"$(touch {marker}); `id`"'
    result = run_one(target(keys, sshd.port), "printf '%s' " + shlex.quote(value))
    assert result.status == "ok"
    assert result.stdout == value
    assert not marker.exists()


def test_recording_is_asciicast_v2(sshd, keys):
    result = run_one(target(keys, sshd.port), "echo one; echo two >&2; echo three")
    header, *events = [json.loads(line) for line in result.recording.splitlines()]
    assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0
    assert header["timestamp"] > 1_600_000_000 and isinstance(header["env"], dict)
    assert header["title"].endswith("echo one; echo two >&2; echo three")
    assert all(kind == "o" and isinstance(at, float) for at, kind, _ in events)
    assert [at for at, _, _ in events] == sorted(at for at, _, _ in events)
    played = "".join(text for _, _, text in events)
    assert sorted(played.split("\r\n")) == ["", "one", "three", "two"]


def test_on_output_receives_chunks_as_they_come(sshd, keys):
    chunks: list[tuple[str, str, float]] = []
    result = run_one(target(keys, sshd.port, key="web-1"), "echo a; sleep 0.3; echo b",
                     on_output=lambda key, text: chunks.append((key, text, time.monotonic())))
    assert result.status == "ok"
    assert [key for key, _, _ in chunks] == ["web-1"] * len(chunks)
    assert "".join(text for _, text, _ in chunks) == "a\nb\n"
    assert len(chunks) >= 2 and chunks[-1][2] - chunks[0][2] >= 0.2


def test_output_beyond_max_output_is_truncated(sshd, keys):
    result = run_one(target(keys, sshd.port), "head -c 200000 /dev/zero | tr '\\0' x",
                     max_output=1000)
    assert result.status == "ok" and result.truncated
    assert result.stdout == "x" * 1000
    assert result.full_output == b"x" * 200000


# --- refusals and failures --------------------------------------------------------------


def test_a_different_host_key_is_refused_before_running(sshd, keys, tmp_path):
    other = asyncssh.generate_private_key("ssh-ed25519")
    marker = tmp_path / "ran"
    result = run_one(target(keys, sshd.port, host_key=public_line(other)), f"touch {marker}")
    assert (result.status, result.exit_status) == ("error", None)
    assert result.error == (f"host key mismatch for 127.0.0.1:{sshd.port}: the server "
                            f"offered {keys.host.get_fingerprint()}, Atalaia trusts "
                            f"{other.get_fingerprint()}")
    assert not marker.exists()


def test_a_host_key_of_another_type_is_refused(sshd, keys):
    other = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    result = run_one(target(keys, sshd.port, host_key=public_line(other)), "true")
    assert result.status == "error"
    assert result.error == (f"host key mismatch for 127.0.0.1:{sshd.port}: the server "
                            f"offered {keys.host.get_fingerprint()}, Atalaia trusts "
                            f"{other.get_fingerprint()}")


def test_without_a_pinned_key_nothing_is_connected(keys):
    port = free_port()  # nothing listens there: a connection attempt would say so
    for pinned in ("", "   "):
        result = run_one(target(keys, port, host_key=pinned), "true")
        assert result.error == f"no host key is pinned for 127.0.0.1:{port}: trust the host first"
    result = run_one(target(keys, port, host_key="ssh-ed25519 AAAAnot-a-key"), "true")
    assert result.error == (f"the pinned host key for 127.0.0.1:{port} is not an OpenSSH "
                            "public key line")


def test_wrong_credentials_fail_authentication(sshd, keys):
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    result = run_one(target(keys, sshd.port, private_key=stranger), "true")
    assert result.status == "error"
    assert result.error == f"authentication failed for {sshd.user}@127.0.0.1:{sshd.port}"


def test_connection_refused(keys):
    port = free_port()
    result = run_one(target(keys, port), "true")
    assert result.status == "error"
    assert result.error == f"could not connect to 127.0.0.1:{port}: connection refused"


def test_one_host_failing_does_not_stop_the_others(sshd, keys):
    refused = free_port()
    results = ssh.run_sync([target(keys, refused, key="down"),
                            target(keys, sshd.port, key="up")], "echo fine", 20, 2)
    assert [(r.key, r.status) for r in results] == [("down", "error"), ("up", "ok")]


def test_jump_host(sshd, keys):
    jump = target(keys, sshd.port, key="jump")
    result = run_one(target(keys, sshd.port, jump=jump), "echo through")
    assert (result.status, result.stdout) == ("ok", "through\n")


def test_jump_host_with_another_key_is_refused(sshd, keys, tmp_path):
    other = public_line(asyncssh.generate_private_key("ssh-ed25519"))
    jump = target(keys, sshd.port, key="jump", host_key=other)
    marker = tmp_path / "ran"
    result = run_one(target(keys, sshd.port, jump=jump), f"touch {marker}")
    assert result.status == "error"
    assert result.error.startswith(f"through jump host 127.0.0.1:{sshd.port}: host key "
                                   "mismatch for")
    assert not marker.exists()


@pytest.mark.skipif(not shutil.which("ssh-agent"), reason="ssh-agent is not installed")
def test_key_from_an_ssh_agent(sshd, keys, tmp_path):
    socket_path, key_file = tmp_path / "agent.sock", tmp_path / "id"
    key_file.write_text(keys.client_text)
    key_file.chmod(0o600)
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert wait_for_line(agent.stdout, "SSH_AUTH_SOCK", 10)
        subprocess.run(["ssh-add", "-q", str(key_file)], check=True, capture_output=True,
                       env=dict(os.environ, SSH_AUTH_SOCK=str(socket_path)))
        result = run_one(target(keys, sshd.port, private_key="", agent_path=str(socket_path)),
                         "echo agent")
    finally:
        agent.terminate()
        agent.wait(timeout=10)
    assert (result.status, result.stdout) == ("ok", "agent\n")


def test_without_key_or_agent(keys):
    port = free_port()
    result = run_one(target(keys, port, private_key="", agent_path=""), "true")
    assert result.error == (f"no private key or SSH agent is set for "
                            f"{getpass.getuser()}@127.0.0.1:{port}")


# --- many hosts: asyncssh servers in this process -------------------------------------------


def test_concurrency_limits_connections_at_once(keys):
    spans: list[tuple[float, float]] = []

    async def handler(process):
        started = time.monotonic()
        await asyncio.sleep(0.5)  # the host's command takes this long
        spans.append((started, time.monotonic()))
        process.stdout.write(b"done\n")
        process.exit(0)

    def measure(concurrency: int) -> list[tuple[float, float]]:
        spans.clear()

        async def go(ports):
            return await ssh.run([target(keys, p, key=str(p)) for p in ports], "work", 20,
                                 concurrency)
        results = with_servers(keys, 3, handler, go)
        assert [r.status for r in results] == ["ok"] * 3
        return sorted(spans)

    one_at_a_time = measure(1)
    assert all(later[0] >= earlier[1]
               for earlier, later in itertools.pairwise(one_at_a_time))
    all_at_once = measure(3)
    assert max(start for start, _ in all_at_once) < min(end for _, end in all_at_once)


def test_results_come_in_the_targets_order(keys):
    async def handler(process):
        process.stdout.write(process.command.encode())
        process.exit(int(process.command))

    async def go(ports):
        return await ssh.run([target(keys, p, key=f"k{i}") for i, p in enumerate(ports)],
                             "4", 20, 2)
    results = with_servers(keys, 4, handler, go)
    assert [(r.key, r.exit_status, r.stdout) for r in results] == [
        (f"k{i}", 4, "4") for i in range(4)]


def test_characters_split_across_chunks_are_whole(keys):
    async def handler(process):
        for part in (b"d\xc3", b"\xa9", "é".encode() * 10):
            process.stdout.write(part)
            await process.stdout.drain()
            await asyncio.sleep(0.05)  # separate chunks on the wire
        process.exit(0)

    chunks: list[str] = []

    async def go(ports):
        return await ssh.run([target(keys, ports[0])], "x", 20, 1,
                             on_output=lambda key, text: chunks.append(text), max_output=10)
    [result] = with_servers(keys, 1, handler, go)
    assert "".join(chunks) == "dé" + "é" * 10 and "\ufffd" not in "".join(chunks)
    assert result.truncated and result.stdout == "déééé"  # 10 bytes end in half a character


def test_full_output_and_recording_stop_at_the_cap(keys):
    block = b"y" * 65536

    async def handler(process):
        for _ in range(ssh.FULL_OUTPUT_CAP // len(block) + 16):
            process.stdout.write(block)
            await process.stdout.drain()
        process.exit(0)

    async def go(ports):
        return await ssh.run([target(keys, ports[0])], "x", 60, 1)
    [result] = with_servers(keys, 1, handler, go)
    assert result.status == "ok" and result.truncated
    assert len(result.stdout) == ssh.MAX_OUTPUT
    assert result.full_output.endswith(ssh.CUT_NOTE.encode())
    assert len(result.full_output) == ssh.FULL_OUTPUT_CAP + len(ssh.CUT_NOTE)
    events = [json.loads(line) for line in result.recording.splitlines()[1:]]
    assert events[-1][2] == ssh.CUT_NOTE.replace("\n", "\r\n")
    assert sum(len(text) for _, _, text in events) < ssh.FULL_OUTPUT_CAP + 2 * ssh.READ_SIZE


def test_a_failing_on_output_does_not_stop_the_run(keys, caplog):
    async def handler(process):
        process.stdout.write(b"line\n")
        process.exit(0)

    def broken(key, text):
        raise RuntimeError("viewer gone")

    async def go(ports):
        return await ssh.run([target(keys, ports[0])], "x", 20, 1, on_output=broken)
    [result] = with_servers(keys, 1, handler, go)
    assert (result.status, result.stdout) == ("ok", "line\n")
    assert "on_output failed" in caplog.text


def test_secrets_never_appear_in_results_or_logs(keys, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="asyncssh")
    encrypted = keys.client.export_private_key("pkcs8-pem", passphrase=PASSPHRASE).decode()
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    stranger_pem = stranger.export_private_key("pkcs8-pem", passphrase=PASSPHRASE).decode()
    other_host = public_line(asyncssh.generate_private_key("ssh-ed25519"))

    async def handler(process):
        process.stdout.write(b"ok\n")
        process.exit(0)

    async def go(ports):
        port = ports[0]
        return await ssh.run([
            target(keys, port, key="good", private_key=encrypted, passphrase=PASSPHRASE),
            target(keys, port, key="bad-pass", private_key=encrypted, passphrase="nope"),
            target(keys, port, key="no-pass", private_key=encrypted),
            target(keys, port, key="stranger", private_key=stranger_pem, passphrase=PASSPHRASE),
            target(keys, port, key="mismatch", private_key=encrypted, passphrase=PASSPHRASE,
                   host_key=other_host),
            target(keys, free_port(), key="refused", private_key=encrypted,
                   passphrase=PASSPHRASE),
        ], "echo ok", 20, 3)
    results = with_servers(keys, 1, handler, go)
    assert [r.status for r in results] == ["ok"] + ["error"] * 5
    assert results[1].error.endswith("could not be read: wrong passphrase")
    assert results[2].error.endswith("it is protected by a passphrase and none is set")
    assert results[3].error.startswith("authentication failed for")

    secrets = [PASSPHRASE, keys.client_text, encrypted, stranger_pem]
    pieces = {line for secret in secrets for line in secret.splitlines()
              if len(line) > 20 and not line.startswith("-----")}
    assert len(pieces) > 5
    texts = [repr(r) + r.stdout + r.stderr + r.recording + r.error
             + r.full_output.decode() for r in results]
    texts += [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    texts.append(repr(target(keys, 22, private_key=encrypted, passphrase=PASSPHRASE)))
    assert len(caplog.records) > 10  # asyncssh's own logging was captured too
    assert not [piece for piece in pieces | {PASSPHRASE} for text in texts if piece in text]


# --- host keys ----------------------------------------------------------------------------


def test_fetch_host_key_and_fingerprint(sshd, keys, tmp_path):
    line, fingerprint = asyncio.run(ssh.fetch_host_key("127.0.0.1", sshd.port))
    assert line == keys.host_line
    assert fingerprint == ssh.fingerprint(line) == keys.host.get_fingerprint("sha256")
    (tmp_path / "key.pub").write_text(line + "\n")
    shown = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "key.pub")],
                           capture_output=True, text=True, check=True).stdout
    assert shown.split()[1] == fingerprint


def test_fetch_host_key_failure_is_said(keys):
    port = free_port()
    with pytest.raises(ssh.SSHError, match=f"could not connect to 127.0.0.1:{port}: "
                                           "connection refused"):
        asyncio.run(ssh.fetch_host_key("127.0.0.1", port))


def test_fingerprint_of_something_else_is_a_value_error():
    with pytest.raises(ValueError):
        ssh.fingerprint("not a key")
