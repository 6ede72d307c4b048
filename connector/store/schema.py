"""The store's tables (SQLAlchemy Core). Alembic migrations in `migrations/` create them.

Snapshots keep only what rules read (the bundle values of `mappings.bundle`, as JSON) plus ids,
Wisenet's modification stamp and a content hash; never whole records, names or free text.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

identity = Table(
    "store_identity",
    metadata,
    Column("key", String(16), primary_key=True),
    Column("base_url", String(300), nullable=False),
    Column("account_number", String(100), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

records = Table(
    "records",
    metadata,
    Column("entity", String(32), primary_key=True),
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("learner_id", Integer, nullable=True),
    Column("parent_id", Integer, nullable=True),
    Column("modified", String(40), nullable=True),
    Column("content_hash", String(64), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("tag_ids", JSON, nullable=True),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
    Index("ix_records_entity_learner", "entity", "learner_id"),
    Index("ix_records_entity_parent", "entity", "parent_id"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("entity", String(32), primary_key=True),
    Column("high_water", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("resume_skip", Integer, nullable=True),
    Column("resume_since", DateTime(timezone=True), nullable=True),
    Column("resume_high", DateTime(timezone=True), nullable=True),
)

combos = Table(
    "combos",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("entries", JSON, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("tag_id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("created_by_connector", Boolean, nullable=False, default=False),
    Index("ix_tags_name", "name"),
)

# Owned tag names being created in Wisenet: recorded before `POST /tags`, dropped with its answer.
tag_creations = Table(
    "tag_creations",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
)

learner_state = Table(
    "learner_state",
    metadata,
    Column("learner_id", Integer, primary_key=True, autoincrement=False),
    Column("stage", String(40), nullable=True),
    Column("mapping_version", Integer, nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("decision", JSON, nullable=False),
)

enrolment_state = Table(
    "enrolment_state",
    metadata,
    Column("course_enrolment_id", Integer, primary_key=True, autoincrement=False),
    Column("learner_id", Integer, nullable=False, index=True),
    Column("stage", String(40), nullable=False),
    Column("desired_tags", JSON, nullable=False),
    Column("stage_since", DateTime(timezone=True), nullable=False),
)

flags = Table(
    "flags",
    metadata,
    Column("flag", String(100), primary_key=True),
    Column("subject", String(32), primary_key=True),
    Column("subject_id", Integer, primary_key=True, autoincrement=False),
    Column("learner_id", Integer, nullable=False, index=True),
    Column("rule", String(100), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(20), nullable=True),  # missing_data | overdue | other
    Column("due", Date, nullable=True),  # the day the flagged work became due
    Column("course_enrolment_id", Integer, nullable=True),  # the enrolment it is or belongs to
    Column("owner_id", Integer, nullable=True),  # its coordinator's, else its trainer's, staff id
)

daily_writes = Table(  # tag writes Wisenet answered, per account day (for the digest)
    "daily_writes",
    metadata,
    Column("day", Date, primary_key=True),
    Column("writes", Integer, nullable=False),
)

digests = Table(  # the daily digests: what each said (counts only) and how its sending went
    "digests",
    metadata,
    Column("day", Date, primary_key=True),  # the account's date it was made for
    Column("made_at", DateTime(timezone=True), nullable=False),
    Column("counts", JSON, nullable=False),  # open flags by flag id
    Column("outcome", String(20), nullable=False),  # sending | sent | failed | partly sent
    Column("attempts", Integer, nullable=False),
    Column("detail", String(300), nullable=True),  # per channel, what failed (no secrets)
    Column("finished_at", DateTime(timezone=True), nullable=True),
)

course_offers = Table(  # the account's course offers, for the worklist's course codes
    "course_offers",
    metadata,
    Column("course_offer_id", Integer, primary_key=True, autoincrement=False),
    Column("code", String(100), nullable=True),
    Column("course_code", String(100), nullable=True),
    Column("modified", String(40), nullable=True),
)

stage_history = Table(
    "stage_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(32), nullable=False),
    Column("subject_id", Integer, nullable=False),
    Column("learner_id", Integer, nullable=False, index=True),
    Column("from_stage", String(40), nullable=True),
    Column("to_stage", String(40), nullable=True),
    Column("rule", String(100), nullable=True),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("effective_date", Date, nullable=True),
)

outbox = Table(
    "outbox",
    metadata,
    Column("course_enrolment_id", Integer, primary_key=True, autoincrement=False),
    Column("learner_id", Integer, nullable=False),
    Column("add_tags", JSON, nullable=False),
    Column("remove_tags", JSON, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("correlation_id", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(64), nullable=True),  # who is sending it, until lease_until
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("blocked_tag", String(100), nullable=True),  # a refused tag this write needs
    Column("blocked_reason", String(300), nullable=True),  # the refusal, naming the fix
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("course_enrolment_id", Integer, nullable=False),
    Column("reason", String(300), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

budget = Table(
    "budget",
    metadata,
    Column("day", Date, primary_key=True),
    Column("used", Integer, nullable=False),
    Column("exhausted", Boolean, nullable=False),
    Column("probed_at", DateTime(timezone=True), nullable=True),
)

mapping_versions = Table(
    "mapping_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("checksum", String(64), nullable=False),
    Column("source", String(300), nullable=False),
    Column("text", Text, nullable=False),
    Column("activated_at", DateTime(timezone=True), nullable=False),
    Column("active", Boolean, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(40), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(40), nullable=True),
    Column("detail", JSON, nullable=True),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

dirty_learners = Table(
    "dirty_learners",
    metadata,
    Column("learner_id", Integer, primary_key=True, autoincrement=False),
)

webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(256), nullable=True, unique=True),
    Column("entity", String(40), nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("record_guid", String(100), nullable=True),
    Column("event", String(16), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(32), nullable=True),
    Index("ix_webhook_inbox_pending", "processed_at", "id"),
    Index("ix_webhook_inbox_record", "entity", "record_id", "received_at"),
)
