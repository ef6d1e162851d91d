"""The admission and takeover rules (domain/admission.py), case by case."""

from __future__ import annotations

import base64
from http import HTTPStatus

import pytest
from chargeyard_gateway.adapters.passwords import PasswordChecker, hash_password
from chargeyard_gateway.domain.admission import (
    Credentials,
    SecurityProfile,
    StationSecurity,
    Takeover,
    admit,
    common_names,
    parse_basic,
    takeover,
)

ID = "CS-1"


def presented(
    *, tls: bool = False, cns: tuple[str, ...] | None = None, user: str | None = None, password: str | None = None
) -> Credentials:
    return Credentials(tls=tls, certificate_names=cns, basic_username=user, basic_password=password)


def known(profile: int, password_hash: str | None = "$argon2id$...") -> StationSecurity:
    return StationSecurity(SecurityProfile(profile), password_hash)


def verdict(
    station: StationSecurity | None,
    creds: Credentials,
    *,
    password_ok: bool | None = None,
    auto_register: bool = False,
    minimum: int = 0,
) -> tuple[bool, HTTPStatus, bool]:
    v = admit(ID, station, creds, auto_register=auto_register, minimum_profile=minimum, password_ok=password_ok)
    return v.admitted, v.status, v.authenticated


@pytest.mark.parametrize(
    ("station", "creds", "password_ok", "expected"),
    [
        # profile 0
        (known(0, None), presented(), None, (True, HTTPStatus.SWITCHING_PROTOCOLS, False)),
        # profile 1: Basic on either listener
        (known(1), presented(), None, (False, HTTPStatus.UNAUTHORIZED, False)),
        (known(1), presented(user=ID, password="x" * 16), False, (False, HTTPStatus.UNAUTHORIZED, False)),
        (known(1), presented(user=ID, password="x" * 16), True, (True, HTTPStatus.SWITCHING_PROTOCOLS, True)),
        (known(1), presented(user="CS-2", password="x" * 16), True, (False, HTTPStatus.UNAUTHORIZED, False)),
        (known(1, None), presented(user=ID, password="x" * 16), None, (False, HTTPStatus.UNAUTHORIZED, False)),
        # profile 2: TLS and Basic
        (known(2), presented(user=ID, password="x" * 16), True, (False, HTTPStatus.FORBIDDEN, False)),
        (known(2), presented(tls=True, user=ID, password="x" * 16), True, (True, HTTPStatus.SWITCHING_PROTOCOLS, True)),
        # profile 3: a verified client certificate naming the station
        (known(3, None), presented(tls=True), None, (False, HTTPStatus.FORBIDDEN, False)),
        (known(3, None), presented(tls=True, cns=("CS-2",)), None, (False, HTTPStatus.FORBIDDEN, False)),
        (known(3, None), presented(tls=True, cns=(ID,)), None, (True, HTTPStatus.SWITCHING_PROTOCOLS, True)),
        (known(3, None), presented(cns=(ID,)), None, (False, HTTPStatus.FORBIDDEN, False)),
        # another station's certificate is refused whatever the profile
        (known(0, None), presented(tls=True, cns=("CS-2",)), None, (False, HTTPStatus.FORBIDDEN, False)),
        (
            known(2),
            presented(tls=True, cns=("CS-2",), user=ID, password="x" * 16),
            True,
            (False, HTTPStatus.FORBIDDEN, False),
        ),
    ],
)
def test_admission(
    station: StationSecurity | None,
    creds: Credentials,
    password_ok: bool | None,
    expected: tuple[bool, HTTPStatus, bool],
) -> None:
    assert verdict(station, creds, password_ok=password_ok) == expected


def test_unknown_stations_only_in_dev() -> None:
    assert verdict(None, presented(), auto_register=True) == (True, HTTPStatus.SWITCHING_PROTOCOLS, False)
    assert verdict(None, presented(), auto_register=False)[:2] == (False, HTTPStatus.NOT_FOUND)
    assert verdict(None, presented(), auto_register=True, minimum=1)[:2] == (False, HTTPStatus.NOT_FOUND)


def test_the_minimum_profile_refuses_weaker_stations() -> None:
    assert verdict(known(0, None), presented(), minimum=1)[:2] == (False, HTTPStatus.FORBIDDEN)


def test_takeover_rule() -> None:
    assert takeover(True, held_here=True, held_by_live_instance=False) == Takeover.REPLACE
    assert takeover(True, held_here=False, held_by_live_instance=True) == Takeover.REPLACE
    assert takeover(False, held_here=True, held_by_live_instance=False) == Takeover.PROBE_THEN_REPLACE
    assert takeover(False, held_here=False, held_by_live_instance=True) == Takeover.REFUSE
    assert takeover(False, held_here=False, held_by_live_instance=False) == Takeover.REPLACE


def test_basic_header_parsing() -> None:
    encoded = base64.b64encode(b"CS-1:pa:ss").decode()
    assert parse_basic(f"Basic {encoded}") == ("CS-1", "pa:ss")  # RFC 7617: the first colon splits
    assert parse_basic(f"basic {encoded}") == ("CS-1", "pa:ss")
    assert parse_basic("Bearer abc") is None
    assert parse_basic("Basic !!!") is None
    assert parse_basic("Basic " + base64.b64encode(b"nocolon").decode()) is None
    assert parse_basic(None) is None


def test_common_names_of_a_peer_certificate() -> None:
    cert = {"subject": ((("organizationName", "Acme"),), (("commonName", "CS-1"),))}
    assert common_names(cert) == ("CS-1",)
    assert common_names({}) is None and common_names(None) is None


@pytest.mark.asyncio
async def test_passwords_are_argon2id_and_checked() -> None:
    stored = hash_password("correct-horse-battery")
    assert stored.startswith("$argon2id$")
    checker = PasswordChecker()
    assert await checker.check(stored, "correct-horse-battery")
    assert await checker.check(stored, "correct-horse-battery")  # remembered
    assert not await checker.check(stored, "correct-horse-battery!")
    assert not await checker.check(hash_password("another-password-1"), "correct-horse-battery")
    assert not await checker.check("not a hash", "correct-horse-battery")
