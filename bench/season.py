"""A season on the Basic plan: the service's jobs on one simulated clock, day after day.

Run: `.venv/bin/python -m bench.season [--learners 5000] [--days 90] [--seed 7]`.

A sandbox account (limits off: the bench counts requests itself) is read whole by a first
backfill with the quota raised, as an onboarding would. From the next midnight the connector
runs with the default settings of the Basic plan (1,000 requests a day, hourly polls) and the
service's schedule, read from the same settings: the sync at start and every poll interval, the
inbox drained after the coalescing window whenever deliveries wait, the minute writer while
writes wait, the daily sweep and the weekly reconcile. The store purge makes no request and is
left out. Time jumps from one event to the next; jobs run in real time, with requests paced at
1,000/s instead of 8/s to keep a season within the hour (at 8/s each request would add 125 ms
to the delays).

Staff work on business days between 09:00 and 17:00. Daily counts are Poisson around the rates
in `Rates` (for 5,000 learners, scaled by the account's size); completions and certificates
come in one or two bursts of a class each. Every edit reaches the real receiver as a signed
delivery (10 % of them twice, reordered within the flush). Per day the bench prints:
- the edits made, and those planned with nothing left to edit;
- the requests the sandbox counted (reads and writes apart) and the connector's own count, both
  against the 1,000 of the Basic plan, and any job that held back (for the budget);
- the delay from a staff edit to its tags in Wisenet (the last edit that changed what the
  reference wants), and the edits still waiting at the day's end;
- the enrolments whose owned tags differ from the reference at the day's end. Enrolments of
  inactive learners are counted apart: Wisenet lets no one write to them, so the tags they had
  when the learner was deactivated stay.

Not modelled: deliveries lost or retried minutes later (duplicates arrive with the original),
and edits landing while a job runs (staff and jobs take turns).

Targets: every day at most 1,000 requests, 0 mismatches at every day's end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
from apscheduler.triggers.cron import CronTrigger
from pydantic import SecretStr

from bench.webhook_burst import MovedClock, receiver
from connector.bundles import Labels
from connector.metrics import ConnectorMetrics
from connector.sandbox.app import SandboxServer
from connector.sandbox.generator.seed_data import IN_PROGRESS
from connector.sandbox.service import Sandbox, SandboxConfig
from jobs.pipeline.context import SyncContext, SyncReport
from jobs.pipeline.runs import reconcile, sweep, sync
from jobs.service.admin import ServiceState
from jobs.service.job_runner import JobRunner, write_only
from jobs.setup.composition import Parts, sync_context
from jobs.setup.logging import configure_logging
from jobs.setup.settings import Settings
from tests.reference import decide
from tests.support.sandbox_bundles import bundle_for, combos

START = date(2026, 2, 1)  # a Sunday: the backfill's day; the season starts on Monday
MINUTE = timedelta(minutes=1)
WORK_HOURS = (9, 17)


@dataclass(frozen=True)
class Rates:
    """Staff edits per business day at 5,000 learners (an RTO of that size, roughly)."""

    enquiries: float = 12  # a learner enquires about another course
    acceptances: float = 8  # an enquiry becomes a current enrolment, enrolled in its units
    outcomes: float = 150  # trainers record unit outcomes
    completions: float = 8  # enrolments finalised
    certificates: float = 8  # credentials issued, oldest completions first, some late
    withdrawals: float = 2
    deactivations: float = 0.4  # learners made inactive
    deletes: float = 0.2  # enquiries deleted (entered by mistake)
    learner_deletes: float = 0.1  # learners deleted with everything they had


BURSTS = {"completions", "certificates"}  # done for a class at a time: within minutes


@dataclass
class Day:
    """One simulated day's figures."""

    day: date
    reads: int = 0
    writes: int = 0
    edits: int = 0
    mismatches: int = 0
    frozen: int = 0  # enrolments of inactive learners whose tags no one may change
    delays: list[float] = field(default_factory=list)  # seconds from edit to tags
    by_endpoint: Counter[str] = field(default_factory=Counter)
    planned: Counter[str] = field(default_factory=Counter)  # edits by kind
    unmade: Counter[str] = field(default_factory=Counter)  # planned, but nothing to edit
    budget_used: int = 0  # the connector's own count of the day's requests
    paused: set[str] = field(default_factory=set)  # why jobs held back (the budget, …)
    waiting: int = 0  # edits whose tags had not arrived at the day's end
    drift: float = 0.0  # seconds between the sandbox's clock and the connector's

    @property
    def requests(self) -> int:
        """Reads and writes."""
        return self.reads + self.writes


@dataclass
class Waiting:
    """An edit whose tags Wisenet does not have yet."""

    since: datetime
    tags: frozenset[str]


class Season:
    """The account, the connector's jobs and the staff, on one clock."""

    def __init__(
        self,
        server: SandboxServer,
        clock: MovedClock,
        runner: JobRunner,
        rng: random.Random,
        coalesce: timedelta,
        http: httpx.AsyncClient,
    ) -> None:
        self.server, self.sandbox, self.clock, self.runner = server, server.sandbox, clock, runner
        self.rng, self.coalesce, self.http = rng, coalesce, http
        self.labels = Labels.from_combos(combos(self.sandbox))
        self.owned = runner.ctx.ownership.owned
        self.waiting: dict[int, Waiting] = {}

    async def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """The sandbox's control API, on one connection."""
        response = await self.http.request(method, f"/_sandbox{path}", **kwargs)
        response.raise_for_status()
        return response.json()

    @property
    def ctx(self) -> SyncContext:
        """The connector's sync context."""
        return self.runner.ctx

    async def advance_to(self, moment: datetime) -> None:
        """Move both clocks to `moment` (never back)."""
        delta = moment - self.clock.now()
        if delta <= timedelta(0):
            return
        self.clock.offset += delta
        await self.control("POST", "/clock", json={"advance": {"seconds": delta.total_seconds()}})

    def tags_in_wisenet(self, ce_id: int) -> frozenset[str]:
        """An enrolment's owned tags as Wisenet holds them."""
        db = self.sandbox.db
        row = db.course_enrolments.rows.get(ce_id)
        if row is None:
            return frozenset()
        names = {db.tags.rows[t["TagId"]]["Name"] for t in row.get("TagIds", [])}
        return frozenset(names & self.owned)

    def wanted(self, learner_id: int, on: date) -> dict[int, frozenset[str]] | None:
        """The reference's owned tags per enrolment of an active learner; None if inactive."""
        if learner_id not in self.sandbox.db.learners:
            return {}
        bundle = bundle_for(self.sandbox, learner_id, self.labels)
        if bundle.learner.is_active is not True:
            return None
        outcome = decide(bundle, on)
        return {ce: frozenset(tags) for ce, (_, tags) in outcome.enrolments.items()}

    def note_edit(self, learner_id: int) -> None:
        """Start the delay of every enrolment of the learner whose tags must change."""
        now = self.clock.now()
        wanted = self.wanted(learner_id, now.astimezone(self.ctx.account_tz).date())
        if not wanted:  # inactive or deleted: no tag will follow
            db = self.sandbox.db
            for ce_id in [ce for ce in self.waiting if ce not in db.course_enrolments]:
                del self.waiting[ce_id]
            for ce_id in db.course_enrolments.ids_where("LearnerId", learner_id):
                self.waiting.pop(ce_id, None)
            return
        for ce_id, tags in wanted.items():
            if tags != self.tags_in_wisenet(ce_id):
                known = self.waiting.get(ce_id)
                if known is None or known.tags != tags:
                    self.waiting[ce_id] = Waiting(now, tags)
            else:
                self.waiting.pop(ce_id, None)

    def arrived(self, today: Day) -> None:
        """Record the delays of the edits whose tags Wisenet now has."""
        now = self.clock.now()
        for ce_id, waiting in list(self.waiting.items()):
            if self.tags_in_wisenet(ce_id) == waiting.tags:
                today.delays.append((now - waiting.since).total_seconds())
                del self.waiting[ce_id]

    def day_end_check(self, today: Day) -> None:
        """Compare every active learner's enrolments with the reference for `today.day`."""
        for learner_id in sorted(self.sandbox.db.learners.ids()):
            wanted = self.wanted(learner_id, today.day)
            if wanted is None:
                enrolments = self.sandbox.db.course_enrolments.ids_where("LearnerId", learner_id)
                today.frozen += len(enrolments)
                continue
            today.mismatches += sum(tags != self.tags_in_wisenet(ce) for ce, tags in wanted.items())


class Staff:
    """Edits people make in Wisenet, through the sandbox's control API."""

    def __init__(self, season: Season, rates: Rates, scale: float) -> None:
        self.season, self.rates, self.scale = season, rates, scale
        vocab = season.sandbox.vocab
        self.in_progress = {
            vocab.id_of("outcomes", code) for code in IN_PROGRESS if code and code != "@@"
        } | {None}
        self.open_units: list[int] = []

    def _open_units(self) -> list[int]:
        """Units of current enrolments without a final outcome, in random order."""
        db = self.season.sandbox.db
        units = [
            unit
            for ce in self._enrolments("Current")
            for unit in sorted(db.unit_enrolments.ids_where("CourseEnrolmentId", ce))
            if db.unit_enrolments.rows[unit].get("OutcomeId") in self.in_progress
        ]
        self.season.rng.shuffle(units)
        return units

    def plan(self, day: date) -> list[tuple[datetime, str]]:
        """The day's edits, each a kind at a moment between 09:00 and 17:00 (none at weekends)."""
        if day.weekday() >= 5:
            return []
        rng, tz = self.season.rng, self.season.ctx.account_tz
        first, last = WORK_HOURS[0] * 60, WORK_HOURS[1] * 60
        edits = []
        for kind, rate in vars(self.rates).items():
            clusters = [rng.randrange(first, last - 15) for _ in range(rng.choice((1, 2)))]
            for _ in range(poisson(rng, rate * self.scale)):
                if kind in BURSTS:
                    minute = rng.choice(clusters) + rng.randrange(15)
                else:
                    minute = rng.randrange(first, last)
                moment = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
                edits.append((moment, kind))
        self.open_units = self._open_units()
        return sorted(edits)

    async def make(self, kind: str) -> int | None:
        """Make one edit of `kind`; the learner it touched, or None if none could be made."""
        maker: Callable[[], Awaitable[int | None]] = getattr(self, f"_{kind}")
        return await maker()

    def _enrolments(self, *statuses: str) -> list[int]:
        vocab, db = self.season.sandbox.vocab, self.season.sandbox.db
        wanted = {vocab.id_of("enrolment-statuses", s) for s in statuses}
        return sorted(
            ce
            for ce, row in db.course_enrolments.rows.items()
            if row["EnrolmentStatusId"] in wanted
        )

    def _learner_of(self, ce_id: int) -> int:
        return int(self.season.sandbox.db.course_enrolments.rows[ce_id]["LearnerId"])

    def _active(self, learner_id: int) -> bool:
        row = self.season.sandbox.db.learners.rows[learner_id]
        return bool(row.get("Personal", {}).get("IsActive"))

    async def _status(self, ce_id: int, status: str, **extra: str) -> int:
        path = f"/course-enrolments/{ce_id}/status"
        await self.season.control("POST", path, json={"status": status, **extra})
        return self._learner_of(ce_id)

    async def _enquiries(self) -> int | None:
        learners = [i for i in sorted(self.season.sandbox.db.learners.ids()) if self._active(i)]
        if not learners:
            return None
        learner = self.season.rng.choice(learners)
        body = {"learner_id": learner, "status": "Enquiry"}
        await self.season.control("POST", "/course-enrolments", json=body)
        return learner

    async def _acceptances(self) -> int | None:
        """An enquiry accepted: current, and enrolled in its offer's units (outcomes to come)."""
        enquiries = self._enrolments("Enquiry")
        if not enquiries:
            return None
        ce = self.season.rng.choice(enquiries)
        learner = await self._status(ce, "Current")
        await self.season.control("POST", f"/course-enrolments/{ce}/units")
        return learner

    async def _outcomes(self) -> int | None:
        db, rng = self.season.sandbox.db, self.season.rng
        while self.open_units:
            unit = self.open_units.pop()
            row = db.unit_enrolments.rows.get(unit)
            if row is None or row.get("OutcomeId") not in self.in_progress:
                continue
            code = "20" if rng.random() < 0.9 else "30"
            path = f"/unit-enrolments/{unit}/outcome"
            await self.season.control("POST", path, json={"code": code})
            return self._learner_of(int(row["CourseEnrolmentId"]))
        return None

    async def _completions(self) -> int | None:
        current = self._enrolments("Current")
        if not current:
            return None
        today = self.season.clock.now().astimezone(self.season.ctx.account_tz).date()
        ce = self.season.rng.choice(current)
        return await self._status(ce, "Completed", actual_end_date=today.isoformat())

    async def _certificates(self) -> int | None:
        db, rng = self.season.sandbox.db, self.season.rng
        certified = {row["CourseEnrolmentId"] for row in db.credentials.rows.values()}
        waiting = [ce for ce in self._enrolments("Completed") if ce not in certified]
        if not waiting:
            return None
        waiting.sort(key=lambda ce: str(db.course_enrolments.rows[ce].get("ActualEndDate")))
        ce = waiting[min(len(waiting) - 1, int(rng.expovariate(1 / 6)))]  # mostly the oldest
        await self.season.control("POST", f"/course-enrolments/{ce}/credentials", json={})
        return self._learner_of(ce)

    async def _withdrawals(self) -> int | None:
        current = self._enrolments("Current")
        return await self._status(self.season.rng.choice(current), "Withdrawn") if current else None

    async def _deactivations(self) -> int | None:
        db = self.season.sandbox.db
        learners = [i for i in sorted(db.learners.ids()) if self._active(i)]
        if not learners:
            return None
        learner = self.season.rng.choice(learners)
        await self.season.control("POST", f"/learners/{learner}/active", json={"active": False})
        return learner

    async def _learner_deletes(self) -> int | None:
        db = self.season.sandbox.db
        learner = self.season.rng.choice(sorted(db.learners.ids()))
        await self.season.control("DELETE", f"/records/Learner/{learner}")
        return learner

    async def _deletes(self) -> int | None:
        enquiries = self._enrolments("Enquiry")
        if not enquiries:
            return None
        ce = self.season.rng.choice(enquiries)
        learner = self._learner_of(ce)
        await self.season.control("DELETE", f"/records/CourseEnrolment/{ce}")
        return learner


Job = Callable[[SyncContext], Awaitable[SyncReport]]


@dataclass
class Schedule:
    """When each of the service's timed jobs runs next, by the service's own settings."""

    def __init__(self, settings: Settings, now: datetime) -> None:
        tz = settings.timezone
        self.interval = settings.effective_poll_interval
        self.triggers = {
            "reconcile": CronTrigger.from_crontab(settings.reconcile_cron, timezone=tz),
            "sweep": CronTrigger(
                hour=settings.sweep_at.hour, minute=settings.sweep_at.minute, timezone=tz
            ),
        }
        self.at = {"poll": now}  # the sync runs at start, then every interval
        for name, trigger in self.triggers.items():
            fires = trigger.get_next_fire_time(None, now)
            assert fires is not None
            self.at[name] = fires

    def due(self, now: datetime) -> list[str]:
        """The jobs due at `now`, in the order the service would start them."""
        return [name for name in ("reconcile", "sweep", "poll") if self.at[name] <= now]

    def done(self, name: str) -> None:
        """Move a job's next run on."""
        if name == "poll":
            self.at[name] += self.interval
            return
        fires = self.triggers[name].get_next_fire_time(self.at[name], self.at[name] + MINUTE)
        assert fires is not None
        self.at[name] = fires

    def next(self) -> datetime:
        """The next timed job."""
        return min(self.at.values())


async def run_day(season: Season, staff: Staff, schedule: Schedule, day: date) -> Day:
    """One day from midnight to midnight; the sandbox's counters give its requests."""
    tz, runner = season.ctx.account_tz, season.runner
    today = Day(day)
    await season.control("POST", "/counters/reset")
    edits = staff.plan(day)
    today.planned.update(kind for _, kind in edits)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    timed: dict[str, tuple[Job, str | None]] = {
        "poll": (runner.sync_watching_webhooks, None),
        "sweep": (sweep, None),
        "reconcile": (reconcile, "sync"),
    }
    while True:
        now = season.clock.now()
        while edits and edits[0][0] <= now:
            _, kind = edits.pop(0)
            learner = await staff.make(kind)
            if learner is None:
                today.unmade[kind] += 1
            else:
                today.edits += 1
                season.note_edit(learner)
        for name in schedule.due(now):
            job, lock = timed[name]
            note(today, await runner.guarded("sync" if name == "poll" else name, job, lock))
            schedule.done(name)
        await season.control("POST", "/webhooks/flush")
        busy = False
        if (await season.ctx.store.inbox.state()).depth:
            await season.advance_to(season.clock.now() + season.coalesce)  # as the worker waits
            note(today, await runner.guarded("inbox", runner.drain, "sync", record=False))
            busy = True
        if await season.ctx.store.outbox.size():
            note(today, await runner.guarded("write", write_only))
            busy = True
        season.arrived(today)
        following = min([schedule.next(), end] + [e[0] for e in edits[:1]])
        if busy:
            following = min(following, now + MINUTE)
        if following >= end:
            break
        await season.advance_to(following)
    season.day_end_check(today)
    today.waiting = len(season.waiting)
    today.budget_used = (await season.ctx.client.budget.state()).used
    sandbox_now = datetime.fromisoformat((await season.control("GET", "/clock"))["now"])
    today.drift = abs((sandbox_now - season.clock.now()).total_seconds())
    counts = (await season.control("GET", "/counters"))["by_endpoint"]
    today.by_endpoint.update(counts)
    today.reads = sum(n for e, n in counts.items() if e.startswith("GET "))
    today.writes = sum(n for e, n in counts.items() if not e.startswith("GET "))
    await season.advance_to(end)
    return today


def note(today: Day, report: SyncReport | None) -> None:
    """Keep why a job held back, if it did."""
    if report is not None and report.paused:
        today.paused.add(report.paused)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth's method; the means here are small)."""
    if mean <= 0:
        return 0
    if mean > 50:  # the normal approximation, for the outcomes
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def settings_for(server: SandboxServer, folder: Path, quota: int) -> Settings:
    """The defaults of a Basic-plan account, but for where Wisenet and the store are."""
    return Settings(
        _env_file=None,
        wisenet_base_url=server.base_url,
        wisenet_api_key=SecretStr("sandbox-key"),
        database_url=f"sqlite+aiosqlite:///{folder / 'season.db'}",
        wisenet_daily_quota=quota,
    )


async def season(learners: int, days: int, seed: int, folder: Path) -> list[Day]:
    """Onboard the account, then run `days` days."""
    config = SandboxConfig(learners=learners, seed=seed, today=START, rate_limit=0, daily_quota=0)
    server = SandboxServer(Sandbox(config))
    server.start()
    try:
        clock = MovedClock(server.sandbox.clock.now())
        onboarding = settings_for(server, folder, 10_000_000)
        async with sync_context(onboarding, Parts(clock=clock, rate_limit=1000)) as ctx:
            report = await sync(ctx)
            print(f"onboarding: {report.learners_evaluated} learners, {report.writes_done} writes")
        settings = settings_for(server, folder, 1000)
        async with AsyncExitStack() as stack:
            ctx = await stack.enter_async_context(
                sync_context(settings, Parts(clock=clock, rate_limit=1000))
            )
            interval = settings.effective_poll_interval
            state = ServiceState(Path(settings.mapping_file), webhook_silence=2 * interval)
            runner = JobRunner(ctx, "season", ConnectorMetrics(), state)
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.url, timeout=60)
            )
            rng = random.Random(seed)
            sim = Season(server, clock, runner, rng, settings.webhook_coalesce, http)
            staff = Staff(sim, Rates(), learners / 5000)
            tz = ctx.account_tz
            first = START + timedelta(days=1)
            await sim.advance_to(datetime.combine(first, time(0), tzinfo=tz))
            schedule = Schedule(settings, clock.now())
            async with receiver(ctx) as url:  # real time: deliveries are signed with it
                hook = {"url": url, "duplicate_rate": 0.1, "reorder": True}
                await sim.control("POST", "/webhooks", json=hook)
                results = []
                for offset in range(days):
                    result = await run_day(sim, staff, schedule, first + timedelta(days=offset))
                    print(line(result), flush=True)
                    results.append(result)
            return results
    finally:
        server.stop()


def line(day: Day) -> str:
    """One day's row."""
    delays = sorted(day.delays)
    median = f"{statistics.median(delays):.0f}" if delays else "-"
    p95 = f"{delays[int(0.95 * (len(delays) - 1))]:.0f}" if delays else "-"
    unmade = sum(day.unmade.values())
    return (
        f"{day.day} {day.day.strftime('%a')}  {day.edits:>5}  {unmade:>6}  {day.reads:>5}  "
        f"{day.writes:>6}  {day.requests:>8}  {day.budget_used:>6}  {median:>5}  {p95:>5}  "
        f"{day.waiting:>7}  {day.mismatches:>10}  {day.frozen:>6}  {'; '.join(sorted(day.paused))}"
    )


def main() -> None:
    """Print a row per day, then the season's figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=5000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    configure_logging("json", "error")
    print(
        "day             edits  unmade  reads  writes  requests  budget  delay p50/p95 (s)  "
        "waiting  mismatches  frozen  held back"
    )
    with tempfile.TemporaryDirectory() as folder:
        days = asyncio.run(season(args.learners, args.days, args.seed, Path(folder)))
    delays = sorted(d for day in days for d in day.delays)
    peak = max(days, key=lambda d: d.requests)
    weekdays = [d.requests for d in days if d.day.weekday() < 5]
    print(
        f"\n{len(days)} days; peak {peak.requests} requests on {peak.day} (Basic plan: 1,000); "
        f"business days mean {statistics.mean(weekdays):.0f}; "
        f"days over 1,000: {sum(d.requests > 1000 for d in days)}; "
        f"days with mismatches: {sum(d.mismatches > 0 for d in days)}"
    )
    if delays:
        print(
            f"edit to tags: {len(delays)} edits, median {statistics.median(delays):.0f} s, "
            f"95th percentile {delays[int(0.95 * (len(delays) - 1))]:.0f} s, "
            f"longest {delays[-1]:.0f} s"
        )
    planned = sum((d.planned for d in days), Counter[str]())
    unmade = sum((d.unmade for d in days), Counter[str]())
    print(f"edits planned by kind: {dict(planned)}; not made (nothing to edit): {dict(unmade)}")
    print(
        f"largest clock drift between the sandbox and the connector: "
        f"{max(d.drift for d in days):.3f} s; days with a job held back: "
        f"{sum(bool(d.paused) for d in days)}"
    )
    spent = sum((d.by_endpoint for d in days), Counter[str]())
    print(f"requests by endpoint over the season: {dict(spent.most_common())}")


if __name__ == "__main__":
    main()
