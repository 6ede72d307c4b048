"""Sending the digest: e-mail over SMTP and a chat incoming webhook, each retried with backoff.

Each channel is tried on its own: one failing never holds the other back. Transient failures
(a refused connection, a 4xx SMTP reply, an HTTP 429 or 5xx) are retried with exponential
backoff; permanent ones (a 5xx SMTP reply, a refused login, an HTTP 4xx) end that channel's
attempts at once. Errors name the channel and what failed, never a password or webhook URL.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from connector.metrics import ConnectorMetrics
from jobs.reports.digest import Digest

log = structlog.get_logger(__name__)
MAIL, CHAT = "mail", "chat"


class DeliveryError(Exception):
    """A channel could not take the digest; `transient` ones are tried again."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class TransientDeliveryError(DeliveryError):
    """Worth another attempt later."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


@dataclass(frozen=True)
class Channels:
    """Where the digest goes; a channel left unset is not used."""

    smtp_url: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    webhook_url: str | None = None
    timeout: float = 30.0

    @property
    def names(self) -> list[str]:
        """The channels set up."""
        return [
            name for name, on in ((MAIL, self.smtp_url is not None), (CHAT, self.webhook_url)) if on
        ]


@dataclass(frozen=True)
class Delivery:
    """How sending went: per channel, None when it reached it, else the last error."""

    errors: dict[str, str | None]
    attempts: int

    @property
    def outcome(self) -> str:
        """`sent`, `failed`, `partly sent`, or `no channel` when none is set up."""
        if not self.errors:
            return "no channel"
        failed = [name for name, error in self.errors.items() if error]
        if not failed:
            return "sent"
        return "failed" if len(failed) == len(self.errors) else "partly sent"

    @property
    def detail(self) -> str | None:
        """The failures, one per channel, or None."""
        failed = [f"{name}: {error}" for name, error in self.errors.items() if error]
        return "; ".join(failed) or None


def message_of(digest: Digest, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    """The digest as an e-mail with a plain-text and an HTML part."""
    message = EmailMessage()
    message["Subject"] = digest.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(digest.made_at.timestamp(), localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(digest.text())
    message.add_alternative(digest.html(), subtype="html")
    return message


def mail(channels: Channels, message: EmailMessage) -> None:
    """Send over SMTP: `smtps://` is TLS from the start, `smtp://` upgrades when offered.

    A login is never sent in clear: without TLS on offer it is refused before the password.
    """
    try:
        refused = _conversation(channels, message)
    except DeliveryError:
        raise
    except Exception as exc:  # every failure is classified: none escapes as a traceback
        raise _classified(exc) from exc
    if refused:
        log.warning("digest.recipients_refused", refused=len(refused))


def _conversation(channels: Channels, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
    """The SMTP session; the recipients the server refused."""
    assert channels.smtp_url is not None  # noqa: S101 - only called for a set-up channel
    url = urlsplit(channels.smtp_url)
    implicit = url.scheme == "smtps"
    host, port = url.hostname or "", url.port or (465 if implicit else 25)
    context = ssl.create_default_context()
    smtp = (
        smtplib.SMTP_SSL(host, port, timeout=channels.timeout, context=context)
        if implicit
        else smtplib.SMTP(host, port, timeout=channels.timeout)
    )
    with smtp:
        smtp.ehlo()
        if not implicit and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
        elif not implicit and url.username:
            raise DeliveryError(
                "the server offers no STARTTLS: the password is not sent in clear "
                "(use smtps://, or a relay without a login)",
                transient=False,
            )
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        return smtp.send_message(
            message, from_addr=channels.sender, to_addrs=list(channels.recipients)
        )


def _classified(exc: Exception) -> DeliveryError:  # noqa: PLR0911 - one answer per kind
    """What an SMTP failure means: worth another attempt, or not (no secret in the message)."""
    if isinstance(exc, UnicodeError):
        return DeliveryError("the user name or password is not ASCII", transient=False)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"the server refused the login ({exc.smtp_code})", transient=False)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return DeliveryError(
            f"every recipient was refused ({len(exc.recipients)})", transient=False
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = f"the server replied {exc.smtp_code}"
        if exc.smtp_code < 500:
            return TransientDeliveryError(reply)
        return DeliveryError(reply, transient=False)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"the server does not support it: {exc}"[:200], transient=False)
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(f"TLS failed: {exc.reason or type(exc).__name__}", transient=False)
    if isinstance(exc, smtplib.SMTPException | OSError):
        return TransientDeliveryError(f"{type(exc).__name__}: {exc}"[:200])
    return DeliveryError(f"{type(exc).__name__}"[:200], transient=False)


async def post_chat(client: httpx.AsyncClient, url: str, digest: Digest) -> None:
    """Post the chat message to the incoming webhook."""
    try:
        answer = await client.post(url, json=digest.chat())
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise DeliveryError(f"not a usable URL ({type(exc).__name__})", transient=False) from exc
    except httpx.HTTPError as exc:
        raise TransientDeliveryError(type(exc).__name__) from exc
    if answer.status_code == 429 or answer.status_code >= 500:
        raise TransientDeliveryError(f"the webhook answered {answer.status_code}")
    if answer.status_code >= 400:
        raise DeliveryError(f"the webhook answered {answer.status_code}", transient=False)


@dataclass
class DigestSender:
    """Sends digests to the channels, retrying each on its own."""

    channels: Channels
    metrics: ConnectorMetrics | None = None
    attempts: int = 6
    first_wait: float = 60.0  # then 2, 4, 8 … minutes, at most `longest_wait`
    longest_wait: float = 3600.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    client: httpx.AsyncClient | None = None
    _tries: dict[str, int] = field(default_factory=dict)

    async def send(self, digest: Digest) -> Delivery:
        """Send to every channel set up; how it went (nothing raised)."""
        errors: dict[str, str | None] = {}
        self._tries = {}
        for name in self.channels.names:
            errors[name] = await self._channel(name, digest)
        delivery = Delivery(errors, max(self._tries.values(), default=0))
        if delivery.outcome == "sent" and self.metrics is not None:
            self.metrics.digest_last_sent.set(digest.made_at.timestamp())
        log.info("digest.delivered", outcome=delivery.outcome, attempts=delivery.attempts)
        return delivery

    async def _channel(self, name: str, digest: Digest) -> str | None:
        """One channel's attempts; its last error, or None once it took the digest."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.first_wait, max=self.longest_wait),
            retry=retry_if_exception_type(TransientDeliveryError),
            sleep=self.sleep,
            before_sleep=lambda state: self._retrying(name, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    self._tries[name] = attempt.retry_state.attempt_number
                    await self._once(name, digest)
        except DeliveryError as exc:
            self._count(name, "failed")
            log.warning("digest.failed", channel=name, error=str(exc))
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - of no known kind: it ends the channel, not the task
            self._count(name, "failed")
            log.warning("digest.failed", channel=name, error=type(exc).__name__)
            return f"failed ({type(exc).__name__})"
        self._count(name, "sent")
        return None

    async def _once(self, name: str, digest: Digest) -> None:
        channels = self.channels
        if name == MAIL:
            message = message_of(digest, channels.sender or "", channels.recipients)
            await asyncio.to_thread(mail, channels, message)
            return
        assert channels.webhook_url is not None  # noqa: S101 - the chat channel is set up
        if self.client is not None:
            await post_chat(self.client, channels.webhook_url, digest)
            return
        async with httpx.AsyncClient(timeout=channels.timeout) as client:
            await post_chat(client, channels.webhook_url, digest)

    def _retrying(self, name: str, state: RetryCallState) -> None:
        self._count(name, "retried")
        error = state.outcome.exception() if state.outcome else None
        log.warning("digest.retrying", channel=name, attempt=state.attempt_number, error=str(error))

    def _count(self, name: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.digest_sends.labels(name, outcome).inc()
