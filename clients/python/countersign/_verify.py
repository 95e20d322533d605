"""Checking a decision callback: the Standard Webhooks signature, then the Ed25519 receipt."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import time
from typing import Any, Dict, Mapping, Optional, Union

#: Standard Webhooks: a timestamp further than this from now (either way) is refused, against replays.
TOLERANCE_SECONDS = 5 * 60


class CallbackVerificationError(Exception):
    """The callback is not one to act on: forged, replayed, for another payload, or unreadable."""


def verify_callback(
    body: Union[str, bytes],
    headers: Mapping[str, str],
    secret: str,
    *,
    public_key: Optional[str] = None,
    expected_payload_hash: Optional[str] = None,
    now: Optional[float] = None,
) -> Dict[str, Any]:
    """Checks a callback before the agent acts on it and returns the event (with ``webhookId``).

    The Standard Webhooks signature (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature: v1,<base64 HMAC-SHA256>``) with the key's ``whsec_…`` secret, over
    the body exactly as received, compared in constant time; the timestamp within ±5 minutes;
    then, when given, the payload hash the agent was answered at intake, and the Ed25519
    receipt with Countersign's public key (PEM from ``GET /v1/audit/public-key``), which
    needs the ``cryptography`` package.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    flat = {name.lower(): value for name, value in headers.items()}
    webhook_id = flat.get("webhook-id")
    timestamp = flat.get("webhook-timestamp")
    signatures = flat.get("webhook-signature")
    if not webhook_id or not timestamp or not signatures:
        raise CallbackVerificationError("signature check failed: missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise CallbackVerificationError("signature check failed: webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > TOLERANCE_SECONDS:
        raise CallbackVerificationError("signature check failed: webhook-timestamp is more than 5 minutes from now")

    expected = base64.b64encode(hmac.new(_secret_bytes(secret), webhook_id.encode("utf-8") + b"." + timestamp.encode("utf-8") + b"." + raw, hashlib.sha256).digest())
    # Several signatures may be sent, space-separated, during a secret rotation; any v1 may match.
    matched = False
    for candidate in signatures.split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode("utf-8"), expected):
            matched = True
    if not matched:
        raise CallbackVerificationError("signature check failed: no matching signature (is the secret the one `keys create` showed?)")

    try:
        event = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CallbackVerificationError(f"invalid callback: {error}") from None
    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(event, dict) or event.get("type") != "approval.decided" or not isinstance(data, dict):
        raise CallbackVerificationError("not an approval.decided event")
    # Approved with changes: the decision is for an edit of the agent's payload (whose hash is
    # originalPayloadHash), and the edited payload carried must hash to the signed payloadHash.
    sent_hash = data.get("originalPayloadHash", data.get("payloadHash"))
    if expected_payload_hash is not None and sent_hash != expected_payload_hash:
        raise CallbackVerificationError(f"decision is for payload {sent_hash}, not {expected_payload_hash}")
    if "payload" in data and payload_hash(data["payload"]) != data.get("payloadHash"):
        raise CallbackVerificationError(f"the edited payload carried does not hash to the signed payloadHash {data.get('payloadHash')}")
    if public_key is not None and not verify_receipt(data, public_key):
        raise CallbackVerificationError("receipt signature does not verify with the given public key")
    return {**event, "webhookId": webhook_id}


def verify_receipt(data: Mapping[str, Any], public_key: str) -> bool:
    """Whether ``data["receipt"]["signature"]`` is Countersign's Ed25519 signature over the
    RFC 8785 canonical JSON of ``data`` without ``receipt``. Needs ``cryptography``; raises
    ``CallbackVerificationError`` saying so when it is not installed."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError:
        raise CallbackVerificationError(
            "checking the receipt needs the cryptography package (pip install cryptography); "
            "without it, call verify_callback without public_key: the signature and timestamp are still checked"
        ) from None
    key = load_pem_public_key(public_key.encode("utf-8"))
    if not isinstance(key, Ed25519PublicKey):
        raise CallbackVerificationError("public_key is not an Ed25519 key (take it from GET /v1/audit/public-key)")
    receipt = data.get("receipt")
    if not isinstance(receipt, dict) or not isinstance(receipt.get("signature"), str):
        return False
    # The edited payload is not signed itself: its hash, payloadHash, is.
    unsigned = {name: value for name, value in data.items() if name not in ("receipt", "payload")}
    try:
        key.verify(base64.b64decode(receipt["signature"], validate=True), canonical_json(unsigned).encode("utf-8"))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def payload_hash(payload: Any) -> str:
    """Countersign's hash of a payload: ``sha256:`` + hex SHA-256 of its RFC 8785 canonical JSON."""
    return "sha256:" + hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _secret_bytes(secret: str) -> bytes:
    """A Standard Webhooks secret: ``whsec_`` + base64 of the key bytes."""
    encoded = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise CallbackVerificationError("the secret is not a whsec_… secret (base64 after the prefix)") from None


def canonical_json(value: Any) -> str:
    """RFC 8785 (JCS) canonical JSON, as the server signs it: keys sorted by UTF-16 code
    units, no whitespace, strings with JSON's minimal escapes, numbers as ECMAScript prints them."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _es_number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(item) for item in value) + "]"
    if isinstance(value, Mapping):
        keys = sorted(value.keys(), key=lambda key: str(key).encode("utf-16-be"))
        return "{" + ",".join(json.dumps(str(key), ensure_ascii=False) + ":" + canonical_json(value[key]) for key in keys) + "}"
    raise TypeError(f"{type(value).__name__} has no JSON form")


def _es_number(number: float) -> str:
    """ECMAScript's Number.prototype.toString for a finite double (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(number):
        raise ValueError("JSON has no Infinity or NaN")
    if number == 0:
        return "0"
    # repr is the shortest round-tripping form, as ECMAScript's; only the layout differs.
    digits, exponent = _digits_and_exponent(repr(abs(number)))
    sign = "-" if number < 0 else ""
    n = exponent + len(digits)  # the decimal point sits after n digits
    if len(digits) <= n <= 21:
        return sign + digits + "0" * (n - len(digits))
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def _digits_and_exponent(text: str) -> "tuple[str, int]":
    """``'1.25e-07'`` -> ``('125', -9)``: significant digits, and the power of ten of the last one."""
    mantissa, _, exp = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    exponent = (int(exp) if exp else 0) - len(fraction)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    return stripped or "0", exponent
