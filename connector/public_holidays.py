"""The business-day calendar of the account's region, from the `holidays` package.

`AU` gives Australia's national public holidays; `AU-NSW` (any `COUNTRY-SUBDIVISION` the package
knows) adds that state's. Holidays are computed for each year as it is first asked about.
"""

from __future__ import annotations

from functools import cache

import holidays

from mappings.calendar import BusinessCalendar


class UnknownRegionError(ValueError):
    """The region names no holiday calendar the package has."""


@cache
def business_calendar(region: str) -> BusinessCalendar:
    """Weekends and the public holidays of `region` (`AU`, `AU-NSW`, …), made once a process."""
    name = region.strip().upper()
    country, _, subdivision = name.partition("-")
    try:
        national = holidays.country_holidays(country)
    except NotImplementedError as exc:
        raise UnknownRegionError(
            f"no public holidays are known for country {country!r}; expected a code such as AU"
        ) from exc
    codes = [code for code in national.subdivisions if " " not in code]  # as written in settings
    if subdivision and subdivision not in codes:
        raise UnknownRegionError(
            f"{country} has no subdivision {subdivision!r}; expected one of {', '.join(codes)}"
        )
    if not subdivision:
        return BusinessCalendar(country, national)
    return BusinessCalendar(name, holidays.country_holidays(country, subdiv=subdivision))
