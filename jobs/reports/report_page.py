"""The admin report as one self-contained HTML page: inline CSS and SVG, no scripts, no fonts.

Sections: a personal-data notice, where and when it was made and by which mapping, totals,
learners per stage as a funnel, time spent in each stage, overdue work by days past due and the
most overdue items per flag, missing data by flag, the latest runs in words and the API budget.
Every text from the store is escaped; the page carries ids and counts only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from html import escape

from connector.store.report_data import OVERDUE_BUCKETS, ReportData, overdue_bucket
from connector.store.store import Store
from connector.store.worklist import WorkItem
from jobs.pipeline.mapping_apply import Impact
from mappings.loader import parse_mapping
from mappings.schema import MappingSpec

FUNNEL_ORDER = ("Sales", "Progression", "Completion", "Reconnect")
NOTICE = (
    "This page holds personal data about learners (their ids and where they are in their "
    "studies). Keep it within the organisation and delete copies you no longer need."
)
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#1d2433}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}
th,td{padding:.3rem .7rem;border-bottom:1px solid #dde}
th{text-align:left;background:#f3f5f9}td.n{text-align:right;font-variant-numeric:tabular-nums}
.notice{background:#fff4d6;border:1px solid #e8c55a;padding:.6rem .9rem;border-radius:4px}
svg text{font-size:13px;fill:#1d2433}
"""
BAR = "#3a6ea5"


def flag_kinds(spec: MappingSpec) -> dict[str, str]:
    """Each flag of the mapping and its kind (missing data, overdue work or other)."""
    return {rule.id: rule.kind for rule in spec.flags}


@dataclass(frozen=True)
class PageFacts:
    """What the page says besides the store's counts: where, when, by which mapping, the work."""

    kinds: dict[str, str]
    work: list[WorkItem]
    zone: tzinfo
    today: date
    mapping: str = "none yet"
    account: str = "not yet bound to a Wisenet"
    top: int = 5


def render_report(data: ReportData, facts: PageFacts, quota: int) -> str:
    """The page; `facts.kinds` says which flags are missing data and which are overdue work."""
    kinds = facts.kinds
    missing = [f for f in data.flags if kinds.get(f.flag) == "missing_data"]
    other = [f for f in data.flags if kinds.get(f.flag) not in ("overdue", "missing_data")]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Wisenet lifecycle report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Wisenet lifecycle report</h1>",
        f'<p class="notice" id="personal-data">{escape(NOTICE)}</p>',
        f'<p id="generated">Generated {escape(_when(data.generated_at, facts.zone))} for '
        f"{escape(facts.account)}; mapping {escape(facts.mapping)}. Days are counted in "
        f"{escape(str(facts.zone))}, as of {facts.today.isoformat()}.</p>",
        _totals(data, facts),
        "<h2>Learners per stage</h2>",
        _funnel(data.learners_by_stage),
        "<h2>Time spent in each stage</h2>",
        _stage_times(data),
        "<h2>Overdue work, by days past due</h2>",
        _overdue(facts),
        "<h2>Most overdue, per flag</h2>",
        _most_overdue(facts),
        "<h2>Missing data</h2>",
        _bars("missing", [(f.flag, f.count) for f in missing])
        if missing
        else "<p>None: no learner in scope lacks the data the mapping's missing-data flags "
        "ask for.</p>",
    ]
    if other:
        parts += [
            "<h2>Other flags</h2>",
            _table("other-flags", ["flag", "raised"], ([f.flag, f.count] for f in other)),
        ]
    parts += [
        "<h2>Latest runs</h2>",
        _runs(data, facts.zone),
        "<h2>API budget used</h2>",
        _budget(data, quota),
        "</body></html>",
    ]
    return "\n".join(parts)


def _when(moment: datetime, zone: tzinfo) -> str:
    """A moment in the account's timezone, to the minute."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _totals(data: ReportData, facts: PageFacts) -> str:
    by_kind = Counter(item.kind for item in facts.work)
    return _table(
        "totals",
        ["total", "count"],
        [
            ["learners decided", sum(data.learners_by_stage.values())],
            ["open work items (every raised flag)", len(facts.work)],
            ["overdue work", by_kind["overdue"]],
            ["missing data", by_kind["missing_data"]],
            ["other flags", len(facts.work) - by_kind["overdue"] - by_kind["missing_data"]],
        ],
    )


def _overdue(facts: PageFacts) -> str:
    """Per overdue flag, how many items are how many days past their due date."""
    overdue = [item for item in facts.work if item.kind == "overdue"]
    if not overdue:
        return (
            "<p>None: no overdue flag is raised on any stored learner today (flags older than "
            "the mapping's look-back are not raised).</p>"
        )
    names = [name for _, name in OVERDUE_BUCKETS]
    counts: dict[str, Counter[str]] = {}
    for item in overdue:
        bucket = "no due date" if item.days_overdue is None else overdue_bucket(item.days_overdue)
        counts.setdefault(item.flag, Counter())[bucket] += 1
    undated = any(c["no due date"] for c in counts.values())
    head = [*names, "no due date"] if undated else names
    table = {flag: [counts[flag][name] for name in head] for flag in sorted(counts)}
    totals = [sum(column) for column in zip(*table.values(), strict=True)]
    rows: list[list[object]] = [[flag, *row, sum(row)] for flag, row in table.items()]
    rows.append(["all overdue work", *totals, sum(totals)])
    return (
        "<p>Days past the day the work was due (each flag's <code>due</code> in the mapping).</p>"
        + _table("overdue", ["flag", *head, "total"], rows)
    )


def _most_overdue(facts: PageFacts) -> str:
    """The top of the worklist for each overdue flag."""
    overdue = [item for item in facts.work if item.kind == "overdue"]
    if not overdue:
        return "<p>None.</p>"
    rows = []
    for flag in sorted({item.flag for item in overdue}):
        for item in [i for i in overdue if i.flag == flag][: facts.top]:
            rows.append(
                [
                    flag,
                    "-" if item.days_overdue is None else item.days_overdue,
                    item.learner_id,
                    item.learner_number or "-",
                    item.course_enrolment_id or "-",
                    item.course_code or "-",
                    "-" if item.owner_id is None else item.owner_id,
                    f"{item.subject} {item.id}",
                ]
            )
    return (
        f"<p>The {facts.top} most overdue items of each flag; "
        "<code>connector worklist</code> lists them all.</p>"
        + _table(
            "top-overdue",
            [
                "flag",
                "days overdue",
                "learner id",
                "learner number",
                "enrolment",
                "course",
                "owner",
                "subject",
            ],
            rows,
        )
    )


def _stage_order(counts: dict[str, int]) -> list[str]:
    rest = sorted(stage for stage in counts if stage not in FUNNEL_ORDER)
    return [stage for stage in FUNNEL_ORDER if stage in counts] + rest


def _funnel(counts: dict[str, int]) -> str:
    """Centred bars, one per stage, widths proportional to the count."""
    stages = _stage_order(counts)
    if not stages:
        return "<p>No learners decided yet.</p>"
    widest = max(counts.values()) or 1
    width, row, label = 640, 34, 150
    rows = []
    for index, stage in enumerate(stages):
        count = counts[stage]
        bar = max(2.0, (width - label - 60) * count / widest)
        x = label + ((width - label - 60) - bar) / 2
        y = index * row + 4
        rows.append(
            f'<g class="stage" data-stage="{escape(stage)}" data-count="{count}">'
            f'<text x="0" y="{y + 19}">{escape(stage)}</text>'
            f'<rect x="{x:.1f}" y="{y}" width="{bar:.1f}" height="{row - 8}" fill="{BAR}" rx="3"/>'
            f'<text x="{width - 50}" y="{y + 19}" class="count">{count}</text></g>'
        )
    height = len(stages) * row + 8
    return (
        f'<svg id="funnel" role="img" aria-label="Learners per stage" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">' + "".join(rows) + "</svg>"
    )


def _bars(name: str, items: list[tuple[str, int]]) -> str:
    """A horizontal bar chart of counts."""
    if not items:
        return ""
    widest = max(count for _, count in items) or 1
    width, row, label = 640, 26, 220
    rows = []
    for index, (title, count) in enumerate(items):
        bar = max(2.0, (width - label - 60) * count / widest)
        y = index * row + 4
        rows.append(
            f'<text x="0" y="{y + 15}">{escape(title)}</text>'
            f'<rect x="{label}" y="{y}" width="{bar:.1f}" height="{row - 8}" fill="{BAR}" rx="2"/>'
            f'<text x="{label + bar + 6:.1f}" y="{y + 15}">{count}</text>'
        )
    height = len(items) * row + 8
    return (
        f'<svg id="{name}-chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">' + "".join(rows) + "</svg>"
    )


def _table(table_id: str, head: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{cell}</td>'
            if isinstance(cell, int | float)
            else f"<td>{escape(str(cell))}</td>"
            for cell in row
        )
        + "</tr>"
        for row in rows
    )
    return f'<table id="{table_id}"><tr>{header}</tr>{body}</table>'


def _stage_times(data: ReportData) -> str:
    if not data.stage_times:
        return "<p>No stage has yet been seen beginning and ending.</p>"
    return _table(
        "stage-times",
        ["stage", "learners seen through it", "median days", "90th percentile days"],
        (
            [t.stage, t.intervals, round(t.median_days, 1), round(t.p90_days, 1)]
            for t in data.stage_times
        ),
    )


RUN_WORDS = {
    "learners": "learners decided",
    "learners_placed": "learners placed in a first stage",
    "enrolments_placed": "enrolments placed in a first stage",
    "learners_changed": "learners changed stage",
    "enrolments_changed": "enrolments changed stage",
    "writes_done": "tags written",
    "writes_failed": "writes failed",
    "writes_blocked": "writes blocked",
    "writes_planned": "writes planned",
}


def run_in_words(detail: dict[str, object]) -> str:
    """A run's counts as a person says them ("126 tags written"); zero counts left out."""
    if "error" in detail:
        return f"stopped: {detail['error']}"
    said = [
        f"{value} {RUN_WORDS.get(key, key.replace('_', ' '))}"
        for key, value in detail.items()
        if value
    ]
    return ", ".join(said) or "nothing to do"


def _runs(data: ReportData, zone: tzinfo) -> str:
    if not data.runs:
        return "<p>No runs yet.</p>"
    return _table(
        "runs",
        ["job", "started", "outcome", "what happened"],
        (
            [
                run.job,
                _when(run.started_at, zone),
                run.outcome or "running",
                run_in_words(run.detail),
            ]
            for run in data.runs
        ),
    )


def _budget(data: ReportData, quota: int) -> str:
    if not data.budget_days:
        return "<p>No requests counted yet.</p>"
    return _table(
        "budget",
        ["day", "requests", "share of the quota"],
        ([day.isoformat(), used, f"{used / quota:.0%}"] for day, used in data.budget_days),
    )


def render_preview(found: Impact, daily_quota: int, proposed: str) -> str:
    """The impact of switching to the `proposed` mapping file, as one self-contained page."""
    stages, matrix = found.matrix()
    tags = sorted(set(found.tags_added) | set(found.tags_removed))
    flags = sorted(set(found.flags_raised) | set(found.flags_cleared))
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Mapping preview</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Switching to {escape(proposed)}</h1>",
        f'<p class="notice" id="personal-data">{escape(NOTICE)}</p>',
        f"<p>{found.learners} stored learners evaluated with both mappings.</p>",
        "<h2>Course enrolments moving stage (rows from, columns to)</h2>",
        _table(
            "stage-moves", ["from \\ to", *stages], ([old, *matrix[old].values()] for old in stages)
        )
        if stages
        else "<p>No enrolment changes stage.</p>",
        "<h2>Tags</h2>",
        _table(
            "tags",
            ["tag", "added", "removed"],
            ([t, found.tags_added[t], found.tags_removed[t]] for t in tags),
        )
        if tags
        else "<p>No tag changes.</p>",
        "<h2>Flags</h2>",
        _table(
            "flags",
            ["flag", "appearing", "disappearing"],
            ([f, found.flags_raised[f], found.flags_cleared[f]] for f in flags),
        )
        if flags
        else "<p>No flag changes.</p>",
        "<h2>By course</h2>",
        _table(
            "courses",
            ["course", "enrolments changing"],
            ([course, n] for course, n in sorted(found.courses.items())),
        )
        if found.courses
        else "<p>No enrolment changes.</p>",
        "<h2>Write cost</h2>",
        f'<p id="cost">{found.writes} request(s), about {found.days(daily_quota)} day(s) of a '
        f"{daily_quota}-request daily budget.</p>",
        "<h2>Sample learners</h2>",
        _table(
            "samples",
            ["change", "learner ids"],
            ([c, ", ".join(map(str, ids))] for c, ids in sorted(found.samples.items())),
        )
        if found.samples
        else "<p>None.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


async def report_html(store: Store, quota: int, zone: tzinfo) -> str:
    """The report page for the store's state, its active mapping and its worklist."""
    active = await store.mappings.active()
    kinds = flag_kinds(parse_mapping(active[2], active[1])) if active else {}
    binding = await store.binding()
    today = store.clock.now().astimezone(zone).date()
    facts = PageFacts(
        kinds=kinds,
        work=await store.worklist.items(today),
        zone=zone,
        today=today,
        mapping="none yet" if active is None else f"version {active[0]} ({active[1]})",
        account="not yet bound to a Wisenet"
        if binding is None
        else f"account {binding.account_number or '-'} at {binding.base_url}",
    )
    return render_report(await store.report.data(), facts, quota)
