"""The store's operations: snapshots, cursors, decisions, outbox, tags, budget, mapping versions.

Every method is one transaction, so nothing is half-applied: a page of snapshots commits with
its cursor, a decision commits with its flags, stage history and outbox rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, event, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from connector.clock import Clock
from connector.errors import ConfigurationError, ConnectorError, MissingStoreError
from connector.store import entities, migrate
from connector.store.codec import content_hash, decode, encode
from connector.store.forgetting import forget as forget_records
from connector.store.opening import missing_store, store_opening, where
from connector.store.schema import (
    budget,
    combos,
    course_offers,
    cursors,
    daily_writes,
    dead_letters,
    dirty_learners,
    enrolment_state,
    flags,
    identity,
    learner_state,
    locks,
    mapping_versions,
    outbox,
    records,
    runs,
    stage_history,
    tag_creations,
    tags,
    webhook_inbox,
)
from connector.store.shadow import shadow_engine
from connector.store.writer_turns import WriterTurns
from mappings.bundle import (
    Checklist,
    CourseEnrolment,
    Credential,
    Learner,
    LearnerBundle,
    UnitEnrolment,
)
from mappings.decision import Decision
from mappings.explain import decision_json

LEARNER, ENROLMENT, UNIT, CREDENTIAL, CHECKLIST = (  # the jobs name them through the store
    entities.LEARNER,
    entities.ENROLMENT,
    entities.UNIT,
    entities.CREDENTIAL,
    entities.CHECKLIST,
)
_KINDS: dict[str, type] = {
    LEARNER: Learner,
    ENROLMENT: CourseEnrolment,
    UNIT: UnitEnrolment,
    CREDENTIAL: Credential,
    CHECKLIST: Checklist,
}


@dataclass(frozen=True)
class Snapshot:
    """What the store keeps of one Wisenet record."""

    entity: str
    id: int
    record: Any
    modified: str | None = None
    learner_id: int | None = None
    parent_id: int | None = None
    tag_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Progress:
    """An unfinished listing: the filter it used, the next skip, the newest stamp seen so far."""

    skip: int
    since: datetime | None
    high: datetime | None


@dataclass(frozen=True)
class PendingWrite:
    """An outbox row: the owned tag names to add and remove on one course enrolment."""

    course_enrolment_id: int
    learner_id: int
    add: frozenset[str]
    remove: frozenset[str]
    priority: int
    correlation_id: str
    attempts: int
    lease_owner: str | None = None  # set when claimed for sending


@dataclass(frozen=True)
class BlockedWrites:
    """Writes kept queued because they need a tag the connector refuses to write."""

    tag: str
    reason: str
    writes: int


@dataclass(frozen=True)
class StoredTag:
    """A tag definition as the store knows it."""

    tag_id: int
    name: str
    archived: bool
    created_by_connector: bool


@dataclass(frozen=True)
class Binding:
    """The Wisenet a store belongs to: the first command that called Wisenet on it set it."""

    base_url: str
    account_number: str | None

    def refuses(self, base_url: str, account_number: str | None) -> bool:
        """Whether a command calling `base_url` (for the account, if set) must not use the store."""
        return self.base_url != base_url or (
            account_number is not None and self.account_number not in (None, account_number)
        )


class Store:
    """The connector's database."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._turns = WriterTurns(enabled=engine.dialect.name == "sqlite")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed when the block ends (its turn taken first)."""
        async with self._turns.turn(), self.engine.begin() as conn:
            yield conn

    @classmethod
    async def open(
        cls,
        url: str,
        clock: Clock,
        *,
        base_url: str,
        account_number: str | None,
        dry_run: bool = False,
    ) -> Store:
        """Connect, migrate (SQLite) or check the schema (PostgreSQL), and check the identity.

        For commands that call Wisenet: a new store is created and bound to `base_url` (and the
        account); a store bound to another Wisenet is refused. A dry run's store is a private
        copy that vanishes when it is closed (`connector.store.shadow`): the database at `url`
        is left as it was. Failures are one line naming CONNECTOR_DATABASE_URL
        (`connector.store.opening`).
        """
        store = await cls._connect(url, clock, create=True, dry_run=dry_run)
        try:
            with store_opening(url):
                await store._claim(base_url, account_number)
        except BaseException:
            await store.close()
            raise
        return store

    @classmethod
    async def open_existing(cls, url: str, clock: Clock, *, dry_run: bool = False) -> Store:
        """Open a store that exists, for commands that never call Wisenet.

        Nothing is created: a missing or empty SQLite file, or a database without the store's
        tables, is a `MissingStoreError` with a hint. The Wisenet the store is bound to is not
        checked (these commands never call it), so a demo's or a copied store can be read.
        """
        return await cls._connect(url, clock, create=False, dry_run=dry_run)

    @classmethod
    async def _connect(cls, url: str, clock: Clock, *, create: bool, dry_run: bool) -> Store:
        with store_opening(url):
            parsed = make_url(url)
            on_sqlite = parsed.get_backend_name() == "sqlite"
            file = parsed.database if on_sqlite and parsed.database != ":memory:" else None
            if file and not create:
                _require_sqlite_file(Path(file), url)
            if dry_run:  # the copy checks the schema itself and creates nothing
                return cls(await shadow_engine(url), clock)
            if file and create:
                _create_private_file(Path(file), url)
            # A connection cut while the database was away is replaced, not handed out broken.
            engine = create_async_engine(url, pool_pre_ping=not on_sqlite)
            if on_sqlite:
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            try:
                if not create:
                    await _require_tables(engine, url)
                if on_sqlite:
                    await migrate.upgrade(engine)
                else:
                    await _require_current_schema(engine)
            except BaseException:
                await engine.dispose()
                raise
            return cls(engine, clock)

    async def close(self) -> None:
        """Release the connection pool."""
        await self.engine.dispose()

    async def binding(self) -> Binding | None:
        """The Wisenet this store belongs to; None until a command that calls Wisenet opens it."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(identity))).mappings().first()
        return None if row is None else Binding(row["base_url"], row["account_number"])

    async def _claim(self, base_url: str, account_number: str | None) -> None:
        """Bind a new store to this Wisenet, or check the binding it has.

        Replicas starting together on a new store race to bind it: the first insert wins, the
        others find its row and check it like any later start.
        """
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        claim = dialect.insert(identity).values(
            key="store",
            base_url=base_url,
            account_number=account_number,
            created_at=self.clock.now(),
        )
        async with self.transaction() as conn:
            if (await conn.execute(claim.on_conflict_do_nothing())).rowcount == 1:
                return
            row = (await conn.execute(select(identity))).mappings().one()
        if Binding(row["base_url"], row["account_number"]).refuses(base_url, account_number):
            raise ConfigurationError(
                f"this store belongs to {row['base_url']} "
                f"(account {row['account_number'] or '-'}); "
                "use another CONNECTOR_DATABASE_URL for another Wisenet account"
            )

    # --- snapshots ----------------------------------------------------------------------------

    async def save(
        self,
        snapshots: Sequence[Snapshot],
        *,
        entity: str,
        high_water: datetime | None,
        resume: Progress | None = None,
        changed_records: set[int] | None = None,
    ) -> set[int]:
        """Store a page of snapshots and advance the entity's cursor (or progress), together.

        Unchanged content (same hash) is skipped. Returns the learners whose bundle changed,
        marked for a decision; the ids of the records that changed are added to
        `changed_records` when it is given.
        """
        now = self.clock.now()
        async with self.transaction() as conn:
            changed, written = await self._put(conn, snapshots, now)
            if changed_records is not None:
                changed_records.update(written)
            await _mark_dirty(conn, changed)
            if high_water is not None:
                await _upsert(
                    conn,
                    cursors,
                    {
                        "entity": entity,
                        "high_water": high_water.astimezone(UTC),
                        "updated_at": now,
                        "resume_skip": None,
                        "resume_since": None,
                        "resume_high": None,
                    },
                    ("entity",),
                )
            elif resume is not None:
                await _upsert(
                    conn,
                    cursors,
                    {
                        "entity": entity,
                        "updated_at": now,
                        "resume_skip": resume.skip,
                        "resume_since": _utc(resume.since),
                        "resume_high": _utc(resume.high),
                    },
                    ("entity",),
                )
        return changed

    async def _put(
        self, conn: AsyncConnection, snapshots: Sequence[Snapshot], now: datetime
    ) -> tuple[set[int], list[int]]:
        """Upsert the snapshots whose content changed; their learners and their record ids."""
        changed: set[int] = set()
        known = await self._hashes(conn, snapshots)
        parents = await self._parent_learners(conn, snapshots)
        rows = []
        written: list[int] = []
        for snapshot in snapshots:
            fields = encode(snapshot.record)
            tag_ids = list(snapshot.tag_ids) if snapshot.tag_ids is not None else None
            digest = content_hash(fields, tag_ids)
            if known.get((snapshot.entity, snapshot.id)) == digest:
                continue
            learner_id = snapshot.learner_id
            if learner_id is None and snapshot.parent_id is not None:
                learner_id = parents.get(snapshot.parent_id)
            rows.append(
                {
                    "entity": snapshot.entity,
                    "id": snapshot.id,
                    "learner_id": learner_id,
                    "parent_id": snapshot.parent_id,
                    "modified": snapshot.modified,
                    "content_hash": digest,
                    "fields": fields,
                    "tag_ids": tag_ids,
                    "fetched_at": now,
                }
            )
            written.append(snapshot.id)
            if learner_id is not None:
                changed.add(learner_id)
        if rows:
            await upsert_many(conn, records, rows, ("entity", "id"))
        enrolments = {
            s.id: s.learner_id
            for s in snapshots
            if s.entity == ENROLMENT and s.learner_id is not None
        }
        changed |= await _adopt_orphans(conn, enrolments)
        return changed, written

    @staticmethod
    async def _hashes(
        conn: AsyncConnection, snapshots: Sequence[Snapshot]
    ) -> dict[tuple[str, int], str]:
        """The stored content hash of each snapshot's record, in one query per entity."""
        found: dict[tuple[str, int], str] = {}
        for entity in {snapshot.entity for snapshot in snapshots}:
            ids = [s.id for s in snapshots if s.entity == entity]
            rows = await conn.execute(
                select(records.c.id, records.c.content_hash).where(
                    records.c.entity == entity, records.c.id.in_(ids)
                )
            )
            found.update({(entity, ident): digest for ident, digest in rows})
        return found

    @staticmethod
    async def _parent_learners(
        conn: AsyncConnection, snapshots: Sequence[Snapshot]
    ) -> dict[int, int | None]:
        """The learner of each parent course enrolment named: from this batch, else stored."""
        batch = {s.id: s.learner_id for s in snapshots if s.entity == ENROLMENT}
        parents = {s.parent_id for s in snapshots if s.learner_id is None and s.parent_id}
        missing = parents - set(batch)
        if missing:
            rows = await conn.execute(
                select(records.c.id, records.c.learner_id).where(
                    records.c.entity == ENROLMENT, records.c.id.in_(missing)
                )
            )
            batch.update({row[0]: row[1] for row in rows})
        return batch

    async def finish_listing(self, entity: str, high_water: datetime | None) -> None:
        """A listing completed: set its cursor (when anything was seen) and drop its progress."""
        values: dict[str, Any] = {
            "entity": entity,
            "updated_at": self.clock.now(),
            "resume_skip": None,
            "resume_since": None,
            "resume_high": None,
        }
        if high_water is not None:
            values["high_water"] = high_water.astimezone(UTC)
        async with self.transaction() as conn:
            await _upsert(conn, cursors, values, ("entity",))

    async def reset_cursors(self) -> None:
        """Forget every cursor and listing progress, so the next poll reads everything."""
        async with self.transaction() as conn:
            await conn.execute(delete(cursors))

    async def progress(self, entity: str) -> Progress | None:
        """Where an unfinished listing of `entity` stopped, if one did."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(cursors).where(cursors.c.entity == entity))).first()
        if row is None or row.resume_skip is None:
            return None
        return Progress(
            row.resume_skip,
            aware(row.resume_since) if row.resume_since else None,
            aware(row.resume_high) if row.resume_high else None,
        )

    async def cursor(self, entity: str) -> datetime | None:
        """The entity's high-water modification time (None before the first poll)."""
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(select(cursors.c.high_water).where(cursors.c.entity == entity))
            ).first()
        if found is None or found[0] is None:
            return None
        return aware(found[0])

    async def forget(self, entity: str, ids: Iterable[int]) -> set[int]:
        """Delete records and all that derives from them; mark their learners for a decision.

        One transaction (see `forgetting`). Returns the learners who keep other records: their
        stages, flags and tags are decided again from what is left.
        """
        async with self.transaction() as conn:
            touched = await forget_records(conn, entity, ids)
            await _mark_dirty(conn, touched)
        return touched

    async def dirty_learners(self, among: Iterable[int] | None = None) -> set[int]:
        """Learners whose records changed since their last decision (survives a crash).

        With `among`, only those of these learners.
        """
        query = select(dirty_learners.c.learner_id)
        if among is not None:
            query = query.where(dirty_learners.c.learner_id.in_(sorted(set(among))))
        async with self.engine.connect() as conn:
            return {row[0] for row in await conn.execute(query)}

    async def record_ids(self, entity: str) -> list[int]:
        """Every stored id of `entity`, ascending."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(records.c.id).where(records.c.entity == entity).order_by(records.c.id)
            )
            return [row[0] for row in rows]

    async def parents(self, entity: str, ids: Collection[int]) -> dict[int, int]:
        """The stored parent id (a unit's or credential's enrolment) of each of these records."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(records.c.id, records.c.parent_id).where(
                    records.c.entity == entity,
                    records.c.id.in_(sorted(ids)),
                    records.c.parent_id.is_not(None),
                )
            )
            return {row.id: row.parent_id for row in rows}

    async def count_children(self, entity: str, parents: Collection[int]) -> dict[int, int]:
        """How many stored records of `entity` each of these parents has."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(records.c.parent_id, func.count())
                .where(records.c.entity == entity, records.c.parent_id.in_(sorted(parents)))
                .group_by(records.c.parent_id)
            )
            return {row[0]: int(row[1]) for row in rows}

    async def count_records(self, entity: str) -> int:
        """How many records of `entity` the store holds."""
        async with self.engine.connect() as conn:
            query = select(func.count()).select_from(records).where(records.c.entity == entity)
            return int((await conn.execute(query)).scalar_one())

    async def count_modified_since(self, entity: str, stamp: str) -> int:
        """How many stored records of `entity` Wisenet stamped at or after `stamp` (its format)."""
        async with self.engine.connect() as conn:
            query = (
                select(func.count())
                .select_from(records)
                .where(records.c.entity == entity, records.c.modified >= stamp)
            )
            return int((await conn.execute(query)).scalar_one())

    async def learner_ids(self) -> list[int]:
        """Every stored learner, ascending."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(records.c.id).where(records.c.entity == LEARNER).order_by(records.c.id)
            )
            return [row[0] for row in rows]

    async def bundle(self, learner_id: int) -> LearnerBundle | None:
        """A learner's bundle, assembled from the stored snapshots."""
        found = await self.bundles([learner_id])
        return found[learner_id][0] if learner_id in found else None

    async def bundles(
        self, learner_ids: Sequence[int]
    ) -> dict[int, tuple[LearnerBundle, dict[int, tuple[int, ...]]]]:
        """Several learners' bundles, with each enrolment's stored tag ids, in one query."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        records.c.entity,
                        records.c.id,
                        records.c.learner_id,
                        records.c.fields,
                        records.c.tag_ids,
                    )
                    # The entity too, so the (entity, learner_id) index serves the query:
                    # on learner_id alone both stores scan every record.
                    .where(
                        records.c.entity.in_(list(_KINDS)),
                        records.c.learner_id.in_(learner_ids),
                    )
                    .order_by(records.c.learner_id, records.c.entity, records.c.id)
                )
            ).all()
            offer_codes = await _offer_codes(conn, rows)
        grouped: dict[int, dict[str, list[Any]]] = {}
        tag_ids: dict[int, dict[int, tuple[int, ...]]] = {}
        own: dict[int, Learner] = {}
        for entity, ident, learner_id, fields, stored_tags in rows:
            if entity == LEARNER and ident == learner_id:
                own[learner_id] = decode(Learner, fields)
                continue
            if entity in _KINDS:
                value: Any = decode(_KINDS[entity], fields)
                if entity == ENROLMENT:
                    value = _with_offer_codes(value, offer_codes)
                grouped.setdefault(learner_id, {}).setdefault(entity, []).append(value)
            if entity == ENROLMENT:
                tag_ids.setdefault(learner_id, {})[ident] = tuple(stored_tags or ())
        found = {}
        for learner_id, learner in own.items():
            kinds = grouped.get(learner_id, {})
            found[learner_id] = (
                LearnerBundle(
                    learner=learner,
                    course_enrolments=tuple(kinds.get(ENROLMENT, ())),
                    unit_enrolments=tuple(kinds.get(UNIT, ())),
                    credentials=tuple(kinds.get(CREDENTIAL, ())),
                    checklists=tuple(kinds.get(CHECKLIST, ())),
                ),
                tag_ids.get(learner_id, {}),
            )
        return found

    async def enrolment_snapshot(self, ce_id: int) -> tuple[tuple[int, ...], datetime] | None:
        """A course enrolment's stored tag ids and when they were fetched."""
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(records.c.tag_ids, records.c.fetched_at).where(
                        records.c.entity == ENROLMENT, records.c.id == ce_id
                    )
                )
            ).first()
        if found is None:
            return None
        return tuple(found[0] or ()), aware(found[1])

    async def learner_is_active(self, learner_id: int) -> bool:
        """Whether the learner's own snapshot says they are active."""
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(records.c.fields).where(
                        records.c.entity == LEARNER, records.c.id == learner_id
                    )
                )
            ).first()
        return found is not None and found[0].get("is_active") is True

    # --- reference data -------------------------------------------------------------------

    async def save_combos(self, loaded: dict[str, list[dict[str, Any]]]) -> None:
        """Keep the account's combos."""
        async with self.transaction() as conn:
            for name, entries in loaded.items():
                await _upsert(
                    conn,
                    combos,
                    {"name": name, "entries": entries, "loaded_at": self.clock.now()},
                    ("name",),
                )

    async def load_combos(self) -> dict[str, list[dict[str, Any]]]:
        """The stored combos."""
        async with self.engine.connect() as conn:
            return {
                row[0]: row[1]
                for row in await conn.execute(select(combos.c.name, combos.c.entries))
            }

    async def creating_tag(self, name: str) -> None:
        """Record that the connector is about to create a tag of this name (before the request)."""
        async with self.transaction() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            await conn.execute(
                dialect.insert(tag_creations)
                .values(name=name, started_at=self.clock.now())
                .on_conflict_do_nothing()
            )

    async def save_tags(self, found: Iterable[StoredTag]) -> None:
        """Keep tag definitions (keeping the record of which ones the connector made).

        A tag new to the store whose name the connector was creating (`creating_tag`) is the
        connector's own, even when the answer to its creation was lost with the process.
        """
        async with self.transaction() as conn:
            creating = set((await conn.execute(select(tag_creations.c.name))).scalars())
            for tag in found:
                existing = (
                    await conn.execute(
                        select(tags.c.created_by_connector).where(tags.c.tag_id == tag.tag_id)
                    )
                ).first()
                made = (
                    tag.created_by_connector
                    or bool(existing and existing[0])
                    or (existing is None and tag.name in creating)
                )
                if made and tag.name in creating:
                    creating.discard(tag.name)
                    await conn.execute(
                        delete(tag_creations).where(tag_creations.c.name == tag.name)
                    )
                await _upsert(
                    conn,
                    tags,
                    {
                        "tag_id": tag.tag_id,
                        "name": tag.name,
                        "archived": tag.archived,
                        "created_by_connector": made,
                    },
                    ("tag_id",),
                )

    async def tags(self) -> list[StoredTag]:
        """Every known tag definition."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(tags).order_by(tags.c.tag_id))
            return [StoredTag(r.tag_id, r.name, r.archived, r.created_by_connector) for r in rows]

    # --- decisions and the outbox -----------------------------------------------------------

    async def record_decision(
        self,
        decision: Decision,
        *,
        mapping_version: int,
        today: date,
        writes: Sequence[PendingWrite],
        cancel_writes: Iterable[int],
    ) -> list[tuple[str, int, str | None, str | None]]:
        """Store a learner's decision, its flags, stage history and outbox rows, together.

        Returns the stage changes as (subject, id, from, to).
        """
        return (
            await self.record_decisions(
                [(decision, writes, cancel_writes)], mapping_version=mapping_version, today=today
            )
        )[0]

    async def record_decisions(
        self,
        decided: Sequence[tuple[Decision, Sequence[PendingWrite], Iterable[int]]],
        *,
        mapping_version: int,
        today: date,
    ) -> list[list[tuple[str, int, str | None, str | None]]]:
        """Store several learners' decisions in one transaction; their stage changes, in order.

        The batch costs a fixed number of statements, however many learners it holds.
        """
        rows = [(decision, list(writes), list(cancels)) for decision, writes, cancels in decided]
        if len({decision.learner_id for decision, _, _ in rows}) != len(rows):
            raise ValueError("a batch of decisions names a learner twice")
        if not rows:
            return []
        async with self.transaction() as conn:
            recorded = await self._record_many(conn, rows, mapping_version, today)
            await conn.execute(
                delete(dirty_learners).where(
                    dirty_learners.c.learner_id.in_([d.learner_id for d, _, _ in rows])
                )
            )
            return recorded

    async def _record_many(
        self,
        conn: AsyncConnection,
        decided: list[tuple[Decision, list[PendingWrite], list[int]]],
        mapping_version: int,
        today: date,
    ) -> list[list[tuple[str, int, str | None, str | None]]]:
        now = self.clock.now()
        ids = [decision.learner_id for decision, _, _ in decided]
        stage_before = {
            row.learner_id: row.stage
            for row in await conn.execute(
                select(learner_state.c.learner_id, learner_state.c.stage).where(
                    learner_state.c.learner_id.in_(ids)
                )
            )
        }
        previous = {
            row.course_enrolment_id: row
            for row in await conn.execute(
                select(enrolment_state).where(enrolment_state.c.learner_id.in_(ids))
            )
        }
        # A flag raised before keeps the moment it was first raised: that is its age.
        raised_before = {
            (row.learner_id, row.flag, row.subject, row.subject_id): row.raised_at
            for row in await conn.execute(
                select(
                    flags.c.learner_id,
                    flags.c.flag,
                    flags.c.subject,
                    flags.c.subject_id,
                    flags.c.raised_at,
                ).where(flags.c.learner_id.in_(ids))
            )
        }
        recorded: list[list[tuple[str, int, str | None, str | None]]] = []
        states: list[dict[str, Any]] = []
        enrolments: list[dict[str, Any]] = []
        raised: list[dict[str, Any]] = []
        planned: list[dict[str, Any]] = []
        cancelled: list[int] = []
        for decision, writes, cancels in decided:
            learner_id = decision.learner_id
            changes: list[tuple[str, int, str | None, str | None]] = []
            before = stage_before.get(learner_id, _ABSENT)
            if before is _ABSENT or before != decision.learner_stage:
                old_stage = None if before is _ABSENT else before
                changes.append(("learner", learner_id, old_stage, decision.learner_stage))
            states.append(
                {
                    "learner_id": learner_id,
                    "stage": decision.learner_stage,
                    "mapping_version": mapping_version,
                    "decided_on": today,
                    "decision": decision_json(decision),
                }
            )
            for ce in decision.course_enrolments:
                old = previous.get(ce.id)
                moved = old is None or old.stage != ce.stage
                if moved:
                    changes.append(
                        ("course_enrolment", ce.id, old.stage if old else None, ce.stage)
                    )
                enrolments.append(
                    {
                        "course_enrolment_id": ce.id,
                        "learner_id": learner_id,
                        "stage": ce.stage,
                        "desired_tags": sorted(ce.desired_tags),
                        "stage_since": now if moved or old is None else old.stage_since,
                    }
                )
            for flag in decision.flags:
                key = (learner_id, flag.flag, flag.subject.value, flag.subject_id)
                raised.append(
                    {
                        "flag": flag.flag,
                        "subject": flag.subject.value,
                        "subject_id": flag.subject_id,
                        "learner_id": learner_id,
                        "rule": flag.rule,
                        "reason": flag.reason,
                        "raised_at": raised_before.get(key, now),
                        "kind": flag.kind,
                        "due": flag.due,
                        "course_enrolment_id": flag.course_enrolment_id,
                        "owner_id": flag.owner_id,
                    }
                )
            cancelled.extend(cancels)
            planned.extend(
                {
                    "course_enrolment_id": write.course_enrolment_id,
                    "learner_id": learner_id,
                    "add_tags": sorted(write.add),
                    "remove_tags": sorted(write.remove),
                    "priority": write.priority,
                    "correlation_id": write.correlation_id,
                    "created_at": now,
                    "attempts": 0,
                    "not_before": None,
                    "lease_owner": None,  # a new plan: a write in flight must not drop it
                    "lease_until": None,
                    "blocked_tag": None,  # a new plan is checked again before it is sent
                    "blocked_reason": None,
                }
                for write in writes
            )
            recorded.append(changes)
        await upsert_many(conn, learner_state, states, ("learner_id",))
        if enrolments:
            await upsert_many(conn, enrolment_state, enrolments, ("course_enrolment_id",))
        # A decision holds every enrolment its learner has: the state of any other is stale.
        await conn.execute(
            delete(enrolment_state).where(
                enrolment_state.c.learner_id.in_(ids),
                enrolment_state.c.course_enrolment_id.not_in(
                    [row["course_enrolment_id"] for row in enrolments]
                ),
            )
        )
        history = [
            {
                "subject": subject,
                "subject_id": subject_id,
                "learner_id": decision.learner_id,
                "from_stage": old_stage,
                "to_stage": new_stage,
                "observed_at": now,
            }
            for (decision, _, _), changes in zip(decided, recorded, strict=True)
            for subject, subject_id, old_stage, new_stage in changes
        ]
        if history:
            await conn.execute(stage_history.insert(), history)
        await conn.execute(delete(flags).where(flags.c.learner_id.in_(ids)))
        if raised:
            await conn.execute(flags.insert(), raised)
        if cancelled:
            await conn.execute(delete(outbox).where(outbox.c.course_enrolment_id.in_(cancelled)))
        if planned:
            await upsert_many(conn, outbox, planned, ("course_enrolment_id",))
        return recorded

    async def pending_writes(self, limit: int | None = None) -> list[PendingWrite]:
        """Outbox rows due now, most urgent first, all unless limited (previews and dry runs)."""
        now = self.clock.now()
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox)
                .where((outbox.c.not_before.is_(None)) | (outbox.c.not_before <= now))
                .where(outbox.c.blocked_tag.is_(None))
                .order_by(*_URGENCY)
                .limit(limit)
            )
            return [_pending_write(row) for row in rows]

    async def claim_writes(self, owner: str, limit: int, lease: timedelta) -> list[PendingWrite]:
        """Lease up to `limit` due rows that no live lease holds, most urgent first.

        One UPDATE takes them (its subquery skips rows another replica has locked on
        PostgreSQL; SQLite runs the statement under its write lock), so two workers never
        claim the same row while a lease lasts.
        """
        now = self.clock.now().astimezone(UTC)
        free = and_(
            or_(outbox.c.not_before.is_(None), outbox.c.not_before <= now),
            or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
            outbox.c.blocked_tag.is_(None),
        )
        due = (
            select(outbox.c.course_enrolment_id)
            .where(free)
            .order_by(*_URGENCY)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self.transaction() as conn:
            rows = await conn.execute(
                update(outbox)
                .where(outbox.c.course_enrolment_id.in_(due.scalar_subquery()))
                .values(lease_owner=owner, lease_until=now + lease)
                .returning(*outbox.c)
            )
            claimed = sorted(
                rows, key=lambda r: (r.priority, aware(r.created_at), r.course_enrolment_id)
            )
        return [_pending_write(row) for row in claimed]

    async def release_writes(self, owner: str) -> None:
        """Give back every row `owner` still leases (a batch cut short)."""
        async with self.transaction() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def block_write(self, write: PendingWrite, tag: str, reason: str) -> None:
        """Keep a write queued but out of the due list until its refused tag is fixed."""
        async with self.transaction() as conn:
            await conn.execute(
                update(outbox)
                .where(_held(write))
                .values(
                    blocked_tag=tag, blocked_reason=reason[:300], lease_owner=None, lease_until=None
                )
            )

    async def blocked_writes(self) -> list[BlockedWrites]:
        """The blocked writes, counted by tag and reason (most first)."""
        count = func.count().label("writes")
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.blocked_tag, outbox.c.blocked_reason, count)
                .where(outbox.c.blocked_tag.is_not(None))
                .group_by(outbox.c.blocked_tag, outbox.c.blocked_reason)
                .order_by(count.desc(), outbox.c.blocked_tag)
            )
            return [BlockedWrites(tag, reason or "", int(n)) for tag, reason, n in rows]

    async def blocked_write_rows(self) -> list[tuple[PendingWrite, str, str]]:
        """Each blocked write with its refused tag and the reason (a dry run's plan lists them)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox)
                .where(outbox.c.blocked_tag.is_not(None))
                .order_by(outbox.c.learner_id, outbox.c.course_enrolment_id)
            )
            return [
                (_pending_write(row), row.blocked_tag, row.blocked_reason or "") for row in rows
            ]

    async def release_blocked(self, tag: str) -> set[int]:
        """Make the writes blocked by `tag` due again; the learners they belong to."""
        async with self.transaction() as conn:
            rows = await conn.execute(
                update(outbox)
                .where(outbox.c.blocked_tag == tag)
                .values(blocked_tag=None, blocked_reason=None)
                .returning(outbox.c.learner_id)
            )
            return {learner_id for (learner_id,) in rows}

    async def outbox_size(self) -> int:
        """Writes waiting."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())

    async def finish_write(
        self,
        write: PendingWrite,
        outcome: Snapshot | None = None,
        *,
        sent: Sequence[int] = (),
        day: date | None = None,
    ) -> bool:
        """Drop a done (or skipped) outbox row and keep what Wisenet answered, together.

        `outcome` is the PATCH response to sending the tag ids `sent`; it becomes the snapshot.
        It is compared with the stored snapshot the write was planned from: any difference but
        the tags sent (a staff edit that landed between our read and our PATCH) marks the
        learner for a decision. Returns whether it did. A record forgotten meanwhile (deleted in
        Wisenet while the PATCH was in flight) stays forgotten. A write answered counts towards
        `day`'s writes (the account's date), when given.
        """
        async with self.transaction() as conn:
            await conn.execute(delete(outbox).where(_held(write)))
            if outcome is None:
                return False
            if day is not None:
                await _count_write(conn, day)
            planned = (
                await conn.execute(
                    select(records.c.fields, records.c.learner_id).where(
                        records.c.entity == outcome.entity, records.c.id == outcome.id
                    )
                )
            ).first()
            if planned is None:
                return False  # forgotten while the PATCH was in flight: Wisenet deleted it
            await self._put(conn, [outcome], self.clock.now())
            answered = content_hash(encode(outcome.record), sorted(set(outcome.tag_ids or ())))
            if answered == content_hash(planned[0], sorted(set(sent))):
                return False
            learners = {outcome.learner_id, planned[1]}
            await _mark_dirty(conn, {learner for learner in learners if learner is not None})
            return True

    async def dead_letter(self, write: PendingWrite, reason: str) -> None:
        """Move a write that cannot succeed to the dead letters, with its reason."""
        async with self.transaction() as conn:
            await conn.execute(
                dead_letters.insert().values(
                    course_enrolment_id=write.course_enrolment_id,
                    reason=reason[:300],
                    attempts=write.attempts + 1,
                    payload={
                        "add": sorted(write.add),
                        "remove": sorted(write.remove),
                        "learner_id": write.learner_id,
                    },
                    created_at=self.clock.now(),
                )
            )
            await conn.execute(delete(outbox).where(_held(write)))

    async def postpone_write(self, write: PendingWrite, until: datetime) -> None:
        """Try a write again later."""
        async with self.transaction() as conn:
            await conn.execute(
                update(outbox)
                .where(_held(write))
                .values(
                    not_before=until,
                    attempts=write.attempts + 1,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    # --- mapping versions -------------------------------------------------------------------

    async def active_mapping(self) -> tuple[int, str, str] | None:
        """The active mapping: (version, source, text)."""
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(
                        mapping_versions.c.version,
                        mapping_versions.c.source,
                        mapping_versions.c.text,
                    ).where(mapping_versions.c.active.is_(True))
                )
            ).first()
        return None if found is None else (found[0], found[1], found[2])

    async def activate_mapping(self, text: str, source: str) -> int:
        """Make `text` the active mapping; return its version."""
        checksum = hashlib.sha256(text.encode()).hexdigest()
        async with self.transaction() as conn:
            await conn.execute(update(mapping_versions).values(active=False))
            result = await conn.execute(
                mapping_versions.insert().values(
                    checksum=checksum,
                    source=source,
                    text=text,
                    activated_at=self.clock.now(),
                    active=True,
                )
            )
            version = result.inserted_primary_key
            assert version is not None  # noqa: S101 - an insert always has a key
            return int(version[0])

    # --- the day's budget -------------------------------------------------------------------

    async def spend(self, day: date, quota: int) -> bool:
        """Count one request against `day` if the quota allows it.

        One conditional UPDATE: the check and the count are one atomic step, so two processes
        spending the last request at once cannot both have it. The day's first request makes
        the row.
        """
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        spend_one = (
            update(budget)
            .where(budget.c.day == day, budget.c.exhausted.is_(False), budget.c.used < quota)
            .values(used=budget.c.used + 1)
        )
        first = dialect.insert(budget).values(day=day, used=1, exhausted=False)
        async with self.transaction() as conn:
            if (await conn.execute(spend_one)).rowcount == 1:
                return True
            if quota < 1:
                return False
            if (await conn.execute(first.on_conflict_do_nothing())).rowcount == 1:
                return True
            # Another process made the row meanwhile: count against it like any other.
            return bool((await conn.execute(spend_one)).rowcount == 1)

    async def budget_row(self, day: date) -> tuple[int, bool]:
        """(requests used, exhausted) on `day`."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(budget).where(budget.c.day == day))).first()
        return (0, False) if row is None else (row.used, row.exhausted)

    async def mark_exhausted(self, day: date) -> None:
        """Record that Wisenet said the day's quota is spent (the first probe is due in an hour)."""
        async with self.transaction() as conn:
            row = (await conn.execute(select(budget).where(budget.c.day == day))).first()
            if row is not None and row.exhausted:
                return
            await _upsert(
                conn,
                budget,
                {"day": day, "used": 0, "exhausted": True, "probed_at": self.clock.now()},
                ("day",),
                update_only=("exhausted", "probed_at"),
            )

    async def claim_probe(self, day: date, every: timedelta) -> bool:
        """While the day is spent, claim its due probe (counted as a request), once per `every`."""
        now = self.clock.now()
        async with self.transaction() as conn:
            result = await conn.execute(
                update(budget)
                .where(
                    budget.c.day == day,
                    budget.c.exhausted.is_(True),
                    budget.c.probed_at <= (now - every).astimezone(UTC),
                )
                .values(probed_at=now, used=budget.c.used + 1)
            )
            return bool(result.rowcount)

    async def clear_exhausted(self, day: date) -> None:
        """Wisenet answered a probe: the day's spending resumes."""
        async with self.transaction() as conn:
            await conn.execute(
                update(budget).where(budget.c.day == day).values(exhausted=False, probed_at=None)
            )


async def _upsert(
    conn: AsyncConnection,
    table: Any,
    values: dict[str, Any],
    keys: tuple[str, ...],
    *,
    update_only: tuple[str, ...] | None = None,
) -> None:
    """Insert or update by primary key, on SQLite and PostgreSQL alike."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    columns = update_only or tuple(k for k in values if k not in keys)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: statement.excluded[c] for c in columns}
    )
    await conn.execute(statement)


_ABSENT = object()  # no row before
_URGENCY = (outbox.c.priority, outbox.c.created_at, outbox.c.course_enrolment_id)


def _pending_write(row: Any) -> PendingWrite:
    return PendingWrite(
        row.course_enrolment_id,
        row.learner_id,
        frozenset(row.add_tags),
        frozenset(row.remove_tags),
        row.priority,
        row.correlation_id,
        row.attempts,
        row.lease_owner,
    )


def _held(write: PendingWrite) -> ColumnElement[bool]:
    """The write's outbox row, if still the one claimed (a newer plan clears the lease)."""
    row = outbox.c.course_enrolment_id == write.course_enrolment_id
    return (
        row if write.lease_owner is None else and_(row, outbox.c.lease_owner == write.lease_owner)
    )


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def aware(moment: datetime) -> datetime:
    """Datetimes are stored in UTC; SQLite returns them without their zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _require_tables(engine: AsyncEngine, url: str) -> None:
    """Refuse a database no migration has run on: it holds no store."""
    if await migrate.current_revision(engine) is None:
        raise MissingStoreError(missing_store(url, "without the store's tables"))


async def _require_current_schema(engine: AsyncEngine) -> None:
    """Refuse a PostgreSQL schema that `connector db upgrade` has not brought to the head."""
    if await migrate.current_revision(engine) != migrate.head_revision():
        raise ConfigurationError(
            "the database schema is not current; run `connector db upgrade` first"
        )


async def _adopt_orphans(conn: AsyncConnection, enrolments: dict[int, int]) -> set[int]:
    """Give records stored before their course enrolment (deliveries out of order) its learner.

    A unit, credential or checklist read before its enrolment was stored has no learner, so no
    bundle holds it. `enrolments` maps the enrolments being stored (changed or not: a store
    holding such records from before is repaired by the next read of their enrolment) to their
    learners; returns the learners who gained records. One indexed query when there is none.
    """
    if not enrolments:
        return set()
    orphans = (
        await conn.execute(
            select(records.c.parent_id)
            .where(
                records.c.entity.in_(entities.CHILDREN),
                records.c.parent_id.in_(sorted(enrolments)),
                records.c.learner_id.is_(None),
            )
            .distinct()
        )
    ).all()
    parents = {row.parent_id for row in orphans}
    for parent in sorted(parents):
        await conn.execute(
            update(records)
            .where(
                records.c.entity.in_(entities.CHILDREN),
                records.c.parent_id == parent,
                records.c.learner_id.is_(None),
            )
            .values(learner_id=enrolments[parent])
        )
    return {enrolments[parent] for parent in parents}


async def _mark_dirty(conn: AsyncConnection, learner_ids: Iterable[int]) -> None:
    rows = [{"learner_id": learner_id} for learner_id in sorted(learner_ids)]
    if rows:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        await conn.execute(dialect.insert(dirty_learners).on_conflict_do_nothing(), rows)


async def _count_write(conn: AsyncConnection, day: date) -> None:
    """One more write on `day`, safe beside other writers (one statement)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(daily_writes).values(day=day, writes=1)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["day"], set_={"writes": daily_writes.c.writes + 1}
        )
    )


async def writes_on(store: Store, day: date) -> int:
    """The tag writes Wisenet answered on `day` (the account's date)."""
    async with store.engine.connect() as conn:
        found = await conn.execute(select(daily_writes.c.writes).where(daily_writes.c.day == day))
        return int(found.scalar_one_or_none() or 0)


async def upsert_many(
    conn: AsyncConnection, table: Any, rows: list[dict[str, Any]], keys: tuple[str, ...]
) -> None:
    """Insert or update many rows by primary key: one statement, executed for every row.

    The statement's text is the same whatever the rows, so SQLAlchemy compiles it once and
    caches it; a multi-row VALUES clause was compiled again for every batch (most of a
    backfill's own CPU time).
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    columns = [c for c in rows[0] if c not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: statement.excluded[c] for c in columns}
    )
    await conn.execute(statement, rows)


def _sqlite_pragmas(connection: Any, _: object) -> None:
    """SQLite settings for a service with a receiver and a worker sharing the file.

    Write-ahead logging, so inserts and reads do not block each other; a commit still reaches
    the disk before it returns (synchronous FULL); a writer waits for the lock, never fails at
    once.
    """
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _require_sqlite_file(path: Path, url: str) -> None:
    """Refuse a SQLite file that does not exist or is empty, before a connection creates it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MissingStoreError(missing_store(url, "")) from None
    except OSError as exc:
        raise ConfigurationError(
            f"{where(url)}: cannot read the SQLite file ({exc.strerror})"
        ) from exc
    if size == 0:
        raise MissingStoreError(missing_store(url, "(an empty file)"))


def _create_private_file(path: Path, url: str) -> None:
    """Create the SQLite file readable by its owner only (it holds personal data)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise ConfigurationError(
            f"{where(url)}: cannot create the SQLite file ({exc.strerror})"
        ) from exc


async def summary(store: Store) -> dict[str, dict[str, int]]:
    """Learners per stage and flags per kind, for reports (counts only, no personal data)."""
    async with store.engine.connect() as conn:
        stages = await conn.execute(
            select(learner_state.c.stage, func.count()).group_by(learner_state.c.stage)
        )
        raised = await conn.execute(select(flags.c.flag, func.count()).group_by(flags.c.flag))
        return {
            "stages": {str(stage or "none"): int(count) for stage, count in stages},
            "flags": {str(flag): int(count) for flag, count in raised},
        }


def worker_id() -> str:
    """Who holds a lock or a lease: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobBusyError(ConnectorError):
    """Another process holds a job's lock."""


async def acquire_lock(store: Store, name: str, owner: str, ttl: timedelta) -> None:
    """Take a job's lock for `ttl`, or raise JobBusyError naming when it frees."""
    now = store.clock.now()
    async with store.transaction() as conn:
        row = (await conn.execute(select(locks).where(locks.c.name == name))).first()
        held = row is not None and row.owner != owner and aware(row.expires_at) > now
        if held and row is not None and not dead_local_owner(row.owner):
            raise JobBusyError(
                f"the {name} job is running in another process (its lock is held until "
                f"{aware(row.expires_at).isoformat(timespec='seconds')}); try again later"
            )
        await _upsert(
            conn,
            locks,
            {"name": name, "owner": owner, "expires_at": (now + ttl).astimezone(UTC)},
            ("name",),
        )


def dead_local_owner(owner: str) -> bool:
    """Whether a lock's owner (`host:pid:…`) is a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def release_lock(store: Store, name: str, owner: str) -> None:
    """Give a job's lock back (only its owner can)."""
    async with store.transaction() as conn:
        await conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == owner))


async def start_run(store: Store, job: str) -> int:
    """Record that a job started; return its run id."""
    async with store.transaction() as conn:
        result = await conn.execute(runs.insert().values(job=job, started_at=store.clock.now()))
        key = result.inserted_primary_key
        assert key is not None  # noqa: S101 - an insert always has a key
        return int(key[0])


async def finish_run(store: Store, run_id: int, outcome: str, detail: dict[str, Any]) -> None:
    """Record how a job ended (counts only)."""
    async with store.transaction() as conn:
        await conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(finished_at=store.clock.now(), outcome=outcome, detail=detail)
        )


async def status_facts(store: Store) -> dict[str, Any]:
    """Cursors, the latest run of each job, queue depths and dead letters, for `status`.

    `outbox` counts the writes that will be sent (now or after the budget's reset); `blocked`
    the writes held by a refused tag, by tag and reason.
    """
    async with store.engine.connect() as conn:
        cursor_rows = await conn.execute(select(cursors.c.entity, cursors.c.high_water))
        latest = await conn.execute(
            select(
                runs.c.job, runs.c.started_at, runs.c.finished_at, runs.c.outcome, runs.c.detail
            ).order_by(runs.c.id)
        )
        outbox_count = (
            await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.blocked_tag.is_(None))
            )
        ).scalar_one()
        letters = (await conn.execute(select(func.count()).select_from(dead_letters))).scalar_one()
        learners = (
            await conn.execute(
                select(func.count()).select_from(records).where(records.c.entity == LEARNER)
            )
        ).scalar_one()
    last_runs: dict[str, dict[str, Any]] = {}
    for job, started, finished, outcome, detail in latest:
        last_runs[job] = {
            "started_at": aware(started).isoformat(timespec="seconds"),
            "finished_at": aware(finished).isoformat(timespec="seconds") if finished else None,
            "outcome": outcome,
            "detail": detail or {},
        }
    return {
        "learners": int(learners),
        "cursors": {
            entity: aware(mark).isoformat(timespec="seconds") for entity, mark in cursor_rows
        },
        "last_runs": last_runs,
        "outbox": int(outbox_count),
        "blocked": [
            {"tag": group.tag, "reason": group.reason, "writes": group.writes}
            for group in await store.blocked_writes()
        ],
        "dead_letters": int(letters),
    }


async def export_rows(store: Store, batch: int = 1000) -> AsyncIterator[dict[str, Any]]:
    """One row per course enrolment, streamed in batches (constant memory)."""
    last = -1
    while True:
        async with store.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(enrolment_state, learner_state.c.stage.label("learner_stage"))
                    .join(learner_state, learner_state.c.learner_id == enrolment_state.c.learner_id)
                    .where(enrolment_state.c.course_enrolment_id > last)
                    .order_by(enrolment_state.c.course_enrolment_id)
                    .limit(batch)
                )
            ).all()
            if not rows:
                return
            learners = {row.learner_id for row in rows}
            raised = await conn.execute(select(flags).where(flags.c.learner_id.in_(learners)))
            by_learner: dict[int, list[str]] = {}
            for flag in raised:
                by_learner.setdefault(flag.learner_id, []).append(
                    f"{flag.flag}@{flag.subject}:{flag.subject_id}"
                )
        for row in rows:
            yield {
                "learner_id": row.learner_id,
                "learner_stage": row.learner_stage,
                "course_enrolment_id": row.course_enrolment_id,
                "stage": row.stage,
                "flags": sorted(by_learner.get(row.learner_id, [])),
                "desired_tags": sorted(row.desired_tags),
                "stage_since": aware(row.stage_since).isoformat(timespec="seconds"),
            }
        last = rows[-1].course_enrolment_id


async def purge_older_than(store: Store, before: datetime) -> dict[str, int]:
    """Delete run log, dead letters, stage history and handled webhooks older than `before`."""
    removed = {}
    async with store.transaction() as conn:
        for name, table, column in (
            ("runs", runs, runs.c.started_at),
            ("dead_letters", dead_letters, dead_letters.c.created_at),
            ("stage_history", stage_history, stage_history.c.observed_at),
        ):
            result = await conn.execute(delete(table).where(column < before.astimezone(UTC)))
            removed[name] = int(result.rowcount or 0)
        handled = await conn.execute(
            delete(webhook_inbox).where(
                webhook_inbox.c.processed_at.is_not(None),
                webhook_inbox.c.received_at < before.astimezone(UTC),
            )
        )
        removed["webhook_inbox"] = int(handled.rowcount or 0)
    return removed


async def _offer_codes(
    conn: AsyncConnection, rows: Sequence[Any]
) -> dict[int, tuple[str | None, str | None]]:
    """The listed offer code and course code of each offer these enrolment rows name."""
    wanted = sorted(
        {
            int(row.fields["course_offer_id"])
            for row in rows
            if row.entity == ENROLMENT and isinstance(row.fields.get("course_offer_id"), int)
        }
    )
    found: dict[int, tuple[str | None, str | None]] = {}
    for start in range(0, len(wanted), 500):
        listed = await conn.execute(
            select(
                course_offers.c.course_offer_id, course_offers.c.code, course_offers.c.course_code
            ).where(course_offers.c.course_offer_id.in_(wanted[start : start + 500]))
        )
        found.update({row[0]: (row[1], row[2]) for row in listed})
    return found


def _with_offer_codes(
    enrolment: CourseEnrolment, codes: dict[int, tuple[str | None, str | None]]
) -> CourseEnrolment:
    """An enrolment with its course code (and, where its item had none, its offer code)."""
    if enrolment.course_offer_id not in codes:
        return enrolment
    code, course_code = codes[enrolment.course_offer_id]
    return dataclasses.replace(
        enrolment,
        course_offer_code=enrolment.course_offer_code or code,
        course_code=course_code,
    )
