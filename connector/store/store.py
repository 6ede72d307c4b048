"""The connector's store: opened once, bound to one Wisenet, its table families as attributes.

Each family (`store.snapshots`, `store.outbox`, `store.locks`, …) is one class in its own
module, built on the `Database` handle; every method is one transaction, so nothing is
half-applied: a page of snapshots commits with its cursor, a decision with its flags, stage
history and outbox rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from connector.clock import Clock
from connector.errors import ConfigurationError
from connector.store.budget import Budget
from connector.store.bundles import Bundles
from connector.store.course_offers import CourseOffers
from connector.store.cursors import Cursors
from connector.store.database import Database
from connector.store.dead_letters import DeadLetters
from connector.store.decisions import Decisions
from connector.store.digests import Digests
from connector.store.inbox import Inbox
from connector.store.leadership import SchedulerLock
from connector.store.locks import Locks
from connector.store.mapping_versions import MappingVersions
from connector.store.opening import store_opening
from connector.store.outbox import Outbox
from connector.store.report_data import Report
from connector.store.runs import Runs
from connector.store.schema import identity
from connector.store.snapshots import Snapshots
from connector.store.vocabulary import Vocabulary
from connector.store.worklist import Worklist


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
    """The connector's database, by table family."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.clock = db.clock
        self.snapshots = Snapshots(db)
        self.cursors = Cursors(db)
        self.bundles = Bundles(db)
        self.vocabulary = Vocabulary(db)
        self.course_offers = CourseOffers(db)
        self.mappings = MappingVersions(db)
        self.decisions = Decisions(db)
        self.outbox = Outbox(db)
        self.dead_letters = DeadLetters(db)
        self.inbox = Inbox(db)
        self.locks = Locks(db)
        self.scheduler_lock = SchedulerLock(db, self.locks)
        self.budget = Budget(db)
        self.runs = Runs(db, self.outbox)
        self.digests = Digests(db)
        self.worklist = Worklist(db, self.course_offers)
        self.report = Report(db, self.decisions)

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
        store = cls(await Database.open(url, clock, create=True, dry_run=dry_run))
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
        return cls(await Database.open(url, clock, create=False, dry_run=dry_run))

    async def close(self) -> None:
        """Release the connection pool."""
        await self.db.close()

    async def binding(self) -> Binding | None:
        """The Wisenet this store belongs to; None until a command that calls Wisenet opens it."""
        async with self.db.connect() as conn:
            row = (await conn.execute(select(identity))).mappings().first()
        return None if row is None else Binding(row["base_url"], row["account_number"])

    async def _claim(self, base_url: str, account_number: str | None) -> None:
        """Bind a new store to this Wisenet, or check the binding it has.

        Replicas starting together on a new store race to bind it: the first insert wins, the
        others find its row and check it like any later start.
        """
        dialect = postgresql if self.db.dialect == "postgresql" else sqlite
        claim = dialect.insert(identity).values(
            key="store",
            base_url=base_url,
            account_number=account_number,
            created_at=self.clock.now(),
        )
        async with self.db.transaction() as conn:
            if (await conn.execute(claim.on_conflict_do_nothing())).rowcount == 1:
                return
            row = (await conn.execute(select(identity))).mappings().one()
        if Binding(row["base_url"], row["account_number"]).refuses(base_url, account_number):
            raise ConfigurationError(
                f"this store belongs to {row['base_url']} "
                f"(account {row['account_number'] or '-'}); "
                "use another CONNECTOR_DATABASE_URL for another Wisenet account"
            )
