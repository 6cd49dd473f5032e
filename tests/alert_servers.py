"""Real servers that alert tests deliver to: an SMTP server (aiosmtpd) and an HTTP
receiver (http.server), each on a fixed localhost port so it can be stopped and
started again where the sender expects it."""

from __future__ import annotations

import base64
import email
import json
import socket
import threading
import time
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """aiosmtpd on 127.0.0.1:port; ``messages`` are parsed emails (kept across restarts).

    With ``users`` ({name: password}) it requires AUTH LOGIN/PLAIN (over plain text:
    tests only). ``on_message`` is called with each message as it arrives."""

    def __init__(self, users: dict[str, str] | None = None, on_message=None):
        self.port = free_port()
        self.users = users
        self.on_message = on_message
        self.messages: list[Message] = []
        self.arrived: list[float] = []  # time.time() of each message
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        msg = email.message_from_bytes(envelope.content)
        self.messages.append(msg)
        self.arrived.append(time.time())
        if self.on_message:
            self.on_message(msg)
        return "250 OK"

    def _auth(self, server, session, envelope, mechanism, auth_data):
        ok = self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpServer:
        kwargs = {}
        if self.users is not None:
            kwargs = {"authenticator": self._auth, "auth_required": True, "auth_require_tls": False}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def attachments(msg: Message) -> list[tuple[str, bytes, str]]:
    return [
        (part.get_filename(), part.get_payload(decode=True), part.get_content_type())
        for part in msg.walk()
        if part.get_filename()
    ]


class HttpReceiver:
    """An HTTP server on 127.0.0.1:port recording every POST: ``posts`` are dicts with
    path, headers, body (bytes), json (or None), form (multipart/urlencoded fields)."""

    def __init__(self, status: int = 200):
        self.port = free_port()
        self.status = status
        self.posts: list[dict] = []
        self.arrived: list[float] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ctype = self.headers.get("Content-Type", "")
                post = {"path": self.path, "headers": dict(self.headers), "body": body}
                post["json"] = json.loads(body) if ctype.startswith("application/json") else None
                if ctype.startswith("multipart/form-data"):
                    msg = email.message_from_bytes(
                        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
                    )
                    post["form"] = {
                        part.get_param("name", header="content-disposition"): part.get_payload(
                            decode=True
                        )
                        for part in msg.get_payload()
                    }
                receiver.posts.append(post)
                receiver.arrived.append(time.time())
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def basic_auth(post: dict) -> tuple[str, str]:
    user, _, password = (
        base64.b64decode(post["headers"]["Authorization"].split()[1]).decode().partition(":")
    )
    return user, password


def wait_for(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
