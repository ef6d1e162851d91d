"""Who may open a websocket as station X: the security profiles and the takeover rule.

Security profiles (OCPP 1.6 Security Whitepaper §2, OCPP 2.0.1 Part 2 A00):
- 0: no authentication (dev and closed test networks only).
- 1: HTTP Basic on the upgrade request; the username is the station identity, the password the
  station's own (stored hashed). Plain ws:// is allowed (a trusted network).
- 2: TLS (wss://, server certificate) plus HTTP Basic as in profile 1.
- 3: mutual TLS: the station's client certificate is signed by our CA (checked by the TLS
  handshake) and its subject commonName is the station identity (checked here).

A higher profile is never weakened by the connection: a profile 2 station on the plain listener
is refused, a profile 3 station without a client certificate is refused. Whatever the profile,
a client certificate or a Basic username that names another station is refused: those are
another station's credentials.

Pure: the HTTP layer gathers the facts (listener, certificate names, Basic credentials, the
verified password) and turns the verdict into a response.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import IntEnum
from http import HTTPStatus


class SecurityProfile(IntEnum):
    NONE = 0
    BASIC = 1
    TLS_BASIC = 2
    MUTUAL_TLS = 3

    @property
    def needs_password(self) -> bool:
        return self in (SecurityProfile.BASIC, SecurityProfile.TLS_BASIC)

    @property
    def needs_tls(self) -> bool:
        return self >= SecurityProfile.TLS_BASIC


@dataclass(frozen=True)
class StationSecurity:
    """What the gateway stores about a station's credentials (never the password itself)."""

    profile: SecurityProfile
    password_hash: str | None


@dataclass(frozen=True)
class Credentials:
    """What the peer presented on this connection."""

    tls: bool
    """Came in on the TLS listener."""
    certificate_names: tuple[str, ...] | None
    """commonNames of a client certificate the TLS handshake verified; None = no certificate."""
    basic_username: str | None
    basic_password: str | None


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    status: HTTPStatus = HTTPStatus.SWITCHING_PROTOCOLS
    reason: str = ""
    authenticated: bool = False
    """Proved the station's identity (password or certificate), as opposed to profile 0."""
    challenge: bool = False
    """Answer with WWW-Authenticate: Basic (RFC 7617) so a station knows to send credentials."""


def admit(
    station_id: str,
    known: StationSecurity | None,
    presented: Credentials,
    *,
    auto_register: bool,
    minimum_profile: int,
    password_ok: bool | None,
) -> Verdict:
    """The verdict for one upgrade request. `password_ok` is the result of checking the Basic
    password against the stored hash (None when it was not checked)."""
    if presented.certificate_names is not None and station_id not in presented.certificate_names:
        return _refuse(
            HTTPStatus.FORBIDDEN,
            "the client certificate belongs to another station "
            f"(CN {', '.join(presented.certificate_names) or 'none'})",
        )
    if presented.basic_username is not None and presented.basic_username != station_id:
        # OCPP 1.6 Security Whitepaper (profile 1) / 2.0.1 A00: the Basic username is the identity.
        return _refuse(HTTPStatus.UNAUTHORIZED, "the Basic username must be the station id", challenge=True)
    if known is None:
        if auto_register and minimum_profile == SecurityProfile.NONE:
            return Verdict(True, reason="unknown station, registered at boot (dev)")
        # OCPP-J 1.6 §3.1.1: an identity the central system does not recognise gets 404.
        return _refuse(HTTPStatus.NOT_FOUND, "unknown station; register it with PUT /v1/stations/{id}")
    profile = known.profile
    if profile < minimum_profile:
        return _refuse(
            HTTPStatus.FORBIDDEN,
            f"security profile {int(profile)} is below this gateway's minimum "
            f"{minimum_profile}; set a password or certificate first",
        )
    if profile.needs_tls and not presented.tls:
        return _refuse(HTTPStatus.FORBIDDEN, f"security profile {int(profile)} connects over wss:// only")
    if profile == SecurityProfile.MUTUAL_TLS:
        if not presented.certificate_names:
            return _refuse(HTTPStatus.FORBIDDEN, "security profile 3 needs a client certificate")
        return Verdict(True, authenticated=True)
    if profile.needs_password:
        if presented.basic_password is None:
            return _refuse(HTTPStatus.UNAUTHORIZED, "HTTP Basic credentials required", challenge=True)
        if known.password_hash is None or not password_ok:
            return _refuse(HTTPStatus.UNAUTHORIZED, "wrong station id or password", challenge=True)
        return Verdict(True, authenticated=True)
    # Profile 0: nothing proves who this is; the takeover rule treats it as unauthenticated.
    return Verdict(True, authenticated=presented.certificate_names is not None)


def _refuse(status: HTTPStatus, reason: str, *, challenge: bool = False) -> Verdict:
    return Verdict(False, status, reason, challenge=challenge)


def needs_password_check(known: StationSecurity | None, presented: Credentials, station_id: str) -> bool:
    """Only hash when the answer matters: a KDF costs tens of milliseconds by design."""
    return (
        known is not None
        and known.profile.needs_password
        and known.password_hash is not None
        and presented.basic_password is not None
        and presented.basic_username == station_id
    )


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """RFC 7617 `Authorization: Basic base64(user:password)`; None when absent or malformed.

    OCPP 1.6 Security Whitepaper: the password may be binary (AuthorizationKey as 20 bytes);
    2.0.1 A00: a UTF-8 string of 16-40 characters. Undecodable bytes are kept via surrogateescape
    so they still compare exactly."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, sep, password = raw.decode("utf-8", "surrogateescape").partition(":")
    if not sep:
        return None
    return username, password


def common_names(peer_certificate: dict[str, object] | None) -> tuple[str, ...] | None:
    """The subject commonNames of `ssl.SSLSocket.getpeercert()` (a verified certificate)."""
    if not peer_certificate:
        return None
    names: list[str] = []
    for rdn in peer_certificate.get("subject", ()):  # type: ignore[attr-defined]
        for key, value in rdn:
            if key == "commonName":
                names.append(str(value))
    return tuple(names)


class Takeover(IntEnum):
    """What a new admitted connection does to a live connection of the same station."""

    REPLACE = 1
    PROBE_THEN_REPLACE = 2
    REFUSE = 3


def takeover(authenticated: bool, *, held_here: bool, held_by_live_instance: bool) -> Takeover:
    """The takeover rule:

    - A connection that proved the station's identity (password or certificate) replaces the
      old one: the station that holds its secret is reconnecting, and the old socket is most
      likely half-open (NAT rebinding, a modem reset) and would only time out later.
    - A connection that proved nothing (profile 0) never pushes out a live one: the old socket
      is pinged; if it answers it is kept and the newcomer refused (409); if it does not, it
      was dead and the newcomer takes its place.
    - Held by another live instance and unauthenticated: refused (409); that instance's ping
      timeout frees the id if the old socket is dead.
    Peers whose credentials are wrong never get this far: they are refused before the upgrade.
    """
    if authenticated:
        return Takeover.REPLACE
    if held_here:
        return Takeover.PROBE_THEN_REPLACE
    if held_by_live_instance:
        return Takeover.REFUSE
    return Takeover.REPLACE
