"""Webhook signature verification: a pure function of (raw body, headers, secret, now).

Wisenet publishes no signature format (`wisenet-api.md` §5.4), so the mode is a setting:

- `standard-webhooks`: `webhook-id`, `webhook-timestamp` and `webhook-signature` (or their
  `svix-*` aliases); HMAC-SHA256 of `id.timestamp.body` with the secret (`whsec_` stripped,
  base64-decoded when it is base64, else its raw bytes); any one `v1,` signature of several
  may match (secret rotation); the timestamp within 5 minutes of now, either way.
- `hmac-sha256`: HMAC-SHA256 of the body in a configured header, hex or base64, after an
  optional prefix such as `sha256=`.
- `shared-token`: a configured header equals the secret.
- `none`: nothing is checked (development only; the settings refuse it otherwise).

Every mode but `none` needs a secret worth at least `MIN_SECRET_BYTES` bytes of key: the decoded
key for `standard-webhooks` (`whsec_` alone is an empty key), the UTF-8 bytes of the secret
otherwise. A weaker secret cannot be configured, so a forger cannot guess the key.

Every malformed input is a `SignatureError` with a stable code, never another exception; all
comparisons of secrets and signatures are constant-time (`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

SignatureMode = Literal["standard-webhooks", "hmac-sha256", "shared-token", "none"]
DEFAULT_HEADERS = {"hmac-sha256": "x-wisenet-signature", "shared-token": "x-wisenet-token"}
TOLERANCE = timedelta(minutes=5)
MAX_ID_LENGTH = 256
MAX_SIGNATURES = 16
MIN_SECRET_BYTES = 16  # 128 bits; Svix's own whsec_ secrets carry 24


class SignatureError(Exception):
    """The request is not signed as configured; `code` is stable, the message names no value."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class VerifierConfig:
    """How deliveries are signed (from the `CONNECTOR_WEBHOOK_*` settings)."""

    mode: SignatureMode
    secret: str | None = None
    header: str | None = None
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    tolerance: timedelta = TOLERANCE

    def __post_init__(self) -> None:
        if self.mode == "none":
            return
        if not self.secret:
            raise ValueError(f"webhook signature mode '{self.mode}' needs a secret")
        weakness = secret_weakness(self.mode, self.secret)
        if weakness is not None:
            raise ValueError(weakness)

    @property
    def header_name(self) -> str:
        """The header that carries the signature or token (hmac-sha256, shared-token)."""
        return (self.header or DEFAULT_HEADERS.get(self.mode, "")).lower()


@dataclass(frozen=True)
class Verified:
    """A delivery that passed verification; `delivery_id` is the sender's message id, if any."""

    delivery_id: str | None


def verify(
    body: bytes, headers: Iterable[tuple[str, str]], config: VerifierConfig, now: datetime
) -> Verified:
    """Check one delivery's signature; raise SignatureError when it does not hold."""
    found = _lowered(headers)
    if config.mode == "standard-webhooks":
        return _standard_webhooks(body, found, config, now)
    if config.mode == "hmac-sha256":
        _hmac_sha256(body, found, config)
        return Verified(None)
    if config.mode == "shared-token":
        _shared_token(found, config)
        return Verified(None)
    return Verified(None)


def key_material(mode: SignatureMode, secret: str) -> bytes:
    """The key `secret` gives `mode`: the decoded key for Standard Webhooks, else its bytes."""
    if mode == "standard-webhooks":
        return standard_webhooks_key(secret)
    return secret.encode()


def secret_weakness(mode: SignatureMode, secret: str) -> str | None:
    """Why `secret` is too weak for `mode` (never quoting it), or None when it is strong enough."""
    length = len(key_material(mode, secret))
    if length >= MIN_SECRET_BYTES:
        return None
    what = "decodes to" if mode == "standard-webhooks" else "has"
    hint = (
        " (whsec_ followed by the base64 of the key, as Wisenet's Webhooks app shows it)"
        if mode == "standard-webhooks"
        else ""
    )
    return (
        f"the secret {what} {length} byte(s) of key; signature mode '{mode}' needs at least "
        f"{MIN_SECRET_BYTES}{hint}"
    )


def standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: `whsec_` stripped, base64-decoded if it is."""
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        return raw.encode()


def _lowered(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names lower-cased; the first of repeated headers wins."""
    found: dict[str, str] = {}
    for name, value in headers:
        found.setdefault(name.lower(), value)
    return found


def _standard_webhooks(
    body: bytes, headers: dict[str, str], config: VerifierConfig, now: datetime
) -> Verified:
    message_id = _either(headers, "webhook-id", "svix-id")
    stamp = _either(headers, "webhook-timestamp", "svix-timestamp")
    signatures = _either(headers, "webhook-signature", "svix-signature")
    if not message_id.isascii() or not message_id.isprintable() or len(message_id) > MAX_ID_LENGTH:
        raise SignatureError("malformed_signature", "webhook-id is not a printable ASCII id")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise SignatureError("malformed_signature", "webhook-timestamp is not Unix seconds")
    sent = int(stamp)
    if abs(now.timestamp() - sent) > config.tolerance.total_seconds():
        raise SignatureError(
            "timestamp_out_of_tolerance",
            f"webhook-timestamp is more than {int(config.tolerance.total_seconds())} s from now",
        )
    key = standard_webhooks_key(config.secret or "")
    content = message_id.encode() + b"." + stamp.encode() + b"." + body
    expected = hmac.new(key, content, hashlib.sha256).digest()
    candidates = signatures.split()
    if not candidates or len(candidates) > MAX_SIGNATURES:
        raise SignatureError("malformed_signature", "webhook-signature holds no signatures")
    matched = False
    for candidate in candidates:
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        given = _b64(encoded)
        # Every candidate is compared, so the time taken does not say which one matched.
        matched |= given is not None and hmac.compare_digest(expected, given)
    if not matched:
        raise SignatureError("bad_signature", "no webhook-signature matches the body")
    return Verified(message_id)


def _hmac_sha256(body: bytes, headers: dict[str, str], config: VerifierConfig) -> None:
    name = config.header_name
    value = headers.get(name)
    if not value:
        raise SignatureError("missing_signature", f"header {name} is missing")
    prefix = config.prefix
    if prefix:
        if value[: len(prefix)].lower() != prefix.lower():
            raise SignatureError("malformed_signature", f"header {name} lacks its prefix")
        value = value[len(prefix) :]
    given = _hex(value.strip()) if config.encoding == "hex" else _b64(value.strip())
    expected = hmac.new((config.secret or "").encode(), body, hashlib.sha256).digest()
    if given is None:
        raise SignatureError("malformed_signature", f"header {name} is not {config.encoding}")
    if not hmac.compare_digest(expected, given):
        raise SignatureError("bad_signature", f"header {name} does not match the body")


def _shared_token(headers: dict[str, str], config: VerifierConfig) -> None:
    name = config.header_name
    value = headers.get(name)
    if not value:
        raise SignatureError("missing_signature", f"header {name} is missing")
    if not hmac.compare_digest(_raw(value), (config.secret or "").encode()):
        raise SignatureError("bad_signature", f"header {name} does not hold the shared token")


def _either(headers: dict[str, str], name: str, alias: str) -> str:
    value = headers.get(name, headers.get(alias))
    if value is None or not value.strip():
        raise SignatureError("missing_signature", f"header {name} (or {alias}) is missing")
    return value.strip()


def _raw(value: str) -> bytes:
    """A header value's bytes (ASGI servers decode header bytes as Latin-1)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(_raw(value), validate=True)
    except (binascii.Error, ValueError):
        return None


def _hex(value: str) -> bytes | None:
    try:
        return bytes.fromhex(value) if value.isascii() else None
    except ValueError:
        return None
