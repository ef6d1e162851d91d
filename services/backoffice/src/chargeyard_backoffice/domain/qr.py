"""What a connector's QR code says. The reservation API prints
`{public_url}/v1/connectors/{station_id}/{evse_id}/start` into it (see its connectors router):
the app reads the station and EVSE from the path, whichever host the code names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_PATH = re.compile(r"/v1/connectors/(?P<station>[A-Za-z0-9._:%-]{1,150})/(?P<evse>[0-9]{1,4})/start/?$")
_STATION = re.compile(r"^[A-Za-z0-9._:-]{1,48}$")


class NotAConnectorCode(ValueError):
    pass


@dataclass(frozen=True)
class Connector:
    station_id: str
    evse_id: int


def connector_of(content: str) -> Connector:
    text = content.strip()
    path = urlsplit(text).path if "://" in text else text
    match = _PATH.search(path)
    if match is None:
        raise NotAConnectorCode(f"not a Chargeyard connector code: {text[:80]!r}")
    station_id = unquote(match["station"])
    evse_id = int(match["evse"])
    if not _STATION.match(station_id) or not 1 <= evse_id <= 1000:
        raise NotAConnectorCode(f"not a valid connector: {station_id}/{evse_id}")
    return Connector(station_id, evse_id)
