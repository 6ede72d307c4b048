"""The sandbox account's trainers and coordinators, and who teaches and coordinates each offer.

Each course offer has a trainer and, most of the time, a coordinator; an enrolment has its
offer's, unless a planted case gives it its own (the sandbox-only keys `TrainerId` and
`CoordinatorId` on the enrolment row, never served in `Data`). Derived from the offer id, so the
generated data stays the same for a seed.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.store import Row

TRAINERS = {
    21: ("Dana", "Kerr"),
    22: ("Sam", "Whitlock"),
    23: ("Priya", "Raman"),
    24: ("Tom", "Ngata"),
    25: ("Lena", "Brooks"),
}
COORDINATORS = {
    41: ("Alex", "Moreau"),
    42: ("Jess", "Okafor"),
    43: ("Chris", "Tanaka"),
}
NO_COORDINATOR_EVERY = 4  # one offer in four has no coordinator: its trainer owns its work


def offer_staff(offer: Row) -> tuple[int, int | None]:
    """An offer's trainer and coordinator (None: it has none)."""
    ident = int(offer["CourseOfferId"])
    trainer = offer.get("TrainerId", sorted(TRAINERS)[ident % len(TRAINERS)])
    default = (
        None
        if ident % NO_COORDINATOR_EVERY == 0
        else sorted(COORDINATORS)[ident % len(COORDINATORS)]
    )
    return int(trainer), offer.get("CoordinatorId", default)


def enrolment_staff(enrolment: Row, offer: Row | None) -> tuple[int | None, int | None]:
    """An enrolment's trainer and coordinator: its own where a case set them, else its offer's."""
    trainer, coordinator = offer_staff(offer) if offer is not None else (None, None)
    return enrolment.get("TrainerId", trainer), enrolment.get("CoordinatorId", coordinator)


def person(role: str, ident: int | None) -> dict[str, Any] | None:
    """A trainer or coordinator as Wisenet embeds them: `{TrainerId, FirstName, …}`."""
    names = (TRAINERS if role == "Trainer" else COORDINATORS).get(ident or -1)
    if ident is None or names is None:
        return None
    return {f"{role}Id": ident, "FirstName": names[0], "LastName": names[1], "IsActive": True}
