"""The initial store: snapshots, cursors, decisions, outbox, budget, mapping versions, runs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "budget",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("exhausted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_budget")),
    )
    op.create_table(
        "combos",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_combos")),
    )
    op.create_table(
        "cursors",
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("high_water", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entity", name=op.f("pk_cursors")),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("course_enrolment_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_table(
        "enrolment_state",
        sa.Column("course_enrolment_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=40), nullable=False),
        sa.Column("desired_tags", sa.JSON(), nullable=False),
        sa.Column("stage_since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("course_enrolment_id", name=op.f("pk_enrolment_state")),
    )
    op.create_index(
        op.f("ix_enrolment_state_learner_id"), "enrolment_state", ["learner_id"], unique=False
    )
    op.create_table(
        "flags",
        sa.Column("flag", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("flag", "subject", "subject_id", name=op.f("pk_flags")),
    )
    op.create_index(op.f("ix_flags_learner_id"), "flags", ["learner_id"], unique=False)
    op.create_table(
        "learner_state",
        sa.Column("learner_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stage", sa.String(length=40), nullable=True),
        sa.Column("mapping_version", sa.Integer(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("learner_id", name=op.f("pk_learner_state")),
    )
    op.create_table(
        "mapping_versions",
        sa.Column("version", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_mapping_versions")),
    )
    op.create_table(
        "outbox",
        sa.Column("course_enrolment_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("add_tags", sa.JSON(), nullable=False),
        sa.Column("remove_tags", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("correlation_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("course_enrolment_id", name=op.f("pk_outbox")),
    )
    op.create_table(
        "records",
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("modified", sa.String(length=40), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("tag_ids", sa.JSON(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entity", "id", name=op.f("pk_records")),
    )
    op.create_index("ix_records_entity_learner", "records", ["entity", "learner_id"], unique=False)
    op.create_index("ix_records_entity_parent", "records", ["entity", "parent_id"], unique=False)
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_table(
        "stage_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(length=40), nullable=True),
        sa.Column("to_stage", sa.String(length=40), nullable=True),
        sa.Column("rule", sa.String(length=100), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_history")),
    )
    op.create_index(
        op.f("ix_stage_history_learner_id"), "stage_history", ["learner_id"], unique=False
    )
    op.create_table(
        "store_identity",
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.String(length=300), nullable=False),
        sa.Column("account_number", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_store_identity")),
    )
    op.create_table(
        "tags",
        sa.Column("tag_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_by_connector", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("tag_id", name=op.f("pk_tags")),
    )
    op.create_index("ix_tags_name", "tags", ["name"], unique=False)


def downgrade() -> None:
    """Drop every table."""
    op.drop_index("ix_tags_name", table_name="tags")
    op.drop_table("tags")
    op.drop_table("store_identity")
    op.drop_index(op.f("ix_stage_history_learner_id"), table_name="stage_history")
    op.drop_table("stage_history")
    op.drop_table("runs")
    op.drop_index("ix_records_entity_parent", table_name="records")
    op.drop_index("ix_records_entity_learner", table_name="records")
    op.drop_table("records")
    op.drop_table("outbox")
    op.drop_table("mapping_versions")
    op.drop_table("learner_state")
    op.drop_index(op.f("ix_flags_learner_id"), table_name="flags")
    op.drop_table("flags")
    op.drop_index(op.f("ix_enrolment_state_learner_id"), table_name="enrolment_state")
    op.drop_table("enrolment_state")
    op.drop_table("dead_letters")
    op.drop_table("cursors")
    op.drop_table("combos")
    op.drop_table("budget")
