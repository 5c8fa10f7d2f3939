"""Standard Webhooks signatures: HMAC-SHA256 over `id.timestamp.body`, base64, prefixed `v1,`.

Any Standard Webhooks verifier (the `standardwebhooks` libraries, Svix's) accepts
them. During a secret rotation the header carries one signature per valid
secret, separated by a space: receivers holding either secret verify.
"""

import base64
import hashlib
import hmac

from .models import SECRET_PREFIX


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret_bytes(secret), f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: list[str], event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, event_id, timestamp, body) for s in secrets),
    }
