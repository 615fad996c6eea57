"""A real Dovecot IMAP server for tests, on 127.0.0.1, in a throwaway directory.

Fixtures:
  dovecot       session-scoped DovecotServer (plain IMAP + STARTTLS on one port,
                implicit TLS on another; certificate from a throwaway CA)
  imap_account  function-scoped ImapAccount: a fresh user with an empty mailbox

Import them into a test module with ``from tests.dovecot import dovecot, imap_account``.
Dovecot 2.3 configuration syntax (Debian 12's dovecot-imapd); 2.4 changed it and
is refused with a clear message rather than misconfigured.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from imapclient import IMAPClient

PASSWORD = "secret"
START_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dovecot_binary() -> str:
    path = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
    if path is None:
        raise RuntimeError("dovecot is not installed: apt-get install -y dovecot-imapd")
    return path


def dovecot_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    major, minor = out.split()[0].split(".")[:2]
    return int(major), int(minor)


@dataclass(frozen=True)
class ImapTestSettings:
    """Has every attribute ingest.sources.imap.ImapSettings asks for."""

    host: str
    port: int
    username: str
    password: str
    security: str = "none"
    folder: str = "INBOX"
    processed_folder: str | None = None
    batch_size: int = 200
    timeout_seconds: float = 30.0
    idle_seconds: float = 25 * 60.0

    def but(self, **changes: object) -> ImapTestSettings:
        return replace(self, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- certificates


def write_test_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost. Returns (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zxjyck test CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


# --------------------------------------------------------------------------- the server


class DovecotServer:
    def __init__(self) -> None:
        self.binary = dovecot_binary()
        version = dovecot_version(self.binary)
        if version >= (2, 4):
            raise RuntimeError(f"tests/dovecot.py writes Dovecot 2.3 configuration; found {version}")
        self.root = Path(tempfile.mkdtemp(prefix="zxjyck-dovecot-"))
        self.root.chmod(0o755)
        self.mail_root = self.root / "mail"
        self.log_path = self.root / "dovecot.log"
        self.port = free_port()
        self.tls_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._users = itertools.count(1)
        self._users_lock = threading.Lock()
        self.ca_path, self.cert_path, self.key_path = write_test_certificates(self.root)

    # ---- lifecycle

    def start(self) -> None:
        (self.root / "run").mkdir()
        (self.root / "state").mkdir()
        self.mail_root.mkdir()
        mail_user = self._mail_user()
        if os.geteuid() == 0:
            shutil.chown(self.mail_root, mail_user, mail_user)
        conf = self.root / "dovecot.conf"
        conf.write_text(self._config(mail_user))
        self.process = subprocess.Popen([self.binary, "-F", "-c", str(conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_for_port()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no dovecot log written)"

    def _wait_for_port(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        log = self.log_text()
        self.stop()
        raise RuntimeError(f"dovecot did not start on 127.0.0.1:{self.port}; its log:\n{log}")

    @staticmethod
    def _mail_user() -> str:
        if os.geteuid() != 0:
            return getpass.getuser()
        return "mail"

    def _config(self, mail_user: str) -> str:
        root = self.root
        if os.geteuid() == 0:
            internal, login = "dovecot", "dovenull"
        else:
            internal = login = mail_user
        uid = pwd.getpwnam(mail_user).pw_uid
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
ssl = yes
ssl_cert = <{self.cert_path}
ssl_key = <{self.key_path}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.mail_root}/%u
mail_uid = {mail_user}
mail_gid = {mail_user}
first_valid_uid = {min(uid, 500)}
default_internal_user = {internal}
default_login_user = {login}
mail_max_userip_connections = 200
# Wrong-password tests must not slow down the logins after them: no failure
# delay, and no anvil auth penalty (disabled as Dovecot's documentation says).
auth_failure_delay = 0
imap_idle_notify_interval = 2 mins
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={self.mail_root}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

    # ---- users

    def add_user(self) -> str:
        """A user name never used before: the static passdb accepts any name with
        PASSWORD, and its mailbox is created empty on first login."""
        with self._users_lock:
            return f"u{os.getpid()}x{next(self._users)}"

    def maildir(self, username: str) -> Path:
        return self.mail_root / username


# --------------------------------------------------------------------------- an account


class ImapAccount:
    """A fresh user on the test server, with helpers to shape its mailbox."""

    def __init__(self, server: DovecotServer) -> None:
        self.server = server
        self.username = server.add_user()
        self.password = PASSWORD
        self.host = "127.0.0.1"
        self.port = server.port

    def settings(self, **changes: object) -> ImapTestSettings:
        base = ImapTestSettings(host=self.host, port=self.port, username=self.username, password=self.password)
        return base.but(**changes)

    @contextlib.contextmanager
    def client(self) -> Iterator[IMAPClient]:
        client = IMAPClient(self.host, self.port, ssl=False, timeout=60)
        client.normalise_times = False
        client.login(self.username, self.password)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(self, folder: str, raw: bytes, internaldate: dt.datetime | None = None) -> int:
        """APPEND with an INTERNALDATE; returns the new UID (UIDPLUS APPENDUID)."""
        with self.client() as client:
            self._ensure(client, folder)
            response = client.append(folder, raw, msg_time=internaldate)
        return _appenduid(response)

    def append_many(self, folder: str, messages: list[bytes], internaldate: dt.datetime | None = None) -> None:
        """MULTIAPPEND in chunks: fast enough for thousands of messages."""
        with self.client() as client:
            self._ensure(client, folder)
            for start in range(0, len(messages), 500):
                chunk = messages[start:start + 500]
                client.multiappend(folder, [{"msg": m, "date": internaldate} if internaldate else m
                                            for m in chunk])

    def create_folder(self, name: str) -> None:
        with self.client() as client:
            self._ensure(client, name)

    def recreate_folder(self, name: str) -> None:
        """Delete and create again: the server gives the folder a new UIDVALIDITY."""
        with self.client() as client:
            if name.upper() == "INBOX":
                # INBOX cannot be deleted; empty it and change its UIDVALIDITY by hand.
                raise ValueError("use a folder other than INBOX for UIDVALIDITY tests")
            if client.folder_exists(name):
                client.delete_folder(name)
            client.create_folder(name)

    def uidvalidity(self, folder: str) -> int:
        with self.client() as client:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def flags(self, folder: str) -> dict[int, tuple[bytes, ...]]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            return {uid: data[b"FLAGS"] for uid, data in _fetch_all(client, [b"FLAGS"]).items()}

    def bodies(self, folder: str) -> dict[int, bytes]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            return {uid: data[b"BODY[]"] for uid, data in _fetch_all(client, [b"BODY.PEEK[]"]).items()}

    def count(self, folder: str) -> int:
        with self.client() as client:
            if not client.folder_exists(folder):
                return 0
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    @staticmethod
    def _ensure(client: IMAPClient, folder: str) -> None:
        if folder.upper() != "INBOX" and not client.folder_exists(folder):
            client.create_folder(folder)


def _fetch_all(client: IMAPClient, items: list[bytes]) -> dict[int, dict[bytes, object]]:
    uids = client.search("ALL")
    return client.fetch(uids, items) if uids else {}


def _appenduid(response: bytes) -> int:
    # b"[APPENDUID 1795625064 7] Append completed."
    text = response.decode() if isinstance(response, bytes) else str(response)
    if "APPENDUID" not in text:
        return 0
    return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])


# --------------------------------------------------------------------------- a proxy to cut


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that can drop a connection mid-stream.

    ``cut_after(n)`` arms a one-shot cut: the next connection that has passed
    ``n`` bytes from the server to the client is closed on both sides.
    ``stall_after(n)`` arms a one-shot stall: that connection stays open but the
    server's bytes stop arriving (what a dead NAT or a hung server looks like).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.cuts = 0
        self.stalls = 0
        self._cut_after: int | None = None
        self._stall_after: int | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def cut_after(self, server_bytes: int) -> None:
        with self._lock:
            self._cut_after = server_bytes

    def stall_after(self, server_bytes: int) -> None:
        with self._lock:
            self._stall_after = server_bytes

    def cut_all(self) -> None:
        """Drop every open connection now."""
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.listener.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()  # the server is down: so is the proxied connection
                continue
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        passed = 0
        stalled = False
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if stalled:
                    continue  # swallowed until the client gives up and closes
                sink.sendall(data)
                passed += len(data)
                if from_server and self._should_cut(passed):
                    break
                stalled = from_server and self._should_stall(passed)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def _should_stall(self, passed: int) -> bool:
        with self._lock:
            if self._stall_after is not None and passed >= self._stall_after:
                self._stall_after = None
                self.stalls += 1
                return True
            return False

    def _should_cut(self, passed: int) -> bool:
        with self._lock:
            if self._cut_after is not None and passed >= self._cut_after:
                self._cut_after = None
                self.cuts += 1
                return True
            return False


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    server = DovecotServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> ImapAccount:
    return ImapAccount(dovecot)


@pytest.fixture
def cutting_proxy(dovecot: DovecotServer) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(dovecot.port)
    try:
        yield proxy
    finally:
        proxy.close()
