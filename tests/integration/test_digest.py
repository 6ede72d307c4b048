"""The daily digest: mailed to a real SMTP server, posted to a chat webhook, retried if refused."""

from __future__ import annotations

import asyncio
import email
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from connector.metrics import ConnectorMetrics
from connector.sandbox.app import free_port
from jobs.cli.status import digest_line
from jobs.pipeline.runs import sweep, sync
from jobs.reports.digest import Digest, DigestSource
from jobs.reports.digest_job import DailyDigest, channels_from, send_digest, source_from
from jobs.reports.digest_send import Channels, DigestSender
from jobs.service.admin import ServiceState
from jobs.service.job_runner import JobRunner
from jobs.service.scheduler import build_scheduler
from jobs.setup.settings import Settings
from tests.support.rig import SYDNEY, Rig

pytestmark = pytest.mark.integration
REPORT = "https://connector.example/report"
SOURCE = DigestSource(zone=SYDNEY, quota=1000, quota_reset=time(0, 0), report_url=REPORT)
RECIPIENTS = ("coordinator@rto.example", "manager@rto.example")


async def no_wait(_: float) -> None:
    """Backoff without waiting."""


def made() -> Digest:
    """A small digest, no store needed."""
    return Digest(
        day=datetime(2026, 11, 29).date(),
        made_at=datetime(2026, 11, 28, 19, 0, tzinfo=UTC),
        zone=ZoneInfo("Australia/Sydney"),
        account="account 99",
        flags=[],
        most_overdue=[],
        writes=0,
        budget_used=0,
        budget_quota=1000,
    )


class Mailbox:
    """An aiosmtpd handler that keeps what it receives, or refuses it while `refusing`."""

    def __init__(self, refusing: int = 0) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refusing = refusing
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ARG002 - aiosmtpd's hook
        """Take the message, or answer 451 (try again later)."""
        if self.refused < self.refusing:
            self.refused += 1
            return "451 4.3.0 mailbox busy, try again later"
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@contextmanager
def smtp_server(mailbox: Mailbox) -> Iterator[int]:
    """A real SMTP server on loopback; its port."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def channels(port: int) -> Channels:
    """Mail to the loopback server, from the RTO's reporting address."""
    return Channels(
        smtp_url=f"smtp://127.0.0.1:{port}", sender="connector@rto.example", recipients=RECIPIENTS
    )


def names_of(rig: Rig) -> set[str]:
    """Every sandbox learner's first and last name (long enough not to match by chance)."""
    found = set()
    for row in rig.server.sandbox.db.learners.rows.values():
        personal = row.get("Personal") or {}
        found |= {personal.get("FirstName") or "", personal.get("LastName") or ""}
    return {name for name in found if len(name) >= 4}


def named(text: str, rig: Rig) -> set[str]:
    """The sandbox learners' names that appear in `text` as words."""
    names = names_of(rig)
    assert len(names) > 50  # the check has names to look for
    return {name for name in names if re.search(rf"\b{re.escape(name)}\b", text)}


def parts(message: Message) -> dict[str, str]:
    """The message's text parts by content type."""
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            text = payload.decode(part.get_content_charset() or "utf-8")
            found[part.get_content_type()] = text.replace("\r\n", "\n")
    return found


async def test_the_digest_reaches_a_real_smtp_server_with_counts_and_no_names(rig: Rig) -> None:
    """Recipients, a plain and an HTML part, the worklist's counts, the day's writes, no names."""
    report = await sync(rig.ctx)
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        delivery = await send_digest(
            rig.store, rig.store.clock, SOURCE, DigestSender(channels(port))
        )
    assert delivery is not None
    assert (delivery.outcome, delivery.attempts) == ("sent", 1)
    ((sender, recipients, raw),) = mailbox.received
    assert (sender, recipients) == ("connector@rto.example", list(RECIPIENTS))
    message = email.message_from_bytes(raw)
    assert message.get_content_type() == "multipart/alternative"
    text = parts(message)
    assert set(text) == {"text/plain", "text/html"}
    plain = text["text/plain"]
    today = rig.store.clock.now().astimezone(SYDNEY).date()
    work = await rig.store.worklist.items(today)
    counted = Counter(item.flag for item in work)
    for flag, count in counted.items():
        assert f"  {flag}: {count}\n" in plain
        assert f"<td>{flag}</td><td>{count}</td>" in text["text/html"]
    assert f"Today: {report.writes_done} tag write(s);" in plain
    assert f"Report: {REPORT}" in plain
    overdue = sum(1 for item in work if item.kind == "overdue")
    assert message["Subject"].endswith(f": {overdue} overdue item(s)")
    shown = " ".join([message["Subject"], message["To"], plain, text["text/html"]])
    assert not named(shown, rig)
    stored = await rig.store.digests.of(today)
    assert stored is not None
    assert (stored.outcome, stored.counts) == ("sent", dict(counted))


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_the_next_digest_says_what_changed_since_the_last(rig: Rig) -> None:
    """A day later, after the sweep: each flag's change against the digest that was sent."""
    await sync(rig.ctx)
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        sender = DigestSender(channels(port))
        await send_digest(rig.store, rig.store.clock, SOURCE, sender)
        first = Counter(
            item.flag
            for item in await rig.store.worklist.items(
                rig.store.clock.now().astimezone(SYDNEY).date()
            )
        )
        rig.store.clock.advance(timedelta(days=1).total_seconds())  # type: ignore[attr-defined]
        await sweep(rig.ctx)
        assert await send_digest(rig.store, rig.store.clock, SOURCE, sender) is not None
        assert await send_digest(rig.store, rig.store.clock, SOURCE, sender) is None  # once a day
    today = rig.store.clock.now().astimezone(SYDNEY).date()
    second = Counter(item.flag for item in await rig.store.worklist.items(today))
    assert second != first  # a day passed: time-driven flags moved
    plain = parts(email.message_from_bytes(mailbox.received[1][2]))["text/plain"]
    for flag in second:
        change = second[flag] - first[flag]
        said = "(no change)" if change == 0 else f"({change:+d} since the last digest)"
        assert f"  {flag}: {second[flag]} {said}\n" in plain


class ChatHook(BaseHTTPRequestHandler):
    """A chat incoming webhook standing in for Teams or Slack: keeps the JSON bodies."""

    posted: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        """Keep the body; answer 200 as Slack and Teams do."""
        length = int(self.headers["Content-Length"])
        ChatHook.posted.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"1")

    def log_message(self, *_: Any) -> None:
        """Quiet."""


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_the_digest_is_posted_to_a_chat_webhook(rig: Rig) -> None:
    """One JSON body with `text`, which Teams and Slack incoming webhooks show."""
    await sync(rig.ctx)
    ChatHook.posted = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatHook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/digest"
        delivery = await send_digest(
            rig.store, rig.store.clock, SOURCE, DigestSender(Channels(webhook_url=url))
        )
    finally:
        server.shutdown()
        server.server_close()
    assert delivery is not None
    assert delivery.outcome == "sent"
    ((body,),) = [ChatHook.posted]
    assert set(body) == {"text"}
    assert "Open work by flag:" in body["text"]
    assert "certificate-overdue" in body["text"]
    assert not named(body["text"], rig)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_a_refusing_smtp_server_is_retried_and_reported_without_holding_the_sweep(
    rig: Rig,
) -> None:
    """The sweep returns while the digest waits to retry; then retries, fails, and says so."""
    await sync(rig.ctx)
    waits: list[float] = []
    release = asyncio.Event()

    async def backoff(seconds: float) -> None:
        waits.append(seconds)
        await release.wait()

    metrics = ConnectorMetrics()
    mailbox = Mailbox(refusing=99)
    with smtp_server(mailbox) as port:
        sender = DigestSender(channels(port), metrics, attempts=4, first_wait=60, sleep=backoff)
        daily = DailyDigest(rig.store.clock, SOURCE, sender)
        job = daily.after(sweep)
        report = await asyncio.wait_for(job(rig.ctx), timeout=120)
        assert report.learners_evaluated > 0
        (task,) = daily.tasks
        for _ in range(200):  # the first attempt is refused, then the digest waits
            if waits:
                break
            await asyncio.sleep(0.05)
        assert not task.done()  # the sweep came back while the digest was waiting
        release.set()
        delivery = await asyncio.wait_for(task, timeout=60)
    assert delivery is not None
    assert (delivery.outcome, delivery.attempts, mailbox.refused) == ("failed", 4, 4)
    assert waits == [60, 120, 240]  # exponential backoff between the four attempts
    assert delivery.detail == "mail: the server replied 451"
    today = rig.store.clock.now().astimezone(SYDNEY).date()
    stored = await rig.store.digests.of(today)
    assert stored is not None
    line = digest_line(
        {
            "day": stored.day.isoformat(),
            "outcome": stored.outcome,
            "attempts": stored.attempts,
            "detail": stored.detail,
        },
        ["mail"],
    )
    assert line == (
        f"digest of {today.isoformat()}: failed after 4 attempt(s) "
        "(mail: the server replied 451); channels: mail"
    )
    sends = metrics.digest_sends
    assert sends.labels("mail", "retried")._value.get() == 3
    assert sends.labels("mail", "failed")._value.get() == 1
    assert b'connector_digest_sends_total{channel="mail",outcome="failed"} 1.0' in metrics.render()


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_the_digest_command_prints_and_sends(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`connector digest --json` prints it; `--send` needs a channel and sends to it."""
    from jobs.cli.main import EXIT_CONFIGURATION, EXIT_OK, main  # noqa: PLC0415 - as a person runs it

    await sync(rig.ctx)
    capsys.readouterr()  # the sync's own log lines
    monkeypatch.setenv(
        "CONNECTOR_DATABASE_URL", rig.store.db.engine.url.render_as_string(hide_password=False)
    )
    clock = rig.store.clock
    assert await asyncio.to_thread(main, ["digest", "--json"], clock=clock) == EXIT_OK
    printed = json.loads(capsys.readouterr().out)
    today = clock.now().astimezone(SYDNEY).date()
    counted = Counter(item.flag for item in await rig.store.worklist.items(today))
    assert {line["flag"]: line["count"] for line in printed["flags"]} == dict(counted)
    assert printed["day"] == today.isoformat()
    assert await asyncio.to_thread(main, ["digest", "--send"], clock=clock) == EXIT_CONFIGURATION
    assert "no digest channel is set up" in capsys.readouterr().err
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        monkeypatch.setenv("CONNECTOR_DIGEST_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("CONNECTOR_DIGEST_FROM", "connector@rto.example")
        monkeypatch.setenv("CONNECTOR_DIGEST_TO", ",".join(RECIPIENTS))
        assert await asyncio.to_thread(main, ["digest", "--send"], clock=clock) == EXIT_OK
    assert capsys.readouterr().out == "digest sent (mail)\n"
    assert len(mailbox.received) == 1


async def test_a_password_is_never_sent_to_a_server_without_tls() -> None:
    """No STARTTLS on offer and a login in the URL: refused at once, before the password."""
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        with_login = Channels(
            smtp_url=f"smtp://digest:s3cret@127.0.0.1:{port}",
            sender="connector@rto.example",
            recipients=RECIPIENTS,
        )
        delivery = await DigestSender(with_login, sleep=no_wait).send(made())
    assert (delivery.outcome, delivery.attempts) == ("failed", 1)
    assert "offers no STARTTLS" in (delivery.detail or "")
    assert "s3cret" not in (delivery.detail or "")
    assert mailbox.received == []


async def test_a_channel_that_fails_oddly_ends_as_failed_not_as_a_traceback() -> None:
    """A webhook URL no client can call fails that channel at once; the other still gets it."""
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        both = Channels(
            smtp_url=f"smtp://127.0.0.1:{port}",
            sender="connector@rto.example",
            recipients=RECIPIENTS,
            webhook_url="http://127.0.0.1:99999/hook",
        )
        delivery = await DigestSender(both, sleep=no_wait).send(made())
    assert delivery.outcome == "partly sent"
    assert delivery.errors["mail"] is None
    assert delivery.errors["chat"]
    assert len(mailbox.received) == 1


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_a_later_failure_never_hides_a_send_that_worked_nor_a_stop(rig: Rig) -> None:
    """The day stays `sent` when a retry gives up afterwards; a cancelled send says so."""
    today = rig.store.clock.now().astimezone(SYDNEY).date()
    await rig.store.digests.start(today, {"missing-usi": 2})
    await rig.store.digests.finish(today, "sent", 1, None)
    await rig.store.digests.start(today, {"missing-usi": 2})
    await rig.store.digests.finish(today, "failed", 6, "mail: the server replied 451")
    stored = await rig.store.digests.of(today)
    assert stored is not None
    assert stored.outcome == "sent"

    release = asyncio.Event()

    async def forever(_: float) -> None:
        await release.wait()

    tomorrow = timedelta(days=1).total_seconds()
    rig.store.clock.advance(tomorrow)  # type: ignore[attr-defined]
    refused = Channels(smtp_url="smtp://127.0.0.1:9", sender="c@rto.example", recipients=RECIPIENTS)
    daily = DailyDigest(rig.store.clock, SOURCE, DigestSender(refused, sleep=forever))
    task = daily.start(rig.store)
    assert task is not None
    for _ in range(200):
        if (found := await rig.store.digests.of(today + timedelta(days=1))) and found.made_at:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the first attempt is refused; the retry waits
    await daily.stop()
    stopped = await rig.store.digests.of(today + timedelta(days=1))
    assert stopped is not None
    assert (stopped.outcome, stopped.detail) == ("failed", "stopped before it was sent")


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_the_services_scheduled_sweep_sends_the_digest(rig: Rig) -> None:
    """The scheduler's `sweep` job, as `connector run` registers it, ends by mailing the digest."""
    await sync(rig.ctx)
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        settings = Settings(
            _env_file=None,
            digest_smtp_url=f"smtp://127.0.0.1:{port}",
            digest_from="connector@rto.example",
            digest_to=RECIPIENTS,
        )
        state = ServiceState(mapping_file=Path("absent.yaml"), webhook_silence=timedelta(hours=2))
        runner = JobRunner(rig.ctx, "tests:1:digest", ConnectorMetrics(), state)
        daily = DailyDigest(
            rig.store.clock, source_from(settings), DigestSender(channels_from(settings))
        )
        job = build_scheduler(settings, runner, daily).get_job("sweep")
        report = await job.func(*job.args)
        assert report is not None
        assert report.learners_evaluated > 0
        (task,) = daily.tasks
        delivery = await asyncio.wait_for(task, timeout=60)
    assert delivery is not None
    assert delivery.outcome == "sent"
    assert [recipients for _, recipients, _ in mailbox.received] == [list(RECIPIENTS)]
