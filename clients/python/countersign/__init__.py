"""Countersign for Python agents: ask people to approve an action, wait for their decision,
and check a decision callback. Standard library only (Python 3.9+); checking a callback's
Ed25519 receipt uses the ``cryptography`` package when it is installed.

Example::

    from countersign import Client

    countersign = Client("http://127.0.0.1:8080", os.environ["COUNTERSIGN_KEY"])
    approval = countersign.request_approval(
        project="billing-bot", action="send_email", summary="Send the reply to ACME",
        payload=draft, idempotency_key=f"reply-{ticket_id}",
    )
    decided = countersign.wait_for_decision(approval["id"], timeout=15 * 60)
    if decided["status"] == "approved":
        send(draft)

Only ``status == "approved"`` means go ahead. A timeout (``DecisionTimeout``) is *not* an
approval: the request is still pending, and the agent must not act on it.
"""

from ._client import Approval, Client, CountersignError, Decision, DecisionTimeout, Ticket
from ._verify import CallbackVerificationError, canonical_json, payload_hash, verify_callback, verify_receipt

__all__ = [
    "Approval",
    "CallbackVerificationError",
    "Client",
    "CountersignError",
    "Decision",
    "DecisionTimeout",
    "Ticket",
    "canonical_json",
    "payload_hash",
    "verify_callback",
    "verify_receipt",
]
