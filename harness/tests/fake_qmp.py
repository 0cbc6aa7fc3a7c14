# fake_qmp.py — a QMP server for the harness's tests (QEMU docs/interop/qmp-spec):
# greets, requires qmp_capabilities first, answers human-monitor-command from a
# table, sends an event before some replies, and quits on "quit". Behaviours that
# a client must survive are chosen by `mode`: "ok", "silent" (never greets),
# "close" (hangs up after the greeting), "garbage" (a non-JSON reply).
from __future__ import annotations

import json
import os
import socket
import threading
from typing import Optional

GREETING = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}, "package": ""},
                    "capabilities": ["oob"]}}


class FakeQmpServer:
    def __init__(self, path: str, hmp: Optional[dict[str, str]] = None, mode: str = "ok"):
        self.path, self.hmp, self.mode = path, hmp or {}, mode
        self.commands: list[str] = []
        self.quit = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(path):
            os.unlink(path)
        self.sock.bind(path)
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.sock.close()

    def _send(self, conn: socket.socket, obj) -> None:
        conn.sendall(json.dumps(obj).encode() + b"\r\n")

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            if self.mode == "silent":
                self.quit.wait(30)
                return
            self._send(conn, GREETING)
            if self.mode == "close":
                return
            negotiated = False
            buf = b""
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    msg = json.loads(line)
                    cmd, ident = msg.get("execute"), msg.get("id")
                    self.commands.append(cmd)
                    if self.mode == "garbage":
                        conn.sendall(b"this is not json\n")
                        continue
                    if not negotiated and cmd != "qmp_capabilities":
                        self._send(conn, {"error": {"class": "CommandNotFound",
                                                    "desc": "Expecting capabilities negotiation "
                                                            "with 'qmp_capabilities'"}, "id": ident})
                        continue
                    if cmd == "qmp_capabilities":
                        negotiated = True
                        self._send(conn, {"return": {}, "id": ident})
                    elif cmd == "human-monitor-command":
                        line_ = msg["arguments"]["command-line"]
                        self._send(conn, {"event": "RTC_CHANGE", "data": {"offset": 0},
                                          "timestamp": {"seconds": 1, "microseconds": 0}})
                        if line_ in self.hmp:
                            self._send(conn, {"return": self.hmp[line_], "id": ident})
                        else:
                            self._send(conn, {"return": f"unknown command: '{line_}'\r\n", "id": ident})
                    elif cmd == "query-status":
                        self._send(conn, {"return": {"status": "running", "running": True}, "id": ident})
                    elif cmd == "quit":
                        self.quit.set()
                        try:        # the client may hang up as soon as it has the reply
                            self._send(conn, {"return": {}, "id": ident})
                            self._send(conn, {"event": "SHUTDOWN", "data": {"guest": False,
                                              "reason": "host-qmp-quit"},
                                              "timestamp": {"seconds": 1, "microseconds": 0}})
                        except OSError:
                            pass
                        return
                    else:
                        self._send(conn, {"error": {"class": "CommandNotFound",
                                                    "desc": f"The command {cmd} has not been found"},
                                          "id": ident})
