"""The Python client against a real Countersign server, started by
test/integration/python-client.test.ts (``npm test``), which passes it in the environment:
COUNTERSIGN_URL, COUNTERSIGN_KEY (intake,read; callbacks to 127.0.0.1),
COUNTERSIGN_WEBHOOK_SECRET, COUNTERSIGN_READ_KEY (read only), COUNTERSIGN_REVIEW_KEY
(a reviewer, alice) and COUNTERSIGN_PROJECT (a local project alice reviews).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import os
import queue
import socket
import sys
import threading
import time
import unittest
import urllib.request
from typing import Any, Dict, Tuple
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from countersign import CallbackVerificationError, Client, CountersignError, DecisionTimeout, payload_hash, verify_callback, verify_receipt  # noqa: E402

NAMES = ["COUNTERSIGN_URL", "COUNTERSIGN_KEY", "COUNTERSIGN_WEBHOOK_SECRET", "COUNTERSIGN_READ_KEY", "COUNTERSIGN_REVIEW_KEY", "COUNTERSIGN_PROJECT"]


def setUpModule() -> None:  # noqa: N802 (unittest's name)
    missing = [name for name in NAMES if not os.environ.get(name)]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not set: these tests run against a server that `npm test` starts (test/integration/python-client.test.ts)")


def env(name: str) -> str:
    return os.environ[name]


def decide(approval_id: str, outcome: str, reason: str = "", payload: Any = None) -> None:
    """A reviewer's decision through the local decision API (``payload``: approve with changes)."""
    body = json.dumps({"outcome": outcome, **({"reason": reason} if reason else {}), **({"payload": payload} if payload is not None else {})}).encode()
    request = urllib.request.Request(f"{env('COUNTERSIGN_URL')}/v1/approvals/{approval_id}/decision", data=body, method="POST")
    request.add_header("Authorization", f"Bearer {env('COUNTERSIGN_REVIEW_KEY')}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status


class FlakyProxy:
    """Stands between the client and the server: answers the first request 503, drops the
    connection of the second without an answer, then forwards every request to the server."""

    def __init__(self, target: str) -> None:
        self.seen = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                proxy.seen += 1
                if proxy.seen == 1:
                    body = b'{"error":{"code":"not_ready","message":"restarting"}}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if proxy.seen == 2:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                request = urllib.request.Request(f"{target}{self.path}", headers={"Authorization": self.headers["Authorization"]})
                with urllib.request.urlopen(request, timeout=70) as response:
                    body = response.read()
                    self.send_response(response.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class CallbackReceiver:
    """The agent's callback endpoint: keeps each request's raw body and headers."""

    def __init__(self) -> None:
        self.received: "queue.Queue[Tuple[bytes, Dict[str, str]]]" = queue.Queue()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.put((body, {name: value for name, value in self.headers.items()}))
                self.send_response(204)
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/approval"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self.client = Client(env("COUNTERSIGN_URL"), env("COUNTERSIGN_KEY"), retry_delay=0.05)
        self.project = env("COUNTERSIGN_PROJECT")

    def test_request_approval_answers_pending_at_once_and_an_idempotency_key_makes_a_retry_the_same_request(self) -> None:
        approval = self.client.request_approval(project=self.project, action="send_email", summary="Send the reply", payload={"to": "ops@acme.example"}, requested_by="python-agent", idempotency_key="py-retry-1")
        self.assertEqual(approval["status"], "pending")
        self.assertEqual(approval["requestedBy"], "python-agent")
        self.assertTrue(approval["payloadHash"].startswith("sha256:"))
        again = self.client.request_approval(project=self.project, action="send_email", summary="Send the reply", payload={"to": "ops@acme.example"}, requested_by="python-agent", idempotency_key="py-retry-1")
        self.assertEqual(again["id"], approval["id"])
        self.assertEqual(self.client.get(approval["id"])["status"], "pending")

    def test_wait_for_decision_returns_once_a_reviewer_decides(self) -> None:
        approval = self.client.request_approval(project=self.project, action="send_email", summary="Wait for me")
        threading.Timer(0.3, decide, args=(approval["id"], "approve", "fine")).start()
        decided = self.client.wait_for_decision(approval["id"], timeout=30)
        self.assertEqual(decided["status"], "approved")
        self.assertEqual(decided["decision"]["by"], ["alice"])
        self.assertEqual(decided["decision"]["reason"], "fine")

    def test_wait_for_decision_returns_the_payload_to_act_on_when_a_reviewer_edited_it(self) -> None:
        approval = self.client.request_approval(project=self.project, action="refund", summary="Refund", payload={"amount": 250, "to": "ops@acme.example"})
        threading.Timer(0.3, decide, args=(approval["id"], "approve", "", {"amount": 90, "to": "ops@acme.example"})).start()
        decided = self.client.wait_for_decision(approval["id"], timeout=30)
        self.assertEqual(decided["status"], "approved")
        self.assertEqual(decided["payload"], {"amount": 90, "to": "ops@acme.example"})
        self.assertEqual(decided["originalPayloadHash"], approval["payloadHash"])
        self.assertEqual(decided["payloadHash"], payload_hash(decided["payload"]))

    def test_a_timeout_is_not_an_approval(self) -> None:
        approval = self.client.request_approval(project=self.project, action="send_email", summary="Nobody decides")
        with self.assertRaises(DecisionTimeout) as raised:
            self.client.wait_for_decision(approval["id"], timeout=1)
        self.assertEqual(raised.exception.approval["id"], approval["id"])
        self.assertEqual(raised.exception.approval["status"], "pending")
        self.client.cancel(approval["id"])

    def test_wait_for_decision_rides_out_a_5xx_and_a_dropped_connection(self) -> None:
        approval = self.client.request_approval(project=self.project, action="send_email", summary="Through a flaky network")
        decide(approval["id"], "reject", "not today")
        proxy = FlakyProxy(env("COUNTERSIGN_URL"))
        try:
            flaky = Client(proxy.url, env("COUNTERSIGN_KEY"), retry_delay=0.05)
            decided = flaky.wait_for_decision(approval["id"], timeout=30)
        finally:
            proxy.close()
        self.assertEqual(decided["status"], "rejected")
        self.assertEqual(proxy.seen, 3)

    def test_refusals_carry_the_apis_status_code_and_message(self) -> None:
        reader = Client(env("COUNTERSIGN_URL"), env("COUNTERSIGN_READ_KEY"))
        with self.assertRaises(CountersignError) as forbidden:
            reader.request_approval(project=self.project, action="send_email", summary="Not allowed")
        self.assertEqual((forbidden.exception.status, forbidden.exception.code, forbidden.exception.message), (403, "forbidden", 'this API key lacks the "intake" scope'))

        with self.assertRaises(CountersignError) as invalid:
            self.client.request_approval(project=self.project, action="send_email", summary="Bad risk", risk="extreme")
        self.assertEqual((invalid.exception.status, invalid.exception.code), (422, "invalid_request"))
        self.assertTrue(invalid.exception.message.startswith("risk: "), invalid.exception.message)

        with self.assertRaises(CountersignError) as unknown:
            self.client.wait_for_decision("apr_00000000000000000000000000", timeout=5)
        self.assertEqual((unknown.exception.status, unknown.exception.code), (404, "not_found"))

        with self.assertRaises(CountersignError) as unreachable:
            Client("http://127.0.0.1:9", env("COUNTERSIGN_KEY")).get("apr_00000000000000000000000000")
        self.assertEqual((unreachable.exception.status, unreachable.exception.code), (503, "unreachable"))
        self.assertNotIn(env("COUNTERSIGN_KEY"), str(unreachable.exception))

    def test_cancel_withdraws_a_pending_request_once(self) -> None:
        approval = self.client.request_approval(project=self.project, action="send_email", summary="Withdraw me")
        self.assertEqual(self.client.cancel(approval["id"])["status"], "cancelled")
        with self.assertRaises(CountersignError) as again:
            self.client.cancel(approval["id"])
        self.assertEqual((again.exception.status, again.exception.code), (409, "not_pending"))


class VerifyCallbackTest(unittest.TestCase):
    """On a real callback from the server: what src/callbacks signs, verify_callback accepts."""

    body: bytes
    headers: Dict[str, str]
    approval: Dict[str, Any]

    @classmethod
    def setUpClass(cls) -> None:
        receiver = CallbackReceiver()
        try:
            client = Client(env("COUNTERSIGN_URL"), env("COUNTERSIGN_KEY"))
            cls.approval = dict(client.request_approval(project=env("COUNTERSIGN_PROJECT"), action="send_email", summary="Call me back", payload={"n": 1.5}, callback_url=receiver.url))
            decide(cls.approval["id"], "approve")
            cls.body, cls.headers = receiver.received.get(timeout=30)
        finally:
            receiver.close()
        with urllib.request.urlopen(f"{env('COUNTERSIGN_URL')}/v1/audit/public-key", timeout=10) as response:
            cls.public_key = json.loads(response.read())["publicKey"]

    def test_an_edited_payload_comes_with_the_callback_and_is_checked_against_the_signed_hash(self) -> None:
        receiver = CallbackReceiver()
        try:
            client = Client(env("COUNTERSIGN_URL"), env("COUNTERSIGN_KEY"))
            approval = client.request_approval(project=env("COUNTERSIGN_PROJECT"), action="refund", summary="Refund", payload={"amount": 250}, callback_url=receiver.url)
            decide(approval["id"], "approve", payload={"amount": 90})
            body, headers = receiver.received.get(timeout=30)
        finally:
            receiver.close()
        secret = env("COUNTERSIGN_WEBHOOK_SECRET")
        # The agent checks against the hash intake answered: the decision is for an edit of that payload.
        event = verify_callback(body, headers, secret, expected_payload_hash=approval["payloadHash"])
        self.assertEqual(event["data"]["payload"], {"amount": 90})
        self.assertEqual(event["data"]["originalPayloadHash"], approval["payloadHash"])
        try:
            import cryptography  # noqa: F401
        except ImportError:
            return
        self.assertTrue(verify_receipt(event["data"], self.public_key))

    def test_accepts_the_servers_signature_and_answers_the_event(self) -> None:
        event = verify_callback(self.body, self.headers, env("COUNTERSIGN_WEBHOOK_SECRET"), expected_payload_hash=self.approval["payloadHash"])
        self.assertEqual(event["type"], "approval.decided")
        self.assertEqual(event["data"]["id"], self.approval["id"])
        self.assertEqual(event["data"]["status"], "approved")
        self.assertEqual(event["webhookId"], self.headers.get("webhook-id") or self.headers.get("Webhook-Id"))
        # The body as text, and headers in any case, read the same.
        verify_callback(self.body.decode(), {name.upper(): value for name, value in self.headers.items()}, env("COUNTERSIGN_WEBHOOK_SECRET"))

    def test_refuses_a_changed_body_another_secret_and_another_payload(self) -> None:
        secret = env("COUNTERSIGN_WEBHOOK_SECRET")
        with self.assertRaisesRegex(CallbackVerificationError, "no matching signature"):
            verify_callback(self.body.replace(b"approved", b"rejected"), self.headers, secret)
        with self.assertRaisesRegex(CallbackVerificationError, "no matching signature"):
            verify_callback(self.body, self.headers, "whsec_" + base64.b64encode(b"another secret of 24 bytes!").decode())
        with self.assertRaisesRegex(CallbackVerificationError, "not sha256:other"):
            verify_callback(self.body, self.headers, secret, expected_payload_hash="sha256:other")
        with self.assertRaisesRegex(CallbackVerificationError, "missing"):
            verify_callback(self.body, {}, secret)

    def test_refuses_a_replay_older_or_newer_than_five_minutes(self) -> None:
        sent_at = int(self.lower("webhook-timestamp"))
        secret = env("COUNTERSIGN_WEBHOOK_SECRET")
        verify_callback(self.body, self.headers, secret, now=sent_at + 299)
        with self.assertRaisesRegex(CallbackVerificationError, "5 minutes"):
            verify_callback(self.body, self.headers, secret, now=sent_at + 301)
        with self.assertRaisesRegex(CallbackVerificationError, "5 minutes"):
            verify_callback(self.body, self.headers, secret, now=sent_at - 301)
        # Re-signed by someone holding the secret with a fresh timestamp, the same body verifies: the window is on the timestamp.
        key = base64.b64decode(secret[len("whsec_"):])
        fresh = str(int(time.time()))
        signature = base64.b64encode(hmac.new(key, f"{self.lower('webhook-id')}.{fresh}.".encode() + self.body, hashlib.sha256).digest()).decode()
        verify_callback(self.body, {"webhook-id": self.lower("webhook-id"), "webhook-timestamp": fresh, "webhook-signature": f"v1,bogus v1,{signature}"}, secret)

    def test_checks_the_ed25519_receipt_when_cryptography_is_installed(self) -> None:
        try:
            import cryptography  # noqa: F401
        except ImportError:
            self.skipTest("the cryptography package is not installed: receipts are checked only with it (pip install cryptography)")
        secret = env("COUNTERSIGN_WEBHOOK_SECRET")
        event = verify_callback(self.body, self.headers, secret, public_key=self.public_key)
        self.assertTrue(verify_receipt(event["data"], self.public_key))
        forged = {**event["data"], "status": "rejected"}
        self.assertFalse(verify_receipt(forged, self.public_key))

    def test_says_clearly_that_a_receipt_check_needs_cryptography(self) -> None:
        blocked = {name: None for name in ("cryptography", "cryptography.exceptions", "cryptography.hazmat.primitives.asymmetric.ed25519", "cryptography.hazmat.primitives.serialization")}
        with mock.patch.dict(sys.modules, blocked):
            with self.assertRaisesRegex(CallbackVerificationError, r"needs the cryptography package \(pip install cryptography\)"):
                verify_callback(self.body, self.headers, env("COUNTERSIGN_WEBHOOK_SECRET"), public_key=self.public_key)

    def lower(self, name: str) -> str:
        return next(value for key, value in self.headers.items() if key.lower() == name)


if __name__ == "__main__":
    unittest.main()
