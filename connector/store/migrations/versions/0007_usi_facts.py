"""Stored USIs become facts: given, well-formed, exemption code; the USIs themselves are erased.

Learner snapshots kept `usi`, the USI as Wisenet gave it. Each becomes `has_usi`,
`usi_well_formed` and `usi_exemption` (lifecycle.md §2, as the connector now reads it), and its
content hash is recomputed (a hash of a snapshot holding a USI would give the USI back: ten
characters are few enough to try them all). Every other text or JSON value of every table that
holds one of those USIs has it replaced. Stored mappings that tested the USI as text test its
facts instead (a pattern becomes `usi_well_formed`, codes `usi_exemption`). On SQLite, freed
space is overwritten (secure_delete), so the file keeps no copy; on PostgreSQL, the upgrade
copies every table into new files in the same transaction (connector/store/migrate.py), which
drops the old row versions.

The rules are copied here, not imported, so this revision does the same thing whatever the code
becomes. The downgrade cannot bring USIs back: it keeps the facts.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

_FORM = re.compile(r"[2-9A-HJ-NP-Z]{10}")
_EXEMPTION_CODES = frozenset({"INTOFF", "SHORT", "INDIV"})
_WORD = re.compile(r"[0-9A-Za-z]+")
_LIKE_USI = re.compile(r"[0-9A-Z]{10}")
_REMOVED = "[USI removed]"


def upgrade() -> None:
    """Rewrite learner snapshots into USI facts, then erase those USIs wherever else they are."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("PRAGMA secure_delete=ON")
    _rewrite_mappings(bind)
    usis = _rewrite_learner_snapshots(bind)
    if usis:
        _erase_everywhere(bind, usis)


def downgrade() -> None:
    """Nothing to undo: the USIs are gone, and the facts read as before."""


def _facts(raw: object) -> dict[str, Any]:
    usi = raw.strip().upper() if isinstance(raw, str) else ""
    return {
        "has_usi": bool(usi),
        "usi_well_formed": _FORM.fullmatch(usi) is not None,
        "usi_exemption": usi if usi in _EXEMPTION_CODES else None,
    }


def _content_hash(fields: dict[str, Any], tag_ids: Any) -> str:
    text = json.dumps([fields, tag_ids], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _records() -> sa.TableClause:
    return sa.table(
        "records",
        sa.column("entity", sa.String),
        sa.column("id", sa.Integer),
        sa.column("fields", sa.JSON),
        sa.column("tag_ids", sa.JSON),
        sa.column("content_hash", sa.String),
    )


# `field: usi` tests in stored mappings, flow or block style, and what they test now.
_USI_PATTERN = re.compile(
    r"(\bfield:[ \t]*)usi(\s*[,\n]\s*)matches:[ \t]*(\"[^\"\n]*\"|'[^'\n]*'|[^,}\n]*)"
)
_USI_CODES = re.compile(r"(\bfield:[ \t]*)usi(?=\s*[,\n]\s*(?:in_set|one_of|equals):)")


def _rewrite_mappings(bind: sa.Connection) -> None:
    """Stored mappings test the USI's facts: a pattern becomes well-formed, codes the exemption.

    Without this the active mapping of an older store would no longer load (the USI is no
    longer a text field).
    """
    versions = sa.table(
        "mapping_versions",
        sa.column("version", sa.Integer),
        sa.column("text", sa.Text),
        sa.column("checksum", sa.String),
    )
    for version, text in bind.execute(sa.select(versions.c.version, versions.c.text)).all():
        rewritten = _USI_PATTERN.sub(r"\1usi_well_formed\2is: true", text)
        rewritten = _USI_CODES.sub(r"\1usi_exemption", rewritten)
        if rewritten != text:
            bind.execute(
                sa.update(versions)
                .where(versions.c.version == version)
                .values(text=rewritten, checksum=hashlib.sha256(rewritten.encode()).hexdigest())
            )


def _rewrite_learner_snapshots(bind: sa.Connection) -> set[str]:
    """Replace `usi` by its facts in every learner snapshot; return the USIs seen (upper-cased)."""
    records = _records()
    rows = bind.execute(
        sa.select(records.c.id, records.c.fields, records.c.tag_ids).where(
            records.c.entity == "Learner"
        )
    ).all()
    usis: set[str] = set()
    for ident, fields, tag_ids in rows:
        if not isinstance(fields, dict) or "usi" not in fields:
            continue
        raw = fields.pop("usi")
        if isinstance(raw, str) and _LIKE_USI.fullmatch(raw.strip().upper()):
            usis.add(raw.strip().upper())  # well-formed or not: ten characters of a person's id
        fields.update(_facts(raw))
        bind.execute(
            sa.update(records)
            .where(records.c.entity == "Learner", records.c.id == ident)
            .values(fields=fields, content_hash=_content_hash(fields, tag_ids))
        )
    return usis


def _erase_everywhere(bind: sa.Connection, usis: set[str]) -> None:
    """Replace any of `usis` in any text or JSON value of any table (decisions, history, …)."""
    inspector = sa.inspect(bind)
    for name in inspector.get_table_names():
        if name == "alembic_version":
            continue
        table = sa.Table(name, sa.MetaData(), autoload_with=bind)
        keys = list(table.primary_key.columns)
        if not keys:
            continue
        for row in bind.execute(sa.select(table)).mappings():
            changed = {
                column: cleaned
                for column, value in row.items()
                if (cleaned := _erased(value, usis)) is not value
            }
            if changed:
                where = [key == row[key.name] for key in keys]
                bind.execute(sa.update(table).where(*where).values(changed))


def _erased(value: Any, usis: set[str]) -> Any:
    """`value` with every USI of `usis` replaced; the same object when it holds none."""
    if isinstance(value, str):
        if not any(word.upper() in usis for word in _WORD.findall(value)):
            return value
        return _WORD.sub(lambda m: _REMOVED if m[0].upper() in usis else m[0], value)
    if isinstance(value, list):
        items = [_erased(item, usis) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        pairs = {key: _erased(item, usis) for key, item in value.items()}
        return pairs if any(pairs[key] is not value[key] for key in value) else value
    return value
