"""The HTTP API client: ``POST /v1/approvals``, ``GET /v1/approvals/{id}?wait=``, cancel."""

from __future__ import annotations

import json
import math
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, List, Mapping, Optional

# total=False rather than NotRequired, which is Python 3.11+.
from typing import Literal, TypedDict

Status = Literal["pending", "approved", "rejected", "expired", "cancelled"]

#: The server holds a long poll at most this long (``GET /v1/approvals/{id}?wait=``).
MAX_WAIT_SECONDS = 60


class Ticket(TypedDict):
    provider: str
    key: str
    url: str


class Decision(TypedDict):
    outcome: Literal["approved", "rejected", "expired"]
    by: List[str]
    at: str
    reason: Optional[str]


class Approval(TypedDict, total=False):
    """An approval as the API answers it (``GET /openapi.json``, schema ``Approval``)."""

    id: str
    status: Status
    project: str
    action: str
    summary: str
    risk: Literal["low", "medium", "high"]
    labels: List[str]
    requestedBy: Optional[str]
    payloadHash: str
    #: Set once a reviewer approved with changes: the hash of the payload the agent sent.
    originalPayloadHash: str
    #: On ``get`` and ``wait_for_decision``: the payload to act on (a reviewer's edit, if any; its hash is ``payloadHash``).
    payload: Any
    requiredApprovals: int
    createdAt: str
    ticket: Optional[Ticket]
    decision: Optional[Decision]
    escalationTier: int
    batchId: Optional[str]


class CountersignError(Exception):
    """The API refused a request: its HTTP ``status``, its stable ``code`` and its ``message``.

    ``status`` is 503 and ``code`` ``"unreachable"`` when the server could not be reached at all.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class DecisionTimeout(TimeoutError):
    """No decision within the time given: the approval is still pending, which is NOT approved."""

    def __init__(self, approval: Approval) -> None:
        super().__init__(f"approval {approval.get('id')} is still {approval.get('status')}")
        self.approval = approval


def _camel(name: str) -> str:
    """``requested_by`` -> ``requestedBy``: the API's field names from Python keyword arguments."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Client:
    """A client of one Countersign server with one API key (scopes ``intake`` and ``read``).

    :param base_url: where the server listens, e.g. ``http://127.0.0.1:8080``
    :param api_key: a ``csk_…`` key from ``countersign keys create``
    :param retry_delay: the first pause (seconds) before ``wait_for_decision`` retries after a
        network error or a 5xx; it doubles up to 30 s
    """

    def __init__(self, base_url: str, api_key: str, *, retry_delay: float = 0.5, request_timeout: float = 30.0) -> None:
        if not api_key:
            raise ValueError("api_key is empty: pass a csk_… key from `countersign keys create`")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._retry_delay = retry_delay
        self._request_timeout = request_timeout

    def __repr__(self) -> str:  # never the key
        return f"Client({self.base_url!r})"

    def request_approval(self, *, idempotency_key: Optional[str] = None, **fields: Any) -> Approval:
        """Files a request (``project``, ``action``, ``summary`` required; ``details``,
        ``payload``, ``risk``, ``labels``, ``requested_by``, ``callback_url`` optional) and
        answers the pending approval at once. With ``idempotency_key``, a retry of the same
        request (after a network error, say) returns the same approval instead of a second one.
        """
        body = {_camel(name): value for name, value in fields.items()}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
        return self._call("POST", "/v1/approvals", body=body, headers=headers)

    def get(self, approval_id: str, *, wait: float = 0) -> Approval:
        """The approval; with ``wait`` (seconds, at most 60) one long poll that answers as soon
        as it is decided, or still pending when the time is up."""
        path = f"/v1/approvals/{urllib.parse.quote(approval_id, safe='')}"
        seconds = int(max(0, min(MAX_WAIT_SECONDS, wait)))
        if seconds > 0:
            path += f"?wait={seconds}"
        return self._call("GET", path, timeout=self._request_timeout + seconds)

    def cancel(self, approval_id: str) -> Approval:
        """Withdraws a pending request (only the key that asked, or an admin key, may)."""
        return self._call("POST", f"/v1/approvals/{urllib.parse.quote(approval_id, safe='')}/cancel")

    def wait_for_decision(self, approval_id: str, *, timeout: Optional[float] = None, sleep: Callable[[float], None] = time.sleep) -> Approval:
        """Long-polls until the approval leaves ``pending`` and returns it; rides out network
        errors, 5xx and 429 (a restarting server) with backoff. Raises ``DecisionTimeout``
        after ``timeout`` seconds (default: wait for ever), and ``CountersignError`` at once
        for a 4xx that retrying will not cure (unknown id, revoked key)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = self._retry_delay
        last: Optional[Approval] = None
        while True:
            # Whole seconds, rounded up: a wait of 0 answers at once, and a loop of those would spin.
            left = MAX_WAIT_SECONDS if deadline is None else math.ceil(deadline - time.monotonic())
            try:
                last = self.get(approval_id, wait=max(0, min(MAX_WAIT_SECONDS, left)))
                delay = self._retry_delay
                if last.get("status") != "pending":
                    return last
            except CountersignError as error:
                if error.status < 500 and error.status != 429:
                    raise
                if deadline is not None and time.monotonic() + delay >= deadline:
                    break
                sleep(delay)
                delay = min(delay * 2, 30.0)
            if deadline is not None and time.monotonic() >= deadline:
                break
        raise DecisionTimeout(last if last is not None else {"id": approval_id, "status": "pending"})

    def _call(self, method: str, path: str, *, body: Optional[Mapping[str, Any]] = None, headers: Optional[Mapping[str, str]] = None, timeout: Optional[float] = None) -> Approval:
        data = None if body is None else json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._api_key}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self._request_timeout) as response:
                answer: Dict[str, Any] = json.loads(response.read().decode("utf-8"))
                return answer  # type: ignore[return-value]
        except urllib.error.HTTPError as error:
            raise _api_error(error) from None
        except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError, json.JSONDecodeError) as error:
            reason = getattr(error, "reason", error)
            raise CountersignError(503, "unreachable", f"could not reach Countersign at {self.base_url} ({reason})") from error


def _api_error(error: urllib.error.HTTPError) -> CountersignError:
    """The contract's error body ``{"error": {"code", "message"}}``, or the bare status."""
    try:
        parsed = json.loads(error.read().decode("utf-8"))
        detail = parsed["error"]
        return CountersignError(error.code, str(detail["code"]), str(detail["message"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return CountersignError(error.code, "http_error", str(error.reason))
