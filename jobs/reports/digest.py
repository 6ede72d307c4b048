"""The daily digest: open work, the most overdue items, the day's writes, what needs an admin.

Open work is counted by flag with the change since the last digest that reached someone. Ids,
learner numbers and course codes only, never a name.

`compose_digest` reads the store (no call to Wisenet); `Digest` renders itself as plain text,
HTML, a chat message (a JSON body Teams and Slack incoming webhooks accept) and JSON.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from html import escape
from typing import Any

from connector.clock import Clock
from connector.store.budget import StoreBudget
from connector.store.store import Store
from connector.store.worklist import WorkItem, by_owner

MOST_OVERDUE = 10


@dataclass(frozen=True)
class FlagLine:
    """One flag: how many are open, and the change since the last digest (None: first one)."""

    flag: str
    kind: str
    count: int
    change: int | None


@dataclass(frozen=True)
class OwnerLine:
    """One owner's open work (owner None: items nobody is set to own)."""

    owner_id: int | None
    count: int
    overdue: int

    def line(self) -> str:
        """The owner's line in the text digest."""
        who = "no owner" if self.owner_id is None else f"owner {self.owner_id}"
        return f"{who}: {self.count} open, {self.overdue} overdue"


@dataclass(frozen=True)
class Digest:
    """What one day's digest says."""

    day: date
    made_at: datetime
    zone: tzinfo
    account: str
    flags: list[FlagLine]
    most_overdue: list[WorkItem]
    writes: int
    budget_used: int
    budget_quota: int
    attention: list[str] = field(default_factory=list)
    report_url: str | None = None
    owners: list[OwnerLine] | None = None  # open work by owner, when asked for

    @property
    def subject(self) -> str:
        """The e-mail subject."""
        overdue = sum(line.count for line in self.flags if line.kind == "overdue")
        return f"Wisenet lifecycle digest {self.day.isoformat()}: {overdue} overdue item(s)"

    def counts(self) -> dict[str, int]:
        """Open flags by flag id (what the next digest compares with)."""
        return {line.flag: line.count for line in self.flags}

    def lines(self) -> list[str]:
        """The digest as plain-text lines."""
        made = self.made_at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z")
        out = [self.subject, f"Made {made} for {self.account}.", "", "Open work by flag:"]
        out += [f"  {line.flag}: {line.count}{_change(line.change)}" for line in self.flags]
        if not self.flags:
            out.append("  none: no flag is raised on any stored learner")
        if self.owners is not None:
            out += ["", "Open work by owner:"]
            out += [f"  {owner.line()}" for owner in self.owners] or ["  none"]
        out += ["", "Most overdue:"]
        out += [f"  {_item(item)}" for item in self.most_overdue]
        if not self.most_overdue:
            out.append("  none")
        out += ["", f"Today: {_today(self)}", "", "Needs an admin:"]
        out += [f"  {line}" for line in self.attention] or ["  nothing"]
        if self.report_url:
            out += ["", f"Report: {self.report_url}"]
        return out

    def text(self) -> str:
        """The plain-text body."""
        return "\n".join(self.lines()) + "\n"

    def html(self) -> str:
        """The HTML body: the same content, in tables."""
        flags = "".join(
            f"<tr><td>{escape(line.flag)}</td><td>{line.count}</td>"
            f"<td>{escape(_change(line.change).strip(' ()') or '-')}</td></tr>"
            for line in self.flags
        )
        items = "".join(
            f"<tr><td>{escape(item.learner_number or str(item.learner_id))}</td>"
            f"<td>{escape(item.course_code or '-')}</td><td>{escape(item.flag)}</td>"
            f"<td>{'-' if item.days_overdue is None else item.days_overdue}</td></tr>"
            for item in self.most_overdue
        )
        attention = "".join(f"<li>{escape(line)}</li>" for line in self.attention)
        owners = (
            ""
            if self.owners is None
            else "<h2>Open work by owner</h2><ul>"
            + "".join(f"<li>{escape(owner.line())}</li>" for owner in self.owners)
            + "</ul>"
        )
        link = (
            f'<p><a href="{escape(self.report_url, quote=True)}">Open the report</a></p>'
            if self.report_url
            else ""
        )
        return (
            f"<html><body><h1>{escape(self.subject)}</h1>"
            f"<p>{escape(self.lines()[1])}</p>"
            "<h2>Open work by flag</h2><table><tr><th>flag</th><th>open</th>"
            f"<th>change</th></tr>{flags}</table>{owners}"
            "<h2>Most overdue</h2><table><tr><th>learner number</th><th>course</th>"
            f"<th>flag</th><th>days overdue</th></tr>{items}</table>"
            f"<h2>Today</h2><p>{escape(_today(self))}</p>"
            f"<h2>Needs an admin</h2><ul>{attention or '<li>nothing</li>'}</ul>{link}"
            "</body></html>"
        )

    def chat(self) -> dict[str, Any]:
        """A chat message: `text` is what both Teams and Slack incoming webhooks show."""
        return {"text": "\n".join(self.lines())}

    def as_json(self) -> dict[str, Any]:
        """The digest's content for scripts."""
        return {
            "day": self.day.isoformat(),
            "made_at": self.made_at.isoformat(timespec="seconds"),
            "account": self.account,
            "flags": [vars(line) for line in self.flags],
            "most_overdue": [item.as_json() for item in self.most_overdue],
            "writes": self.writes,
            "budget": {"used": self.budget_used, "quota": self.budget_quota},
            "attention": self.attention,
            "report_url": self.report_url,
            "owners": None if self.owners is None else [vars(owner) for owner in self.owners],
        }


def _today(digest: Digest) -> str:
    return (
        f"{digest.writes} tag write(s); {digest.budget_used} of {digest.budget_quota} Wisenet "
        "requests used."
    )


def _change(change: int | None) -> str:
    if change is None:
        return ""
    return " (no change)" if change == 0 else f" ({change:+d} since the last digest)"


def _item(item: WorkItem) -> str:
    learner = item.learner_number or f"learner {item.learner_id}"
    course = item.course_code or "-"
    late = "-" if item.days_overdue is None else f"{item.days_overdue} day(s) overdue"
    return f"{learner} {course} {item.flag}: {late}"


@dataclass(frozen=True)
class DigestSource:
    """What composing a digest needs besides the store."""

    zone: tzinfo
    quota: int
    quota_reset: time
    report_url: str | None = None
    by_owner: bool = False


async def compose_digest(store: Store, clock: Clock, source: DigestSource) -> Digest:
    """Today's digest from the store (no call to Wisenet)."""
    now = clock.now()
    today = now.astimezone(source.zone).date()
    work = await store.worklist.items(today)
    counted = Counter(item.flag for item in work)
    kinds = {item.flag: item.kind for item in work}
    before = await store.digests.last(before=today, delivered=True)
    previous = before.counts if before else None
    flags = [
        FlagLine(
            flag,
            kinds[flag],
            counted[flag],
            None if previous is None else counted[flag] - previous.get(flag, 0),
        )
        for flag in sorted(counted)
    ]
    if previous is not None:  # flags that cleared altogether since the last digest
        flags += [
            FlagLine(flag, "cleared", 0, -count)
            for flag, count in sorted(previous.items())
            if flag not in counted and count
        ]
    budget = await StoreBudget(
        store.budget, source.quota, source.zone, source.quota_reset, clock
    ).state()
    binding = await store.binding()
    return Digest(
        day=today,
        made_at=now,
        zone=source.zone,
        account="a store not yet bound to a Wisenet"
        if binding is None
        else f"account {binding.account_number or '-'} at {binding.base_url}",
        flags=flags,
        most_overdue=[item for item in work if item.kind == "overdue"][:MOST_OVERDUE],
        writes=await store.outbox.writes_on(today),
        budget_used=budget.used,
        budget_quota=budget.quota,
        attention=await _attention(store, today),
        report_url=source.report_url,
        owners=[
            OwnerLine(owner, len(items), sum(1 for item in items if item.kind == "overdue"))
            for owner, items in by_owner(work)
        ]
        if source.by_owner
        else None,
    )


async def _attention(store: Store, today: date) -> list[str]:
    """What an admin must act on: blocked writes, dead letters, failed runs, an unsent digest."""
    facts = await store.runs.status_facts()
    lines = [f"{group['writes']} write(s) blocked: {group['reason']}" for group in facts["blocked"]]
    if facts["dead_letters"]:
        lines.append(
            f"{facts['dead_letters']} write(s) in the dead letters (`connector deadletters list`)"
        )
    for job, run in sorted(facts["last_runs"].items()):
        if run["outcome"] == "failed":
            lines.append(f"the last {job} failed: {run['detail'].get('error', 'see the log')}")
    last = await store.digests.last(before=today)
    if last is not None and last.outcome == "sending":
        lines.append(f"the digest of {last.day.isoformat()} was never finished (stopped mid-send)")
    elif last is not None and last.outcome != "sent":
        lines.append(f"the digest of {last.day.isoformat()} was {last.outcome}: {last.detail}")
    return lines
