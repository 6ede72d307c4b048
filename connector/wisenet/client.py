"""The Wisenet API v1 client: what the connector reads and writes, typed at the edge.

The records of the registry's entities (`connector.wisenet.entities`) are read by `pages` and
`get`, or by the named listings that add an entity's own filters; reference data and writes
have their own methods. Budget, rate limit, retries and read-ahead are the transport's
(`connector.wisenet.transport`); responses are parsed into the wire models of `wire.py`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter

from connector.errors import InactiveLearnerError, RejectedError
from connector.wisenet import endpoints as ep
from connector.wisenet.entities import (
    CHECKLISTS,
    COURSE_ENROLMENTS,
    CREDENTIALS,
    LEARNERS,
    SORTED_BY_MODIFIED,
    UNIT_ENROLMENTS,
    Entity,
)
from connector.wisenet.filters import equality_filters
from connector.wisenet.paging import SkipTakePager
from connector.wisenet.responses import malformed, parse, parse_item_or_data
from connector.wisenet.transport import (
    WisenetTransport,
)
from connector.wisenet.wire import (
    AuditLogData,
    ChecklistData,
    ComboEntry,
    ComboItem,
    CourseData,
    CourseEnrolmentData,
    CourseOfferData,
    CredentialData,
    Item,
    LearnerData,
    TagData,
    UnitEnrolmentData,
    WireModel,
    combo_entry,
)

ModelT = TypeVar("ModelT", bound=WireModel)


class WisenetClient(WisenetTransport):
    """Async client for the registry's entities and the endpoints in `endpoints.py`."""

    # --- the registry's entities ---------------------------------------------------------

    def pages(
        self,
        entity: Entity[ModelT],
        *,
        start: int = 0,
        modified_since: datetime | None = None,
        filters: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[list[Item[ModelT]], None]:
        """Pages of an entity's records, optionally those modified at or after `modified_since`.

        An entity listed oldest-modified first is asked for that order.
        """
        params = dict(filters or {})
        if entity.sorted_by_modified:
            params.update(SORTED_BY_MODIFIED)
        return self._pages(entity.listing, entity.model, params, modified_since, start)

    async def get(self, entity: Entity[ModelT], ident: int) -> Item[ModelT]:
        """One record of an entity by its id."""
        if entity.record is None:
            raise ValueError(f"{entity.name} has no read by id")
        return await self._get_one(entity.record, entity.model, ident)

    # --- lists ----------------------------------------------------------------------------

    def learners(
        self,
        *,
        start: int = 0,
        modified_since: datetime | None = None,
        is_active: bool | None = None,
    ) -> AsyncGenerator[list[Item[LearnerData]], None]:
        """Pages of learners, optionally only those modified at or after `modified_since`."""
        params = equality_filters(isActiveFilter=is_active)
        return self.pages(LEARNERS, start=start, modified_since=modified_since, filters=params)

    async def learner_sample(self) -> list[Item[LearnerData]]:
        """The first page of learners in one request (to see which values an account uses)."""
        params = SkipTakePager(take=self._config.page_size, skip=0).params()
        body = await self._request("GET", LEARNERS.listing, params=params)
        adapter: TypeAdapter[list[Item[LearnerData]]] = TypeAdapter(list[Item[LearnerData]])
        return parse(LEARNERS.listing, "GET", adapter, body)

    def course_enrolments(
        self,
        *,
        start: int = 0,
        modified_since: datetime | None = None,
        learner_id: int | None = None,
    ) -> AsyncGenerator[list[Item[CourseEnrolmentData]], None]:
        """Pages of course enrolments, oldest modification first."""
        params = equality_filters(learnerIdFilter=learner_id)
        return self.pages(
            COURSE_ENROLMENTS, start=start, modified_since=modified_since, filters=params
        )

    def unit_enrolments(
        self,
        *,
        start: int = 0,
        modified_since: datetime | None = None,
        course_enrolment_id: int | None = None,
    ) -> AsyncGenerator[list[Item[UnitEnrolmentData]], None]:
        """Pages of unit enrolments, all or one course enrolment's."""
        params = equality_filters(courseEnrolmentIdFilter=course_enrolment_id)
        return self.pages(
            UNIT_ENROLMENTS, start=start, modified_since=modified_since, filters=params
        )

    def credentials(
        self, *, course_enrolment_id: int | None = None, learner_id: int | None = None
    ) -> AsyncGenerator[list[Item[CredentialData]], None]:
        """Pages of credentials, of one enrolment or learner if given (no modified filter)."""
        params = equality_filters(
            courseEnrolmentIdFilter=course_enrolment_id, learnerIdFilter=learner_id
        )
        return self.pages(CREDENTIALS, filters=params)

    def courses(self) -> AsyncGenerator[list[Item[CourseData]], None]:
        """Pages of the account's courses (their codes, for `connector check`)."""
        return self._pages(ep.COURSES, CourseData, {}, None)

    def course_offers(
        self, *, modified_since: datetime | None = None
    ) -> AsyncGenerator[list[Item[CourseOfferData]], None]:
        """Pages of course offers."""
        return self._pages(ep.COURSE_OFFERS, CourseOfferData, {}, modified_since)

    def checklists(
        self,
        *,
        start: int = 0,
        modified_since: datetime | None = None,
        entity_name: str | None = None,
    ) -> AsyncGenerator[list[Item[ChecklistData]], None]:
        """Pages of checklists, optionally those attached to one entity type."""
        params = equality_filters(entityNameFilter=entity_name)
        return self.pages(CHECKLISTS, start=start, modified_since=modified_since, filters=params)

    def audit_logs(
        self,
        *,
        modified_since: datetime,
        action: str | None = None,
        entity_name: str | None = None,
    ) -> AsyncGenerator[list[Item[AuditLogData]], None]:
        """Pages of audit-log entries (`I`, `U`, `D`) at or after `modified_since`."""
        params = equality_filters(auditActionFilter=action, entityNameFilter=entity_name)
        return self._pages(ep.AUDIT_LOGS, AuditLogData, params, modified_since)

    # --- single records -------------------------------------------------------------------

    async def get_learner(self, learner_id: int) -> Item[LearnerData]:
        """One learner by `LearnerId`."""
        return await self.get(LEARNERS, learner_id)

    async def get_course_enrolment(self, course_enrolment_id: int) -> Item[CourseEnrolmentData]:
        """One course enrolment by id."""
        return await self.get(COURSE_ENROLMENTS, course_enrolment_id)

    async def get_unit_enrolment(self, unit_enrolment_id: int) -> Item[UnitEnrolmentData]:
        """One unit enrolment by id."""
        return await self.get(UNIT_ENROLMENTS, unit_enrolment_id)

    async def get_credential(self, credential_id: int) -> Item[CredentialData]:
        """One credential by id."""
        return await self.get(CREDENTIALS, credential_id)

    async def get_course_offer(self, course_offer_id: int) -> Item[CourseOfferData]:
        """One course offer by id."""
        return await self._get_one(ep.COURSE_OFFER, CourseOfferData, course_offer_id)

    # --- reference data -------------------------------------------------------------------

    async def combo(self, name: str) -> list[ComboEntry]:
        """All values of one combo (lookup list), e.g. `enrolment-statuses`."""
        body = await self._request("GET", ep.COMBO, path={"name": name})
        items = parse(ep.COMBO, "GET", TypeAdapter(list[ComboItem]), body)
        entries = []
        for index, item in enumerate(items):
            try:
                entries.append(combo_entry(item.data))
            except ValueError as exc:
                raise malformed("GET", ep.COMBO, f"item {index}: {exc}") from exc
        return entries

    async def tags(self, entity_name: str = COURSE_ENROLMENTS.name) -> list[Item[TagData]]:
        """Every tag definition of one entity type, archived ones included (not paged)."""
        body = await self._request(
            "GET", ep.TAGS, params=equality_filters(entityNameFilter=entity_name)
        )
        return parse(ep.TAGS, "GET", TypeAdapter(list[Item[TagData]]), body)

    async def create_tag(
        self, name: str, entity_name: str = COURSE_ENROLMENTS.name
    ) -> Item[TagData]:
        """Create one tag definition and return it."""
        payload = [{"Name": name, "EntityName": entity_name, "ArchivedFlag": False}]
        body = await self._request("POST", ep.TAGS, json=payload)
        created = parse(ep.TAGS, "POST", TypeAdapter(list[Item[TagData]]), body)
        if len(created) != 1:
            raise malformed("POST", ep.TAGS, f"expected 1 created tag, got {len(created)}")
        return created[0]

    # --- writes ---------------------------------------------------------------------------

    async def set_course_enrolment_tags(
        self, course_enrolment_id: int, tag_ids: Sequence[int], *, learner_id: int
    ) -> Item[CourseEnrolmentData]:
        """Replace a course enrolment's whole `TagIds` list and return the updated record.

        On a 400 the learner is read once: if they are inactive, the refusal is an
        `InactiveLearnerError` (skip and record), otherwise a plain `RejectedError`.
        """
        document = [{"op": "replace", "path": "TagIds", "value": [{"TagId": t} for t in tag_ids]}]
        try:
            body = await self._request(
                "PATCH", ep.COURSE_ENROLMENT, path={"id": course_enrolment_id}, json=document
            )
        except RejectedError as exc:
            if exc.status == 400 and not await self._learner_is_active(learner_id):
                raise InactiveLearnerError(
                    "the learner is inactive, so Wisenet keeps their records read-only",
                    method=exc.method,
                    endpoint=exc.endpoint,
                    status=exc.status,
                ) from exc
            raise
        return parse_item_or_data(ep.COURSE_ENROLMENT, "PATCH", CourseEnrolmentData, body)

    async def post_filenote(
        self, *, record_id: int, entity_name: str, name: str, description: str | None = None
    ) -> None:
        """Attach a file note (a visible trail of a connector action) to a record."""
        note: dict[str, Any] = {"RecordId": record_id, "EntityName": entity_name, "Name": name}
        if description is not None:
            note["Description"] = description
        await self._request("POST", ep.FILENOTES, json=[note])

    async def _learner_is_active(self, learner_id: int) -> bool:
        learner = await self.get_learner(learner_id)
        personal = learner.data.personal
        return personal is None or personal.is_active is not False
