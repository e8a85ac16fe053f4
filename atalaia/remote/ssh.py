"""Run one command on many hosts over SSH: the engine under runbook steps.

No Django here: callers hand in `Target`s (plain dataclasses) and get `Result`s back, so
this module can be tested and benchmarked on its own. `run` never raises for a host's
failure; each failure is a `Result` whose `error` is written for people.

**Host keys are pinned.** Every target carries the one public key Atalaia trusts for it
(an OpenSSH line, stored when an admin chose *trust this host* after checking the
fingerprint from `fetch_host_key`). A connection whose server offers any other key is
refused before anything is sent, with both fingerprints in the error. There is no
trust-on-first-use and no fallback to ~/.ssh/known_hosts or ~/.ssh/config: a runbook
step runs commands as a privileged user during an incident, exactly when a spoofed
address would do the most harm. A target without a pinned key is never connected to.

**The recording** (`Result.recording`) is an asciicast v2 file, playable with asciinema:
a header line ``{"version": 2, "width", "height", "timestamp", "title", "env"}`` then one
``[seconds_since_start, "o", text]`` line per chunk of output, in the order it arrived.
Standard error is recorded as "o" events too, interleaved with standard output as the
host sent them. No terminal is allocated on the host, so line feeds are written as
CR LF in the recording (as a terminal would show them); the other fields keep the
bytes as sent. The header's title is "user@host:port: command"; the rest is output.

**Output limits.** `stdout` and `stderr` keep the first `max_output` bytes each (64 KiB
by default; `truncated` says when more came). `full_output` keeps everything both
streams sent, interleaved, up to FULL_OUTPUT_CAP (5 MiB), for an attachment; the
recording stops at the same size. Past the cap a last line says it was cut.

**Timeouts** cover connecting (through the jump host, if any) and running; they start
when the host's turn comes under `concurrency`. On a timeout the output so far is kept,
the command is sent a TERM signal and the connection is closed. OpenSSH honours that
signal for ordinary users only: for root logins OpenSSH 9.2 refuses it ("session
signalling requires privilege separation" in its log), and without a terminal nothing
else stops the command, which then runs on until it ends or writes to the closed
connection. Commands that may hang should carry their own limit (`timeout 25 …`).

Host failures are Results with status "error" (or "timeout"): no pinned key, a key
mismatch, an unreadable private key, refused or failed authentication, an unreachable
host or jump host. Messages name the host and never contain key material.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import asyncssh

logger = logging.getLogger(__name__)

MAX_OUTPUT = 64 * 1024
FULL_OUTPUT_CAP = 5 * 1024 * 1024
READ_SIZE = 64 * 1024
CLOSE_WAIT_S = 2.0  # closing a connection after a timeout may take this much longer
RECORDING_WIDTH, RECORDING_HEIGHT = 120, 40
CUT_NOTE = "\n[output cut at 5 MiB]\n"
# The host key types asked for, best first (asyncssh's own default puts RSA first).
HOST_KEY_ALGS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]

OnOutput = Callable[[str, str], None]
_Keys = dict[tuple[str, str], asyncssh.SSHKey]  # imported private keys, for one run


@dataclass
class Target:
    """One host to run on. `key` is the caller's id for it, returned in its Result."""

    key: str
    address: str
    port: int
    username: str
    host_key: str  # the pinned public key, one OpenSSH line ("ssh-ed25519 AAAA…")
    private_key: str = field(default="", repr=False)  # PEM / OpenSSH text
    passphrase: str | None = field(default=None, repr=False)
    agent_path: str | None = None  # an SSH agent's socket, used when private_key is empty
    jump: Target | None = None

    @property
    def where(self) -> str:
        return _where(self.address, self.port)


@dataclass
class Result:
    key: str
    status: str  # "ok" (exit 0) | "failed" (non-zero exit or signal) | "timeout" | "error"
    exit_status: int | None = None  # negative signal number when killed by a signal
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    full_output: bytes = field(default=b"", repr=False)
    recording: str = field(default="", repr=False)
    duration: float = 0.0
    error: str = ""


class SSHError(Exception):
    """What `fetch_host_key` raises, with a message for people."""


class _Failure(Exception):
    """A host's failure, its message ready for Result.error."""


# --- the public functions ------------------------------------------------------------


async def run(targets: Sequence[Target], command: str, timeout: float, concurrency: int,
              on_output: OnOutput | None = None, max_output: int = MAX_OUTPUT) -> list[Result]:
    """Run `command` (already shell-quoted) on every target; results in targets' order."""
    if concurrency < 1 or timeout <= 0 or max_output < 0:
        raise ValueError("concurrency must be >= 1, timeout > 0 and max_output >= 0")
    gate = asyncio.Semaphore(concurrency)
    keys: _Keys = {}

    async def one(target: Target) -> Result:
        async with gate:
            capture = _Capture(target, command, on_output, max_output)
            return await _run_one(target, command, timeout, capture, keys)

    return list(await asyncio.gather(*(one(t) for t in targets)))


def run_sync(targets: Sequence[Target], command: str, timeout: float, concurrency: int,
             on_output: OnOutput | None = None, max_output: int = MAX_OUTPUT) -> list[Result]:
    """`run` on a new event loop, for callers in a worker thread (not inside a loop)."""
    return asyncio.run(run(targets, command, timeout, concurrency, on_output, max_output))


async def fetch_host_key(address: str, port: int, timeout: float = 10) -> tuple[str, str]:
    """The server's host key as an OpenSSH line, and its SHA256 fingerprint."""
    where = _where(address, port)
    try:
        async with asyncio.timeout(timeout):
            key = await asyncssh.get_server_host_key(address, port, config=None,
                                                     server_host_key_algs=HOST_KEY_ALGS)
    except TimeoutError:
        raise SSHError(f"timed out after {timeout:g} s reading the host key of {where}") from None
    except (OSError, asyncssh.Error) as exc:
        raise SSHError(_connect_error(where, exc)) from None
    if key is None:
        raise SSHError(f"{where} offered no host key")
    line = key.export_public_key().decode("ascii").strip()
    return line, key.get_fingerprint("sha256")


def fingerprint(openssh_line: str) -> str:
    """"SHA256:…" of a public key line; ValueError when it is not one."""
    return asyncssh.import_public_key(openssh_line.strip()).get_fingerprint("sha256")


def _where(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


# --- one host ------------------------------------------------------------------------


async def _run_one(target: Target, command: str, timeout: float, capture: _Capture,
                   keys: _Keys) -> Result:
    status, exit_status, error = "error", None, ""
    try:
        async with asyncio.timeout(timeout):
            exit_status, error = await _connect_and_run(target, command, timeout, capture,
                                                        keys)
        status = "ok" if exit_status == 0 else "failed"
    except TimeoutError:
        status, error = "timeout", f"timed out after {timeout:g} s"
    except _Failure as exc:
        error = str(exc)
    except Exception as exc:  # every host's failure becomes a Result, whatever it is
        logger.exception("ssh %s %s: unexpected error", target.key, target.where)
        error = f"{target.where}: unexpected error ({type(exc).__name__})"
    result = capture.result(status, exit_status, error)
    logger.info("ssh %s %s: %s%s in %.2f s%s", target.key, target.where, status,
                "" if exit_status is None else f" ({exit_status})", result.duration,
                f": {error}" if error else "")
    return result


async def _connect_and_run(target: Target, command: str, timeout: float,
                           capture: _Capture, keys: _Keys) -> tuple[int, str]:
    """(exit status, error) once the command has finished and its output is read."""
    async with contextlib.AsyncExitStack() as stack:
        conn = await _connect(target, timeout, keys, stack)
        process = await conn.create_process(command, encoding=None)
        stack.callback(_stop, process)
        await asyncio.gather(_pump(process.stdout, "stdout", capture),
                             _pump(process.stderr, "stderr", capture))
        await process.wait_closed()
        if process.exit_signal:
            name = process.exit_signal[0]
            return process.returncode or -1, f"the command was killed by signal {name}"
        if process.exit_status is None:
            raise _Failure(f"{target.where}: the connection closed before the command "
                           "reported its exit status")
        return process.exit_status, ""


async def _pump(reader: asyncssh.SSHReader[bytes], stream: str, capture: _Capture) -> None:
    while chunk := await reader.read(READ_SIZE):
        capture.feed(stream, chunk)
    capture.flush(stream)


def _stop(process: asyncssh.SSHClientProcess[bytes]) -> None:
    """Still running (a timeout): ask the host to end it before the connection closes."""
    if process.exit_status is None and not process.exit_signal:
        with contextlib.suppress(Exception):
            process.terminate()


# --- connecting ----------------------------------------------------------------------


class _PinnedClient(asyncssh.SSHClient):
    """Remembers the key a server offered when it is not the pinned one."""

    offered: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.offered = key
        return False


async def _connect(target: Target, timeout: float, keys: _Keys,
                   stack: contextlib.AsyncExitStack) -> asyncssh.SSHClientConnection:
    """An authenticated connection whose host key is the pinned one; closed by `stack`."""
    tunnel: object = ()
    if target.jump is not None:
        try:
            tunnel = await _connect(target.jump, timeout, keys, stack)
        except _Failure as exc:
            raise _Failure(f"through jump host {target.jump.where}: {exc}") from None
    trusted = _pinned_key(target)
    client_keys = await _client_keys(target, keys, stack)
    client = _PinnedClient()
    try:
        conn = await asyncssh.connect(
            target.address, target.port, tunnel=tunnel, config=None,
            username=target.username, client_factory=lambda: client,
            known_hosts=asyncssh.import_known_hosts(_known_hosts_line(trusted)),
            server_host_key_algs=_host_key_algs(trusted),
            x509_trusted_certs=None, client_keys=client_keys, agent_path=None,
            preferred_auth="publickey", connect_timeout=timeout)
    except TimeoutError:
        raise
    except asyncssh.HostKeyNotVerifiable:
        raise _Failure(_mismatch(target, trusted, client.offered)) from None
    except asyncssh.PermissionDenied:
        raise _Failure(f"authentication failed for {target.username}@{target.where}") from None
    except (OSError, asyncssh.Error) as exc:
        raise _Failure(_connect_error(target.where, exc)) from None
    stack.push_async_callback(_close, conn)
    return conn


def _pinned_key(target: Target) -> asyncssh.SSHKey:
    if not target.host_key.strip():
        raise _Failure(f"no host key is pinned for {target.where}: trust the host first")
    try:
        return asyncssh.import_public_key(target.host_key.strip())
    except (asyncssh.KeyImportError, ValueError):
        raise _Failure(f"the pinned host key for {target.where} is not an OpenSSH public "
                       "key line") from None


def _known_hosts_line(trusted: asyncssh.SSHKey) -> str:
    # "*": this known-hosts object serves this one connection only, so the host name it
    # was reached by (an address, a name, through a tunnel) must not change the answer.
    return "* " + trusted.export_public_key().decode("ascii").strip()


def _host_key_algs(trusted: asyncssh.SSHKey) -> list[str]:
    # The pinned key's type first, then the others: a server without a key of that type
    # shows one of another type, and the error can say which key it offered.
    pinned = [alg.decode("ascii") for alg in trusted.sig_algorithms]
    return pinned + [alg for alg in HOST_KEY_ALGS if alg not in pinned]


def _mismatch(target: Target, trusted: asyncssh.SSHKey, offered: asyncssh.SSHKey | None) -> str:
    shown = offered.get_fingerprint("sha256") if offered else "a key that is not trusted"
    return (f"host key mismatch for {target.where}: the server offered {shown}, "
            f"Atalaia trusts {trusted.get_fingerprint('sha256')}")


async def _client_keys(target: Target, keys: _Keys, stack: contextlib.AsyncExitStack
                       ) -> list[asyncssh.SSHKey] | list[asyncssh.SSHKeyPair]:
    """The key pairs to log in with: the target's private key, or its agent's keys."""
    who = f"{target.username}@{target.where}"
    if target.private_key:
        return [_import_key(target.private_key, target.passphrase or None, who, keys)]
    if not target.agent_path:
        raise _Failure(f"no private key or SSH agent is set for {who}")
    try:
        agent = await asyncssh.connect_agent(target.agent_path)
    except (OSError, asyncssh.Error) as exc:
        raise _Failure(f"could not reach the SSH agent at {target.agent_path} for {who}: "
                       f"{_reason(exc)}") from None
    stack.callback(agent.close)
    agent_keys = await agent.get_keys()
    if not agent_keys:
        raise _Failure(f"the SSH agent at {target.agent_path} holds no key for {who}")
    return list(agent_keys)


def _import_key(text: str, passphrase: str | None, who: str, keys: _Keys) -> asyncssh.SSHKey:
    # Many targets share a key; an encrypted one is slow to decrypt, so once per run.
    cache_key = (text, passphrase or "")
    if cache_key not in keys:
        try:
            keys[cache_key] = asyncssh.import_private_key(text, passphrase)
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError) as exc:
            raise _Failure(f"the private key for {who} could not be read: "
                           f"{_key_problem(exc, passphrase)}") from None
    return keys[cache_key]


def _key_problem(exc: Exception, passphrase: str | None) -> str:
    text = str(exc)
    if "bcrypt" in text:
        return ("it is an OpenSSH key protected by a passphrase, which needs the Python "
                "package bcrypt (or store the key in PKCS#8 format)")
    if "Passphrase must be specified" in text:
        return "it is protected by a passphrase and none is set"
    if passphrase and ("decrypt" in text.lower() or "passphrase" in text.lower()):
        return "wrong passphrase"
    return "not a private key in PEM or OpenSSH format"


async def _close(conn: asyncssh.SSHClientConnection) -> None:
    conn.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.wait_closed(), CLOSE_WAIT_S)


def _connect_error(where: str, exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"could not connect to {where}: the name does not resolve"
    return f"could not connect to {where}: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.Error):
        text = exc.reason
    elif isinstance(exc, OSError) and exc.errno:
        text = os.strerror(exc.errno)  # asyncio's own text names the address again
    else:
        text = str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


# --- output --------------------------------------------------------------------------


class _Capture:
    """A host's output as it arrives: limited copies, the recording and live chunks."""

    def __init__(self, target: Target, command: str, on_output: OnOutput | None,
                 max_output: int) -> None:
        self.key, self.on_output, self.max_output = target.key, on_output, max_output
        self.started, self.wall_started = time.monotonic(), time.time()
        self.streams = {"stdout": bytearray(), "stderr": bytearray()}
        self.decoders = {name: codecs.getincrementaldecoder("utf-8")("replace")
                         for name in self.streams}
        self.truncated = False
        self.full = bytearray()
        self.cut = False
        self.events: list[str] = [json.dumps({
            "version": 2, "width": RECORDING_WIDTH, "height": RECORDING_HEIGHT,
            "timestamp": int(self.wall_started),
            "title": f"{target.username}@{target.where}: {command}"[:200],
            "env": {"TERM": "dumb"}})]

    def feed(self, stream: str, data: bytes) -> None:
        kept = self.streams[stream]
        room = max(0, self.max_output - len(kept))
        if len(data) > room:
            self.truncated = True
        kept += data[:room]
        text = self.decoders[stream].decode(data)
        if not self.cut:
            self._record(text)
            self._keep_full(data)
        self._live(text)

    def flush(self, stream: str) -> None:
        text = self.decoders[stream].decode(b"", final=True)
        if not self.cut:
            self._record(text)
        self._live(text)

    def _keep_full(self, data: bytes) -> None:
        room = FULL_OUTPUT_CAP - len(self.full)
        self.full += data[:room]
        if len(data) > room:
            self.cut = True
            self.full += CUT_NOTE.encode()
            self._record(CUT_NOTE)

    def _live(self, text: str) -> None:
        if text and self.on_output is not None:
            try:
                self.on_output(self.key, text)
            except Exception:  # a broken viewer must not stop the command's run
                logger.exception("ssh %s: on_output failed; live output stopped", self.key)
                self.on_output = None

    def _record(self, text: str) -> None:
        if not text:
            return
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        elapsed = round(time.monotonic() - self.started, 6)
        self.events.append(json.dumps([elapsed, "o", text]))

    def result(self, status: str, exit_status: int | None, error: str) -> Result:
        stdout, stderr = (self._text(self.streams[name]) for name in ("stdout", "stderr"))
        return Result(key=self.key, status=status, exit_status=exit_status, stdout=stdout,
                      stderr=stderr, truncated=self.truncated, full_output=bytes(self.full),
                      recording="\n".join(self.events) + "\n",
                      duration=time.monotonic() - self.started, error=error)

    def _text(self, data: bytearray) -> str:
        # A cut may split a character: the incomplete end is left out, not replaced.
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        return decoder.decode(bytes(data), final=not self.truncated)
