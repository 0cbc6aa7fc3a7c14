# qmp.py — a small client of the QEMU Machine Protocol (QEMU docs/interop/qmp-spec):
# connect to the unix socket QEMU opened with -qmp unix:PATH,server=on,wait=off, read
# the greeting, leave capabilities negotiation (qmp_capabilities), run commands and
# human-monitor-command ("info pci", "info mtree", ...), and quit. One JSON object a
# line each way; asynchronous events are kept aside, never mistaken for replies.
from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any, Optional


class QmpError(RuntimeError):
    """QMP could not be reached, answered with an error, or broke the protocol."""


class QmpClient:
    """Synchronous QMP client: `with QmpClient(path) as q: q.hmp("info pci")`.
    Every wait is bounded by `timeout` seconds; a missing or unexpected answer
    raises QmpError naming the command and what arrived instead."""

    def __init__(self, path: Path | str, timeout: float = 10.0):
        self.path = str(path)
        self.timeout = timeout
        self.sock: Optional[socket.socket] = None
        self.greeting: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self._buf = b""
        self._next_id = 0

    # -- connection --

    def connect(self, wait: float = 5.0) -> "QmpClient":
        """Connect (retrying while the socket does not exist yet, up to `wait`
        seconds), read the greeting and enter command mode."""
        deadline = time.monotonic() + wait
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(self.path)
                break
            except (FileNotFoundError, ConnectionRefusedError) as e:
                s.close()
                if time.monotonic() >= deadline:
                    raise QmpError(f"QMP socket {self.path}: {e.strerror} after {wait:g} s "
                                   f"(was QEMU started with -qmp unix:...,server=on,wait=off?)") from e
                time.sleep(0.05)
            except OSError as e:
                s.close()
                raise QmpError(f"QMP socket {self.path}: {e.strerror or e}") from e
        self.sock = s
        greet = self._read_message("the greeting")
        if "QMP" not in greet:
            self.close()
            raise QmpError(f"QMP greeting expected, got {_short(greet)}")
        self.greeting = greet["QMP"]
        self.execute("qmp_capabilities")
        return self

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self) -> "QmpClient":
        if self.sock is None:
            self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def qemu_version(self) -> str:
        v = self.greeting.get("version", {}).get("qemu", {})
        return f"{v.get('major', '?')}.{v.get('minor', '?')}.{v.get('micro', '?')}"

    # -- commands --

    def execute(self, command: str, arguments: Optional[dict[str, Any]] = None) -> Any:
        """Run a QMP command and return its "return" value; raise QmpError with
        QEMU's class and description when it answers with "error"."""
        if self.sock is None:
            raise QmpError(f"QMP command {command}: not connected")
        self._next_id += 1
        ident = f"doppel-{self._next_id}"
        msg: dict[str, Any] = {"execute": command, "id": ident}
        if arguments:
            msg["arguments"] = arguments
        try:
            self.sock.sendall(json.dumps(msg).encode() + b"\n")
        except OSError as e:
            raise QmpError(f"QMP command {command}: connection closed while sending "
                           f"({e.strerror or e})") from e
        while True:
            reply = self._read_message(f"the reply to {command}")
            if "event" in reply:
                self.events.append(reply)
                continue
            if reply.get("id") != ident:
                raise QmpError(f"QMP command {command}: reply for another command: {_short(reply)}")
            if "error" in reply:
                err = reply["error"]
                raise QmpError(f"QMP command {command} failed: {err.get('class', '?')}: "
                               f"{err.get('desc', '')}")
            if "return" not in reply:
                raise QmpError(f"QMP command {command}: reply without 'return': {_short(reply)}")
            return reply["return"]

    def hmp(self, command_line: str) -> str:
        """A human monitor command through QMP; its text output."""
        out = self.execute("human-monitor-command", {"command-line": command_line})
        if not isinstance(out, str):
            raise QmpError(f"human-monitor-command {command_line!r}: not text: {_short(out)}")
        return out

    def quit(self) -> None:
        """Ask QEMU to exit (its exit code is then 0). QEMU may close the socket
        before or after the reply; both count as done."""
        try:
            self.execute("quit")
        except QmpError as e:
            if "closed" not in str(e):
                raise
        finally:
            self.close()

    # -- framing --

    def _read_message(self, what: str) -> dict[str, Any]:
        assert self.sock is not None
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QmpError(f"QMP: no {what} within {self.timeout:g} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as e:
                raise QmpError(f"QMP: no {what} within {self.timeout:g} s") from e
            except OSError as e:
                raise QmpError(f"QMP: connection closed while waiting for {what}: "
                               f"{e.strerror or e}") from e
            if not chunk:
                raise QmpError(f"QMP: connection closed while waiting for {what}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            msg = json.loads(line)
        except ValueError as e:
            raise QmpError(f"QMP: malformed JSON while waiting for {what}: {line[:200]!r}") from e
        if not isinstance(msg, dict):
            raise QmpError(f"QMP: expected a JSON object for {what}, got {_short(msg)}")
        return msg


def _short(obj: Any, limit: int = 200) -> str:
    s = json.dumps(obj) if not isinstance(obj, str) else obj
    return s if len(s) <= limit else s[:limit] + "..."
