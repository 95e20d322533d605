"""An example agent in Python, the twin of examples/agent.ts: asks Countersign before it
"sends an email", then acts only on a verified yes. It listens for the signed callback and
long-polls at the same time, and takes whichever answers first.

    COUNTERSIGN_URL=http://127.0.0.1:8080 COUNTERSIGN_KEY=csk_… COUNTERSIGN_WEBHOOK_SECRET=whsec_… \\
      python3 examples/python_agent.py billing-bot

The key needs scopes intake,read and `--callback-hosts 127.0.0.1` for the loopback callback.
Standard library only (the client is clients/python/countersign); with the `cryptography`
package installed it also checks the decision's Ed25519 receipt.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import sys
import threading
import urllib.request
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))

from countersign import CallbackVerificationError, Client, DecisionTimeout, verify_callback  # noqa: E402


def required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is not set")
    return value


base_url = os.environ.get("COUNTERSIGN_URL", "http://127.0.0.1:8080")
api_key = required("COUNTERSIGN_KEY")
webhook_secret = required("COUNTERSIGN_WEBHOOK_SECRET")
project = sys.argv[1] if len(sys.argv) > 1 else "billing-bot"

countersign = Client(base_url, api_key)
draft = {"to": "ops@acme.example", "subject": "Your invoice", "body": "Hello, the corrected invoice is attached."}

# The receipt key lets the agent check the decision came from Countersign, not just from someone holding the secret.
try:
    import cryptography  # noqa: F401

    with urllib.request.urlopen(f"{base_url}/v1/audit/public-key", timeout=10) as response:
        public_key = json.loads(response.read())["publicKey"]
except ImportError:
    public_key = None
    print("cryptography is not installed: checking callback signatures, not receipts")

decisions: "queue.Queue[str]" = queue.Queue()
callback_seen = threading.Event()
expected_payload_hash = ""


class CallbackHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            event = verify_callback(body, dict(self.headers.items()), webhook_secret, public_key=public_key, expected_payload_hash=expected_payload_hash)
        except CallbackVerificationError as error:
            print(f"refused a callback: {error}", file=sys.stderr)
            self.send_response(401)
            self.end_headers()
            return
        self.send_response(204)
        self.end_headers()
        print(f"callback {event['webhookId']}: {event['data']['status']}")
        decisions.put(event["data"]["status"])
        callback_seen.set()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CallbackHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
callback_url = f"http://127.0.0.1:{server.server_address[1]}/approval"

approval = countersign.request_approval(
    project=project,
    action="send_email",
    summary=f'Send "{draft["subject"]}" to {draft["to"]}',
    payload=draft,
    requested_by="example-python-agent",
    callback_url=callback_url,
)
expected_payload_hash = approval["payloadHash"]
print(f"requested {approval['id']} ({approval['payloadHash']}); waiting for a reviewer", flush=True)


def long_poll() -> None:
    try:
        decisions.put(countersign.wait_for_decision(approval["id"], timeout=10 * 60)["status"])
    except DecisionTimeout:
        # Not approved: no decision in time is a no.
        decisions.put("pending")


threading.Thread(target=long_poll, daemon=True).start()
status = decisions.get()
print(f"approved: sending the email to {draft['to']}" if status == "approved" else f"not sent: {status}", flush=True)
# When the long poll won, the signed callback is on its way: take it (a receiver that is gone
# makes Countersign retry it for a day and then count it dead), but wait no more than 10 s.
callback_seen.wait(timeout=10)
server.shutdown()
sys.exit(0 if status == "approved" else 3)
