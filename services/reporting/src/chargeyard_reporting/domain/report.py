"""Shaping energy per station into energy per site."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

UNASSIGNED = "unassigned"
"""The site of stations no topology places (yet): they are reported, not dropped."""


@dataclass(frozen=True)
class StationEnergy:
    station_id: str
    energy_wh: int


@dataclass(frozen=True)
class SiteEnergy:
    site_id: str
    energy_wh: int
    stations: tuple[StationEnergy, ...] = field(default_factory=tuple)


def energy_by_site(
    energy_wh: Mapping[str, int],
    site_of: Mapping[str, str],
    known_stations: Iterable[str] = (),
    known_sites: Iterable[str] = (),
) -> list[SiteEnergy]:
    """energy_wh: Wh per station; site_of: the topology's station -> site; known stations and sites
    are reported with zero when they measured nothing. Sites and stations come sorted by id."""
    per_site: dict[str, dict[str, int]] = {site: {} for site in known_sites}
    for station in {*energy_wh, *known_stations}:
        per_site.setdefault(site_of.get(station, UNASSIGNED), {})[station] = energy_wh.get(station, 0)
    return [
        SiteEnergy(site, sum(stations.values()), tuple(StationEnergy(s, stations[s]) for s in sorted(stations)))
        for site, stations in sorted(per_site.items())
    ]
