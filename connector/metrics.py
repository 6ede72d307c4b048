"""The connector's Prometheus metrics, on a registry of its own (one per service, or per test).

Labels are endpoint templates, outcomes, reasons, stages and flag names: never ids of people,
never values. Gauges that describe the store (inbox depth, learners per stage, …) are set just
before each scrape by whoever serves `/metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PREFIX = "connector"


@dataclass
class ConnectorMetrics:
    """Every metric the service exposes."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.webhooks_received = Counter(
            f"{PREFIX}_webhooks_received",
            "Verified webhook deliveries, by what became of them",
            ["outcome"],
            registry=r,
        )
        self.webhooks_rejected = Counter(
            f"{PREFIX}_webhooks_rejected",
            "Webhook deliveries refused, by reason",
            ["reason"],
            registry=r,
        )
        self.webhook_last_delivery = Gauge(
            f"{PREFIX}_webhook_last_delivery_timestamp_seconds",
            "When the latest verified delivery arrived (Unix time; 0 if never)",
            registry=r,
        )
        self.inbox_depth = Gauge(
            f"{PREFIX}_inbox_depth", "Webhook deliveries waiting to be processed", registry=r
        )
        self.inbox_oldest_age = Gauge(
            f"{PREFIX}_inbox_oldest_age_seconds",
            "Age of the oldest delivery waiting (0 when none waits)",
            registry=r,
        )
        self.inbox_events = Counter(
            f"{PREFIX}_inbox_events",
            "Inbox rows processed, by outcome (fetched, listed, echo, deleted, coalesced)",
            ["outcome"],
            registry=r,
        )
        self.unannounced_changes = Counter(
            f"{PREFIX}_poll_changes_unannounced",
            "Changes found by polling that no webhook announced",
            ["entity"],
            registry=r,
        )
        self.api_requests = Counter(
            f"{PREFIX}_wisenet_requests",
            "Wisenet API requests, by method, endpoint template and status",
            ["method", "endpoint", "status"],
            registry=r,
        )
        self.reads = Counter(
            f"{PREFIX}_wisenet_reads",
            "Wisenet read requests, by entity and how the records were read (by_id, "
            "modified_since, whole_listing, by_parent)",
            ["entity", "strategy"],
            registry=r,
        )
        self.budget_remaining = Gauge(
            f"{PREFIX}_wisenet_budget_remaining",
            "Requests left in the day's budget",
            registry=r,
        )
        self.budget_exhausted = Gauge(
            f"{PREFIX}_wisenet_quota_exhausted",
            "1 while Wisenet reports the day's quota spent",
            registry=r,
        )
        self.writes = Counter(
            f"{PREFIX}_writes",
            "Tag writes, by outcome (done, skipped, failed)",
            ["outcome"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            f"{PREFIX}_outbox_depth",
            "Tag writes waiting to be sent (blocked ones apart)",
            registry=r,
        )
        self.writes_blocked = Gauge(
            f"{PREFIX}_writes_blocked",
            "Tag writes held by a tag the connector refuses, until the mapping or Wisenet is fixed",
            ["tag"],
            registry=r,
        )
        self.learners_by_stage = Gauge(
            f"{PREFIX}_learners", "Learners per lifecycle stage", ["stage"], registry=r
        )
        self.digest_sends = Counter(
            f"{PREFIX}_digest_sends",
            "Daily digest deliveries, by channel (mail, chat) and outcome (sent, retried, failed)",
            ["channel", "outcome"],
            registry=r,
        )
        self.digest_last_sent = Gauge(
            f"{PREFIX}_digest_last_sent_timestamp_seconds",
            "When a digest last reached every channel (Unix time; 0 if never)",
            registry=r,
        )
        self.flags_by_type = Gauge(f"{PREFIX}_flags", "Raised flags per flag", ["flag"], registry=r)
        self.job_duration = Histogram(
            f"{PREFIX}_job_duration_seconds",
            "How long each job ran",
            ["job"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
            registry=r,
        )
        self.leader = Gauge(
            f"{PREFIX}_scheduler_leader",
            "1 while this replica holds the scheduler lock (runs the jobs, calls Wisenet)",
            registry=r,
        )
        self.wisenet_up = Gauge(
            f"{PREFIX}_wisenet_up",
            "0 while the latest job here failed on Wisenet (a standby, calling nothing, shows 1)",
            registry=r,
        )
        self.mapping_differs = Gauge(
            f"{PREFIX}_mapping_file_differs",
            "1 when the mapping file on disk is a valid mapping other than the active one",
            registry=r,
        )
        self.mapping_file_bad = Gauge(
            f"{PREFIX}_mapping_file_bad",
            "1 when the mapping file on disk cannot be read or is not a valid mapping "
            "(the active mapping stays in use)",
            registry=r,
        )

    def observe_request(self, method: str, endpoint: str, status: str) -> None:
        """Count one Wisenet request (the client calls this for every attempt)."""
        self.api_requests.labels(method, endpoint, status).inc()

    def set_counts(self, gauge: Gauge, counts: dict[str, int]) -> None:
        """Replace a labelled gauge's values with `counts` (labels no longer present vanish)."""
        gauge.clear()
        for label, value in counts.items():
            gauge.labels(label).set(value)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
