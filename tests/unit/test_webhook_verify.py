"""Webhook signature verification in every mode, as a pure function of its inputs."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from connector.webhooks.verify import (
    MIN_SECRET_BYTES,
    SignatureError,
    Verified,
    VerifierConfig,
    standard_webhooks_key,
    verify,
)

# The Standard Webhooks specification's published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
VECTOR_NOW = datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC)
STANDARD = VerifierConfig("standard-webhooks", VECTOR_SECRET)
NOW = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
BODY = (
    b'{"AccountNumber":"ACME01","RecordId":88213,"EntityName":"CourseEnrolment","Event":"Updated"}'
)


def vector_headers(**changes: str) -> list[tuple[str, str]]:
    """The vector's headers, with some replaced."""
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    headers.update(changes)
    return list(headers.items())


def signed_by_library(
    secret: str, body: bytes, when: datetime, msg_id: str = "msg_1"
) -> dict[str, str]:
    """Headers signed by the Standard Webhooks reference library (an independent signer)."""
    signature = Webhook(secret).sign(msg_id, when, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }


def refused(
    body: bytes, headers: list[tuple[str, str]], config: VerifierConfig, now: datetime
) -> str:
    """The code verification refuses with (fails the test when it accepts)."""
    with pytest.raises(SignatureError) as caught:
        verify(body, headers, config, now)
    return caught.value.code


def test_the_published_vector_verifies_and_yields_the_message_id() -> None:
    """The specification's own vector passes; the message id becomes the delivery id."""
    assert verify(VECTOR_BODY, vector_headers(), STANDARD, VECTOR_NOW) == Verified(VECTOR_ID)


def test_the_svix_header_names_are_accepted_as_aliases() -> None:
    """`svix-id`, `svix-timestamp` and `svix-signature` work like the `webhook-*` headers."""
    headers = [(name.replace("webhook-", "svix-"), value) for name, value in vector_headers()]
    assert verify(VECTOR_BODY, headers, STANDARD, VECTOR_NOW).delivery_id == VECTOR_ID


def test_header_names_are_case_insensitive() -> None:
    """HTTP header names carry no case."""
    headers = [(name.upper(), value) for name, value in vector_headers()]
    assert verify(VECTOR_BODY, headers, STANDARD, VECTOR_NOW).delivery_id == VECTOR_ID


@pytest.mark.parametrize(
    "body",
    [b'{"test": 2432232315}', b'{"test": 2432232314} ', b"", VECTOR_BODY[:-1]],
    ids=["changed-digit", "trailing-space", "empty", "truncated"],
)
def test_a_tampered_body_is_refused(body: bytes) -> None:
    """Any change to the body breaks the signature."""
    assert refused(body, vector_headers(), STANDARD, VECTOR_NOW) == "bad_signature"


def test_a_changed_id_or_timestamp_breaks_the_signature() -> None:
    """Both are part of the signed content."""
    assert (
        refused(VECTOR_BODY, vector_headers(**{"webhook-id": "msg_other"}), STANDARD, VECTOR_NOW)
        == "bad_signature"
    )
    shifted = vector_headers(**{"webhook-timestamp": str(VECTOR_TIMESTAMP + 1)})
    assert refused(VECTOR_BODY, shifted, STANDARD, VECTOR_NOW) == "bad_signature"


@pytest.mark.parametrize("offset", [301, -301, 86_400, -86_400])
def test_timestamps_more_than_five_minutes_away_are_refused_both_ways(offset: int) -> None:
    """Stale and future timestamps are refused even with a valid signature."""
    now = VECTOR_NOW + timedelta(seconds=offset)
    assert refused(VECTOR_BODY, vector_headers(), STANDARD, now) == "timestamp_out_of_tolerance"


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_timestamps_within_five_minutes_are_accepted(offset: int) -> None:
    """The tolerance is inclusive at five minutes."""
    now = VECTOR_NOW + timedelta(seconds=offset)
    assert verify(VECTOR_BODY, vector_headers(), STANDARD, now).delivery_id == VECTOR_ID


def test_any_one_of_several_signatures_may_match_for_a_rotation() -> None:
    """During a rotation the header carries signatures by the old and the new secret."""
    old = VerifierConfig(
        "standard-webhooks", "whsec_" + base64.b64encode(b"old-secret-rotated-out").decode()
    )
    other = signed_by_library(old.secret or "", VECTOR_BODY, VECTOR_NOW, VECTOR_ID)
    both = f"{other['webhook-signature']} {VECTOR_SIGNATURE}"
    headers = vector_headers(**{"webhook-signature": both})
    assert verify(VECTOR_BODY, headers, STANDARD, VECTOR_NOW).delivery_id == VECTOR_ID
    assert verify(VECTOR_BODY, headers, old, VECTOR_NOW).delivery_id == VECTOR_ID
    unknown = VerifierConfig(
        "standard-webhooks", "whsec_" + base64.b64encode(b"new-secret-not-yet-live").decode()
    )
    assert refused(VECTOR_BODY, headers, unknown, VECTOR_NOW) == "bad_signature"


def test_other_signature_versions_are_ignored_not_trusted() -> None:
    """A `v1a,` (asymmetric) entry with the same bytes does not count as `v1`."""
    headers = vector_headers(**{"webhook-signature": VECTOR_SIGNATURE.replace("v1,", "v1a,")})
    assert refused(VECTOR_BODY, headers, STANDARD, VECTOR_NOW) == "bad_signature"


def test_a_raw_secret_without_whsec_works_as_the_library_signs_it() -> None:
    """A base64 secret without the prefix is decoded; the reference library agrees."""
    secret = base64.b64encode(b"a raw shared key of some length").decode()
    headers = signed_by_library(secret, BODY, NOW)
    config = VerifierConfig("standard-webhooks", secret)
    assert verify(BODY, headers.items(), config, NOW).delivery_id == "msg_1"


def test_a_secret_that_is_not_base64_is_used_as_its_raw_bytes() -> None:
    """`wisenet-api.md` §5.4: a secret that does not decode is its own key."""
    secret = "not base64 at all!"
    assert standard_webhooks_key(secret) == secret.encode()
    assert standard_webhooks_key("whsec_" + base64.b64encode(b"k").decode()) == b"k"
    content = f"msg_2.{int(NOW.timestamp())}.".encode() + BODY
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(int(NOW.timestamp())),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
    config = VerifierConfig("standard-webhooks", secret)
    assert verify(BODY, headers.items(), config, NOW).delivery_id == "msg_2"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"webhook-id": ""}, "missing_signature"),
        ({"webhook-timestamp": ""}, "missing_signature"),
        ({"webhook-signature": " "}, "missing_signature"),
        ({"webhook-timestamp": "16142653.30"}, "malformed_signature"),
        ({"webhook-timestamp": "-1614265330"}, "malformed_signature"),
        ({"webhook-timestamp": "1614265330000000000"}, "malformed_signature"),
        ({"webhook-timestamp": "١٦١٤٢٦٥٣٣٠"}, "malformed_signature"),
        ({"webhook-id": "msg\x00id"}, "malformed_signature"),
        ({"webhook-id": "x" * 300}, "malformed_signature"),
        ({"webhook-signature": "v1,"}, "bad_signature"),
        ({"webhook-signature": "v1,not base64!"}, "bad_signature"),
        ({"webhook-signature": "garbage"}, "bad_signature"),
        ({"webhook-signature": "v1,é"}, "bad_signature"),
        ({"webhook-signature": " ".join(["v1,AAAA"] * 17)}, "malformed_signature"),
    ],
)
def test_malformed_headers_are_refused_with_a_code(changes: dict[str, str], code: str) -> None:
    """Every malformed header is a SignatureError with a stable code, never a crash."""
    assert refused(VECTOR_BODY, vector_headers(**changes), STANDARD, VECTOR_NOW) == code


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_missing_header_is_refused(missing: str) -> None:
    """A delivery without one of the three headers is refused."""
    headers = [(n, v) for n, v in vector_headers() if n != missing]
    assert refused(VECTOR_BODY, headers, STANDARD, VECTOR_NOW) == "missing_signature"


def test_a_non_utf8_body_is_verified_on_its_bytes() -> None:
    """Verification runs on the raw bytes: a signed non-UTF-8 body passes, a changed one not."""
    body = b"\xff\xfe\x00not utf-8"
    content = f"msg_1.{int(NOW.timestamp())}.".encode() + body
    key = standard_webhooks_key(VECTOR_SECRET)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(NOW.timestamp())),
        "webhook-signature": "v1,"
        + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode(),
    }
    config = VerifierConfig("standard-webhooks", VECTOR_SECRET)
    assert verify(body, headers.items(), config, NOW).delivery_id == "msg_1"
    assert refused(body + b"\x80", list(headers.items()), config, NOW) == "bad_signature"


HMAC_SECRET = "s3cret-for-hmac-sha256"


def hmac_value(body: bytes, encoding: str) -> str:
    """The HMAC-SHA256 of `body` in `encoding`."""
    digest = hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def test_hmac_sha256_hex_with_prefix_and_any_case() -> None:
    """Hex digests compare without regard to case, after the configured prefix."""
    config = VerifierConfig("hmac-sha256", HMAC_SECRET, header="X-Sig", prefix="sha256=")
    value = "sha256=" + hmac_value(BODY, "hex").upper()
    assert verify(BODY, [("x-sig", value)], config, NOW) == Verified(None)
    assert verify(BODY, [("X-SIG", "SHA256=" + hmac_value(BODY, "hex"))], config, NOW)
    assert refused(BODY + b"x", [("x-sig", value)], config, NOW) == "bad_signature"
    assert refused(BODY, [("x-sig", hmac_value(BODY, "hex"))], config, NOW) == (
        "malformed_signature"
    )
    assert refused(BODY, [("x-sig", "sha256=zz")], config, NOW) == "malformed_signature"
    assert refused(BODY, [("x-sig", "sha256=é")], config, NOW) == "malformed_signature"
    assert refused(BODY, [], config, NOW) == "missing_signature"


def test_hmac_sha256_base64_uses_the_default_header() -> None:
    """Without a configured header the mode reads `X-Wisenet-Signature`."""
    config = VerifierConfig("hmac-sha256", HMAC_SECRET, encoding="base64")
    headers = [("X-Wisenet-Signature", hmac_value(BODY, "base64"))]
    assert verify(BODY, headers, config, NOW) == Verified(None)
    assert refused(BODY, [("X-Wisenet-Signature", "%%%")], config, NOW) == "malformed_signature"
    wrong_key = [("X-Wisenet-Signature", base64.b64encode(b"x" * 32).decode())]
    assert refused(BODY, wrong_key, config, NOW) == "bad_signature"


def test_shared_token_must_equal_the_secret_exactly() -> None:
    """The token header equals the secret, byte for byte."""
    token = "tok-123-shared-token"
    config = VerifierConfig("shared-token", token, header="X-Token")
    assert verify(BODY, [("x-token", token)], config, NOW) == Verified(None)
    for wrong in ("tok-124-shared-token", token.upper(), token + " ", "tök-123-shared-token"):
        assert refused(BODY, [("x-token", wrong)], config, NOW) == "bad_signature"
    assert refused(BODY, [("x-other", token)], config, NOW) == "missing_signature"


def test_mode_none_checks_nothing() -> None:
    """Development mode accepts any delivery (the settings refuse it outside development)."""
    assert verify(b"anything", [], VerifierConfig("none"), NOW) == Verified(None)


def test_a_mode_that_needs_a_secret_refuses_to_be_configured_without_one() -> None:
    """A verifier without its secret cannot exist."""
    with pytest.raises(ValueError, match="needs a secret"):
        VerifierConfig("standard-webhooks", "")


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=300),
    headers=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "webhook-id",
                    "webhook-timestamp",
                    "webhook-signature",
                    "svix-signature",
                    "x-wisenet-signature",
                    "x-wisenet-token",
                    "other",
                ]
            ),
            st.text(max_size=80),
        ),
        max_size=6,
    ),
    mode=st.sampled_from(["standard-webhooks", "hmac-sha256", "shared-token"]),
)
def test_arbitrary_input_is_refused_with_a_signature_error_only(
    body: bytes, headers: list[tuple[str, str]], mode: str
) -> None:
    """Random bodies and headers never verify and never raise anything but SignatureError."""
    config = VerifierConfig(mode, VECTOR_SECRET)  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        verify(body, headers, config, NOW)


@pytest.mark.parametrize(
    ("mode", "secret"),
    [
        ("standard-webhooks", "whsec_" + base64.b64encode(b"k").decode()),
        ("standard-webhooks", "whsec_" + base64.b64encode(b"fifteen bytes!!").decode()),
        ("hmac-sha256", "fifteen bytes!!"),
        ("shared-token", "fifteen bytes!!"),
    ],
)
def test_a_verifier_refuses_a_secret_shorter_than_sixteen_bytes_of_key(
    mode: str, secret: str
) -> None:
    """Whoever builds a verifier, a key a forger could guess cannot be configured."""
    with pytest.raises(ValueError, match=f"needs at least {MIN_SECRET_BYTES}") as caught:
        VerifierConfig(mode, secret)  # type: ignore[arg-type]
    assert secret not in str(caught.value)


def test_a_forged_delivery_cannot_pass_with_an_empty_key() -> None:
    """The issue's attack: `whsec_` alone made an empty HMAC key anyone could sign with."""
    key = standard_webhooks_key("whsec_")
    assert key == b""
    with pytest.raises(ValueError, match="decodes to 0 byte"):
        VerifierConfig("standard-webhooks", "whsec_")
