"""The digest's text and its sender's decisions: what is retried, what is given up, no names."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx

from connector.metrics import ConnectorMetrics
from connector.store.worklist import WorkItem
from jobs.reports.digest import Digest, FlagLine
from jobs.reports.digest_send import Channels, Delivery, DigestSender

HOOK = "https://hooks.example/services/T0/B0/token"


def digest(**changes: object) -> Digest:
    """A digest of two flags, one overdue item, with a report link."""
    values: dict[str, object] = {
        "day": date(2026, 11, 29),
        "made_at": datetime(2026, 11, 28, 19, 5, tzinfo=UTC),
        "zone": ZoneInfo("Australia/Sydney"),
        "account": "account 99 at https://api.example",
        "flags": [
            FlagLine("certificate-overdue", "overdue", 3, 1),
            FlagLine("missing-usi", "missing_data", 2, 0),
            FlagLine("outcome-overdue", "cleared", 0, -4),
        ],
        "most_overdue": [
            WorkItem(
                "certificate-overdue",
                "overdue",
                "course_enrolment",
                88036,
                10028,
                "L010028",
                88036,
                "BSB40120",
                7,
                date(2025, 12, 29),
                335,
                "late",
            )
        ],
        "writes": 126,
        "budget_used": 144,
        "budget_quota": 1000,
        "attention": ["2 write(s) blocked: a staff tag"],
        "report_url": "https://connector.example/report",
    }
    values.update(changes)
    return Digest(**values)  # type: ignore[arg-type]


def test_the_text_says_counts_changes_the_most_overdue_and_what_needs_an_admin() -> None:
    """Changes against the last digest, in the account's time, the report link last."""
    text = digest().text()
    assert text.splitlines()[:2] == [
        "Wisenet lifecycle digest 2026-11-29: 3 overdue item(s)",
        "Made 2026-11-29 06:05 AEDT for account 99 at https://api.example.",
    ]
    assert "  certificate-overdue: 3 (+1 since the last digest)\n" in text
    assert "  missing-usi: 2 (no change)\n" in text
    assert "  outcome-overdue: 0 (-4 since the last digest)\n" in text
    assert "  L010028 BSB40120 certificate-overdue: 335 day(s) overdue\n" in text
    assert "Today: 126 tag write(s); 144 of 1000 Wisenet requests used.\n" in text
    assert "  2 write(s) blocked: a staff tag\n" in text
    assert text.endswith("Report: https://connector.example/report\n")
    assert digest().chat() == {"text": text.rstrip("\n")}


def test_a_first_digest_of_a_quiet_account_says_none_and_nothing() -> None:
    """No previous digest: no change shown; nothing open: it says so."""
    quiet = digest(
        flags=[FlagLine("missing-usi", "missing_data", 2, None)],
        most_overdue=[],
        attention=[],
        report_url=None,
    )
    text = quiet.text()
    assert "  missing-usi: 2\n" in text
    assert "Most overdue:\n  none\n" in text
    assert "Needs an admin:\n  nothing\n" in text
    assert "Report:" not in text
    assert "<a href" not in quiet.html()


def test_html_escapes_what_it_shows() -> None:
    """A flag id or a reason from the store is text, not markup."""
    html = digest(attention=["<b>x</b> blocked"]).html()
    assert "&lt;b&gt;x&lt;/b&gt; blocked" in html
    assert "<b>x</b>" not in html


async def no_wait(_: float) -> None:
    """Backoff without waiting."""


@pytest.mark.parametrize(
    ("answers", "outcome", "calls", "retried"),
    [
        ([200], "sent", 1, 0),
        ([503, 429, 200], "sent", 3, 2),
        ([400], "failed", 1, 0),
        ([500, 500, 500], "failed", 3, 2),
    ],
)
@respx.mock
async def test_a_chat_webhook_is_retried_only_when_it_may_pass(
    answers: list[int], outcome: str, calls: int, retried: int
) -> None:
    """429 and 5xx are tried again with backoff; another 4xx ends the attempts at once."""
    route = respx.post(HOOK).mock(side_effect=[httpx.Response(code) for code in answers])
    metrics = ConnectorMetrics()
    sender = DigestSender(Channels(webhook_url=HOOK), metrics, attempts=3, sleep=no_wait)
    delivery = await sender.send(digest())
    assert (delivery.outcome, delivery.attempts, route.call_count) == (outcome, calls, calls)
    assert metrics.digest_sends.labels("chat", "retried")._value.get() == retried
    assert "token" not in (delivery.detail or "")


def test_outcomes_of_several_channels() -> None:
    """Both reached: sent; one: partly sent; none: failed; no channel set up: says so."""
    assert Delivery({"mail": None, "chat": None}, 1).outcome == "sent"
    partly = Delivery({"mail": "the server replied 451", "chat": None}, 6)
    assert (partly.outcome, partly.detail) == ("partly sent", "mail: the server replied 451")
    assert Delivery({"mail": "x", "chat": "y"}, 6).outcome == "failed"
    assert Delivery({}, 0).outcome == "no channel"


async def test_an_smtp_server_that_is_not_there_is_retried_then_reported() -> None:
    """A refused connection may pass: every attempt is made, the error names the failure."""
    sender = DigestSender(
        Channels(
            smtp_url="smtp://127.0.0.1:9",
            sender="c@rto.example",
            recipients=("a@rto.example",),
            timeout=2,
        ),
        attempts=2,
        sleep=no_wait,
    )
    delivery = await sender.send(digest())
    assert (delivery.outcome, delivery.attempts) == ("failed", 2)
    assert delivery.detail is not None
    assert delivery.detail.startswith("mail: ConnectionRefusedError")
