"""The business-day calendar of the account's region, from the `holidays` package.

`AU` gives Australia's national public holidays; `AU-NSW` (any `COUNTRY-SUBDIVISION` the package
knows) adds that state's. Holidays are computed for each year as it is first asked about.
"""

from __future__ import annotations

import holidays

from mappings.calendar import BusinessCalendar


class UnknownRegionError(ValueError):
    """The region names no holiday calendar the package has."""


def business_calendar(region: str) -> BusinessCalendar:
    """Weekends and the public holidays of `region` (`AU`, `AU-NSW`, …)."""
    name = region.strip().upper()
    country, _, subdivision = name.partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise UnknownRegionError(
            f"no public holidays are known for country {country!r}; expected a code such as AU"
        )
    if subdivision and subdivision not in supported[country]:
        raise UnknownRegionError(
            f"{country} has no subdivision {subdivision!r}; expected one of "
            f"{', '.join(supported[country])}"
        )
    return BusinessCalendar(name, holidays.country_holidays(country, subdiv=subdivision or None))
