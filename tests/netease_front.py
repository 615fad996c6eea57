"""An IMAP front that behaves like NetEase's imap.163.com, relaying to the test Dovecot.

What it does to the conversation (all on 127.0.0.1):

* SELECT, EXAMINE and STATUS sent before an RFC 2971 ``ID`` command get NetEase's
  answer, word for word: ``NO SELECT Unsafe Login. Please contact kefu@188.com for help``
  (NetEase names the refused command: ``NO EXAMINE Unsafe Login. ...`` for EXAMINE);
* ``strip`` takes capabilities away, in every CAPABILITY list (greeting, after
  LOGIN, the CAPABILITY command) and refuses the commands that need them:
  ``IDLE``, ``MOVE`` (MOVE / UID MOVE), ``UIDPLUS`` (UID EXPUNGE), and
  ``KEYWORDS`` (no ``\\*`` nor keywords in PERMANENTFLAGS; a STORE of a keyword
  is refused, as a server without keyword support does).

Server responses are relayed byte for byte except those lines; literals (message
bodies) in either direction pass untouched. ``commands`` records what clients sent
("ID", "SELECT", "UID MOVE" ...), so tests can check the order.

Usage: ``with NetEaseFront(dovecot.port, strip={"IDLE"}) as front: ... front.port``;
the ``netease_front`` fixture is parametrised over the stripped variants.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterable, Iterator

import pytest

UNSAFE_LOGIN = "NO {command} Unsafe Login. Please contact kefu@188.com for help"
STRIPPABLE = frozenset({"IDLE", "MOVE", "UIDPLUS", "KEYWORDS"})
# The variants every NetEase test runs in: NetEase as it is (ID required, no IDLE, no MOVE),
# and each capability taken away on its own, and all of them at once.
VARIANTS: dict[str, frozenset[str]] = {
    "netease": frozenset({"IDLE", "MOVE"}),
    "no-idle": frozenset({"IDLE"}),
    "no-move": frozenset({"MOVE"}),
    "no-uidplus": frozenset({"MOVE", "UIDPLUS"}),
    "no-keywords": frozenset({"KEYWORDS"}),
    "bare": STRIPPABLE,
}

_LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r\n$")
_CAPS = re.compile(rb"(\[CAPABILITY )([^\]]*)(\])|^(\* CAPABILITY )(.*?)(\r\n)$", re.IGNORECASE)
_PERMANENT = re.compile(rb"(\[PERMANENTFLAGS \()([^)]*)(\)\])", re.IGNORECASE)
_SELECTS = {"SELECT", "EXAMINE", "STATUS"}


class NetEaseFront:
    def __init__(self, target_port: int, strip: Iterable[str] = (), target_host: str = "127.0.0.1") -> None:
        self.strip = frozenset(s.upper() for s in strip)
        unknown = self.strip - STRIPPABLE
        if unknown:
            raise ValueError(f"cannot strip {sorted(unknown)}; only {sorted(STRIPPABLE)}")
        self.target = (target_host, target_port)
        self.commands: list[str] = []
        self.refused: list[str] = []  # the commands answered by the front itself
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netease-front", daemon=True)

    # ---- life cycle

    def __enter__(self) -> NetEaseFront:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the NetEase-like IMAP front did not start")

    def close(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def begin() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(begin())
        self._loop.run_forever()

    # ---- one connection

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        state = {"identified": False}
        lock = asyncio.Lock()
        tasks = [asyncio.create_task(self._from_server(server_r, client_w, lock)),
                 asyncio.create_task(self._from_client(client_r, server_w, client_w, lock, state))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_w, server_w):
                writer.close()

    async def _from_server(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           lock: asyncio.Lock) -> None:
        while True:
            line = await reader.readline()
            if not line:
                return
            async with lock:
                writer.write(self._rewrite(line))
                literal = _LITERAL.search(line)
                if literal:
                    writer.write(await reader.readexactly(int(literal.group(1))))
                await writer.drain()

    async def _from_client(self, reader: asyncio.StreamReader, server: asyncio.StreamWriter,
                           client: asyncio.StreamWriter, lock: asyncio.Lock, state: dict[str, bool]) -> None:
        while True:
            line = await reader.readline()
            if not line:
                return
            tag, command, rest = _parse(line)
            if command:
                self.commands.append(command)
            refusal = self._refusal(command, rest, state) if command else None
            if refusal is not None:
                self.refused.append(command)
                await self._skip_literals(reader, line)
                async with lock:
                    client.write(f"{tag} {refusal}\r\n".encode())
                    await client.drain()
                continue
            if command == "ID":
                state["identified"] = True
            server.write(line)
            await server.drain()
            await self._relay_literals(reader, server, line)

    def _refusal(self, command: str, rest: bytes, state: dict[str, bool]) -> str | None:
        if command in _SELECTS and not state["identified"]:
            return UNSAFE_LOGIN.format(command=command)
        if command == "IDLE" and "IDLE" in self.strip:
            return "BAD command not support"
        if command in ("MOVE", "UID MOVE") and "MOVE" in self.strip:
            return "BAD command not support"
        if command == "UID EXPUNGE" and "UIDPLUS" in self.strip:
            return "BAD command not support"
        if command in ("STORE", "UID STORE") and "KEYWORDS" in self.strip and _has_keyword(rest):
            return "NO [CANNOT] keywords are not supported"
        return None

    @staticmethod
    async def _relay_literals(reader: asyncio.StreamReader, server: asyncio.StreamWriter, line: bytes) -> None:
        """The rest of a command whose line ends in a literal: the literal, then its next line."""
        while (literal := _LITERAL.search(line)) is not None:
            server.write(await reader.readexactly(int(literal.group(1))))
            line = await reader.readline()
            server.write(line)
            await server.drain()

    @staticmethod
    async def _skip_literals(reader: asyncio.StreamReader, line: bytes) -> None:
        """A refused command's non-synchronising literals still arrive; a synchronising one never will."""
        while (literal := _LITERAL.search(line)) is not None and literal.group(2) == b"+":
            await reader.readexactly(int(literal.group(1)))
            line = await reader.readline()

    def _rewrite(self, line: bytes) -> bytes:
        strip = {s.encode() for s in self.strip if s != "KEYWORDS"}

        def caps(match: re.Match[bytes]) -> bytes:
            head, body, tail = (match.group(1), match.group(2), match.group(3)) if match.group(1) else (
                match.group(4), match.group(5), match.group(6))
            kept = [cap for cap in body.split(b" ") if cap.upper() not in strip]
            return head + b" ".join(kept) + tail

        line = _CAPS.sub(caps, line)
        if "KEYWORDS" in self.strip:
            def flags(match: re.Match[bytes]) -> bytes:
                kept = [f for f in match.group(2).split(b" ") if f.startswith(b"\\") and f != b"\\*"]
                return match.group(1) + b" ".join(kept) + match.group(3)

            line = _PERMANENT.sub(flags, line)
        return line


def _parse(line: bytes) -> tuple[str, str, bytes]:
    """(tag, COMMAND or "UID COMMAND", the rest) of a client line; ("", "", b"") when it is none."""
    parts = line.rstrip(b"\r\n").split(b" ", 2)
    if len(parts) < 2 or parts[0] in (b"", b"DONE") or not parts[0].isascii():
        return "", "", b""
    tag, command = parts[0].decode(), parts[1].decode("ascii", "replace").upper()
    rest = parts[2] if len(parts) > 2 else b""
    if command == "UID" and rest:
        sub, _, rest = rest.partition(b" ")
        command = f"UID {sub.decode('ascii', 'replace').upper()}"
    return tag, command, rest


def _has_keyword(store_args: bytes) -> bool:
    """True when a STORE adds or sets a flag that is a keyword (not a \\system flag)."""
    found = re.search(rb"\(([^)]*)\)", store_args)
    items = found.group(1).split() if found else store_args.split()[2:]
    return any(not flag.startswith(b"\\") for flag in items)


@pytest.fixture(name="netease_front", params=list(VARIANTS), ids=list(VARIANTS))
def netease_front_fixture(request: pytest.FixtureRequest, dovecot) -> Iterator[NetEaseFront]:  # noqa: ANN001
    front = NetEaseFront(dovecot.port, VARIANTS[request.param])
    front.variant = request.param  # type: ignore[attr-defined]
    with front:
        yield front
