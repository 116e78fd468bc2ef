"""One ECR connection's protocol state, sans I/O: authenticate first, then hand requests on.

The I/O shell feeds bytes and the clock in, and carries out the returned actions (send bytes, run
a request, close). Rules:
- the first request must be `hello` with the token, within the hello deadline (5 s);
- anything before it gets UNAUTHORIZED; a wrong token gets UNAUTHORIZED and the connection closes
  (`Refuse`: the shell holds that answer back as its throttle says, so guessing is slow, while the
  right token is answered at once);
- a line that looks like HTTP closes the connection (a browser or proxy is talking to the wrong port);
- malformed lines get their error code and the connection stays usable.

The same rules serve the WebSocket transport (`agent.ecr.websocket`), which hands over whole messages
(`message`) instead of bytes, checks tokens its own way (`check_token`: origin tokens, bound to the
page's origin) and lets a page send `pair` with a one-time code before its hello (`Pair`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .framing import Line, LineFramer, Oversized, looks_like_http
from .messages import ErrorCode, ProtocolError, Request, error_response, ok_response, parse_request

HELLO_DEADLINE_SECONDS = 5.0


@dataclass(frozen=True)
class Send:
    data: bytes


@dataclass(frozen=True)
class Handle:
    """An authenticated request for the agent to serve."""

    request: Request


@dataclass(frozen=True)
class Authenticated:
    """`hello` succeeded: the shell answers it (with replay from `last_seq`) and starts sending events."""

    request: Request
    client: str
    last_seq: int | None
    epoch: str | None


@dataclass(frozen=True)
class Close:
    reason: str


@dataclass(frozen=True)
class Refuse:
    """A wrong token: send `data` (UNAUTHORIZED) once the shell's throttle delay is over, then close."""

    data: bytes
    reason: str


@dataclass(frozen=True)
class Pair:
    """A web page sends its one-time pairing code (before hello); the shell answers it."""

    request: Request
    code: str


Action = Send | Handle | Authenticated | Close | Refuse | Pair

# A token check: None when the token is accepted, else the refusal's message.
TokenCheck = Callable[[str], str | None]


class State(Enum):
    AWAITING_HELLO = "awaiting_hello"
    READY = "ready"
    CLOSED = "closed"


class Session:
    def __init__(self, token: str, opened_at: float, *, hello_deadline: float = HELLO_DEADLINE_SECONDS,
                 check_token: TokenCheck | None = None, pairing: bool = False) -> None:
        self._token = token.encode("utf-8")
        self._check_token = check_token or self._shared_token
        self._pairing = pairing
        self._framer = LineFramer()
        self.state = State.AWAITING_HELLO
        self.deadline = opened_at + hello_deadline

    def receive(self, data: bytes) -> list[Action]:
        actions: list[Action] = []
        for frame in self._framer.feed(data):
            if self.state is State.CLOSED:
                break
            if isinstance(frame, Oversized):
                actions.append(Send(error_response(None, ErrorCode.BAD_REQUEST,
                                                   f"line longer than {frame.limit} bytes")))  # fmt: skip
                continue
            actions.extend(self._line(frame))
        return actions

    def message(self, data: bytes) -> list[Action]:
        """One whole message (a WebSocket text message): no line framing, no HTTP sniffing."""
        if self.state is State.CLOSED:
            return []
        return self._request(data)

    def tick(self, now: float) -> list[Action]:
        """Called by the shell's timer: enforce the hello deadline."""
        if self.state is State.AWAITING_HELLO and now >= self.deadline:
            self.state = State.CLOSED
            return [Send(error_response(None, ErrorCode.UNAUTHORIZED, "no hello within the deadline")),
                    Close("hello deadline")]  # fmt: skip
        return []

    def _line(self, line: Line) -> list[Action]:
        if looks_like_http(line.data):
            self.state = State.CLOSED
            return [Close("HTTP request on the ECR port")]
        return self._request(line.data)

    def _request(self, data: bytes) -> list[Action]:
        try:
            request = parse_request(data)
        except ProtocolError as exc:
            return [Send(error_response(exc.id, exc.code, exc.message))]
        if self.state is State.READY:
            if request.op == "hello":
                return [Send(error_response(request.id, ErrorCode.BAD_REQUEST, "already authenticated"))]
            return [Handle(request)]
        if request.op == "pair" and self._pairing:
            code = request.body.get("code")
            if not isinstance(code, str) or not 0 < len(code) <= 32:
                return [Send(error_response(request.id, ErrorCode.BAD_REQUEST, "pair needs body.code, the code shown "
                                                                               "by posagent ecr pair"))]  # fmt: skip
            return [Pair(request, code)]
        if request.op != "hello":
            return [Send(error_response(request.id, ErrorCode.UNAUTHORIZED, "send hello with the token first"))]
        return self._hello(request)

    def _hello(self, request: Request) -> list[Action]:
        token = request.body.get("token")
        refusal = self._check_token(token) if isinstance(token, str) else "wrong token"
        if refusal is not None:
            self.state = State.CLOSED
            return [Refuse(error_response(request.id, ErrorCode.UNAUTHORIZED, refusal), refusal)]
        last_seq = request.body.get("last_seq")
        if last_seq is not None and (isinstance(last_seq, bool) or not isinstance(last_seq, int) or last_seq < 0):
            return [Send(error_response(request.id, ErrorCode.BAD_REQUEST, "last_seq must be a non-negative integer"))]
        epoch = request.body.get("epoch")
        client = request.body.get("client")
        self.state = State.READY
        return [Authenticated(request, _client_name(client), last_seq,
                              epoch if isinstance(epoch, str) else None)]  # fmt: skip


    def _shared_token(self, token: str) -> str | None:
        return None if hmac.compare_digest(token.encode("utf-8"), self._token) else "wrong token"


def _client_name(value: object) -> str:
    """The till's name for the log, if it is a plain short name; anything else is ignored, not refused
    (a name must not cost a till its connection, nor put control characters in a log line)."""
    if not isinstance(value, str) or len(value) > 64 or not value.isprintable():
        return ""
    return value


def hello_ok(request: Request, *, epoch: str, seq: int, agent_version: str, replayed: int, gap: bool) -> bytes:
    """The answer to `hello`: where the event stream stands and whether a replay was complete."""
    return ok_response(request.id, {"epoch": epoch, "seq": seq, "agent_version": agent_version,
                                    "replayed": replayed, "gap": gap})  # fmt: skip
