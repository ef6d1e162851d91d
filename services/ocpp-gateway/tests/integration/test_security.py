"""Security profiles 1-3 and the takeover rule, against a real gateway (PostgreSQL, Tansu).

Certificates are made here, per run, with `cryptography` into a temporary directory: a CA, the
gateway's server certificate for 127.0.0.1, station certificates, and a rogue CA's certificate
with a valid-looking CN. Nothing is committed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import ipaddress
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
import websockets
from chargeyard_devstack.testing import postgres_database
from chargeyard_gateway.adapters.orm import stations
from chargeyard_gateway.bootstrap import bootstrap, gateway_of
from chargeyard_platform.runtime import Runtime, create_app
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp import v16

from .conftest import free_port, gateway_settings, operator

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIMEOUT = 10
PASSWORD = "correct-horse-battery-1"


# --- a throwaway PKI ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    dir: Path

    def client(self, common_name: str, *, rogue: bool = False) -> tuple[Path, Path]:
        """A station certificate signed by our CA (or by a rogue CA the gateway does not trust)."""
        issuer_key, issuer = (_ROGUE if rogue else _CA)[self.dir]
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _builder(common_name, key, issuer.subject)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(issuer_key, hashes.SHA256())
        )
        return _write(self.dir, f"{common_name}-{'rogue' if rogue else 'ok'}", cert, key)


_CA: dict[Path, tuple[ec.EllipticCurvePrivateKey, x509.Certificate]] = {}
_ROGUE: dict[Path, tuple[ec.EllipticCurvePrivateKey, x509.Certificate]] = {}


def _builder(common_name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None) -> x509.CertificateBuilder:
    """issuer None: self-signed."""
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Chargeyard test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
    )


def _self_signed_ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(name, key, None)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _write(directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def make_pki(directory: Path) -> Pki:
    ca_key, ca = _self_signed_ca("Chargeyard test CA")
    _CA[directory] = (ca_key, ca)
    _ROGUE[directory] = _self_signed_ca("Chargeyard test CA")  # same name, different key: a forgery
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        _builder("127.0.0.1", key, ca.subject)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_cert, server_key = _write(directory, "server", server, key)
    return Pki(directory / "ca.crt", server_cert, server_key, directory)


# --- a gateway with a TLS listener, unknown stations refused -------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secure(topics: str, pki: Pki) -> AsyncIterator[Runtime]:
    async with postgres_database("gw_sec") as url:
        runtime = bootstrap(
            gateway_settings(
                url,
                topics,
                auto_register_unknown=False,
                ocpp_tls_port=free_port(),
                tls_cert_file=pki.server_cert,
                tls_key_file=pki.server_key,
                tls_ca_file=pki.ca,
                takeover_probe_s=1.0,
            )
        )
        await runtime.start()
        await asyncio.wait_for(gateway_of(runtime).server.listening.wait(), TIMEOUT)
        try:
            yield runtime
        finally:
            await runtime.stop()


@contextlib.asynccontextmanager
async def api(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gw", headers=operator()
    ) as c:
        yield c


async def register(runtime: Runtime, profile: int, *, password: str | None = PASSWORD) -> str:
    station_id = f"SEC{profile}-{uuid.uuid4().hex[:8]}"
    body: dict[str, Any] = {"security_profile": profile}
    if password is not None and profile in (1, 2):
        body["password"] = password
    async with api(runtime) as http:
        created = await http.put(f"/v1/stations/{station_id}", json=body)
    assert created.status_code == 201, created.text
    return station_id


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def client_tls(pki: Pki, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca)  # and the client checks the gateway's certificate
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


def url(runtime: Runtime, station_id: str, *, tls: bool) -> str:
    settings: Any = runtime.settings
    return (
        f"wss://127.0.0.1:{settings.ocpp_tls_port}/ocpp/{station_id}"
        if tls
        else f"ws://127.0.0.1:{settings.ocpp_port}/ocpp/{station_id}"
    )


@contextlib.asynccontextmanager
async def station(
    runtime: Runtime,
    station_id: str,
    *,
    tls: bool = False,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> AsyncIterator[tuple[v16.ChargePoint, Any]]:
    """A connected OCPP 1.6 station made with the ocpp library, booted."""
    async with websockets.connect(
        url(runtime, station_id, tls=tls),
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=headers,
        ssl=context,
        open_timeout=5,
    ) as ws:
        cp = v16.ChargePoint(station_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            boot = await asyncio.wait_for(
                cp.call(v16.call.BootNotification(charge_point_vendor="Acme", charge_point_model="Sec")), TIMEOUT
            )
            assert boot.status == "Accepted"
            yield cp, ws
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


async def refused(
    runtime: Runtime,
    station_id: str,
    *,
    tls: bool = False,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> int:
    """The HTTP status of a refused upgrade."""
    with pytest.raises(websockets.InvalidStatus) as error:
        async with websockets.connect(
            url(runtime, station_id, tls=tls),
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
            ssl=context,
            open_timeout=5,
        ):
            pass
    return error.value.response.status_code


async def still_works(cp: v16.ChargePoint) -> None:
    answer = await asyncio.wait_for(cp.call(v16.call.Heartbeat()), TIMEOUT)
    assert answer.current_time


# --- profile 1: HTTP Basic ----------------------------------------------------------------------------


async def test_profile_1_refuses_a_wrong_password_and_keeps_only_a_hash(secure: Runtime) -> None:
    station_id = await register(secure, 1)
    async with api(secure) as http:
        shown = (await http.get(f"/v1/stations/{station_id}")).json()
        assert shown["security_profile"] == 1 and shown["password_set"] is True
        assert PASSWORD not in str(shown) and "hash" not in str(shown)
        too_short = await http.put(f"/v1/stations/{station_id}", json={"password": "Zq9-tiny"})
        assert too_short.status_code == 422 and "Zq9-tiny" not in too_short.text
        no_password = await http.put(f"/v1/stations/PW-{uuid.uuid4().hex[:6]}", json={"security_profile": 1})
        assert no_password.status_code == 422
    async with secure.db.sessions() as session:
        stored = (
            await session.execute(sa.select(stations.c.password_hash).where(stations.c.id == station_id))
        ).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    with pytest.raises(websockets.InvalidStatus) as no_credentials:
        async with websockets.connect(
            url(secure, station_id, tls=False),
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            open_timeout=5,
        ):
            pass
    assert no_credentials.value.response.status_code == 401
    assert no_credentials.value.response.headers["WWW-Authenticate"].startswith("Basic")
    assert await refused(secure, station_id, headers=basic(station_id, "wrong-password-000")) == 401
    async with station(secure, station_id, headers=basic(station_id, PASSWORD)) as (cp, _):
        await still_works(cp)


# --- profile 2: TLS + Basic ---------------------------------------------------------------------------


async def test_profile_2_needs_tls_and_the_right_password(secure: Runtime, pki: Pki) -> None:
    station_id = await register(secure, 2)
    # The right password over plain ws:// is refused: profile 2 never downgrades.
    assert await refused(secure, station_id, headers=basic(station_id, PASSWORD)) == 403
    assert (
        await refused(secure, station_id, tls=True, context=client_tls(pki), headers=basic(station_id, PASSWORD + "x"))
        == 401
    )
    async with station(secure, station_id, tls=True, context=client_tls(pki), headers=basic(station_id, PASSWORD)) as (
        cp,
        ws,
    ):
        assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        await still_works(cp)


# --- profile 3: mutual TLS -------------------------------------------------------------------------------


async def test_profile_3_refuses_a_foreign_or_mismatched_certificate(secure: Runtime, pki: Pki) -> None:
    station_id = await register(secure, 3)
    other_id = await register(secure, 3)
    # No client certificate at all.
    assert await refused(secure, station_id, tls=True, context=client_tls(pki)) == 403
    # Signed by a CA the gateway does not trust, with the right CN: the TLS handshake fails.
    with pytest.raises((ssl.SSLError, ConnectionError, websockets.InvalidMessage, EOFError)):
        async with websockets.connect(
            url(secure, station_id, tls=True),
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            ssl=client_tls(pki, pki.client(station_id, rogue=True)),
            open_timeout=5,
        ):
            pass
    # A valid certificate of another station.
    assert await refused(secure, station_id, tls=True, context=client_tls(pki, pki.client(other_id))) == 403
    async with station(secure, station_id, tls=True, context=client_tls(pki, pki.client(station_id))) as (cp, _):
        await still_works(cp)


# --- takeover -----------------------------------------------------------------------------------------------


async def test_nobody_takes_over_a_connected_station_without_its_credentials(secure: Runtime, pki: Pki) -> None:
    victim = await register(secure, 1)
    neighbour = await register(secure, 1, password="the-neighbours-password")
    links = gateway_of(secure).links
    async with station(secure, victim, headers=basic(victim, PASSWORD)) as (cp, ws):
        held = links.held(victim)
        assert held is not None
        assert await refused(secure, victim, headers=basic(victim, "a-guess-at-the-pass")) == 401
        assert await refused(secure, victim) == 401
        # The neighbour's valid credentials, for the victim's id: the username must be the id.
        assert await refused(secure, victim, headers=basic(neighbour, "the-neighbours-password")) == 401
        # A valid certificate of another station on the TLS listener.
        assert (
            await refused(
                secure,
                victim,
                tls=True,
                context=client_tls(pki, pki.client(neighbour)),
                headers=basic(victim, PASSWORD),
            )
            == 403
        )
        assert links.held(victim) is held and ws.close_code is None
        await still_works(cp)

        # The station itself, reconnecting with its password (a NAT rebinding, say), replaces
        # the old connection: the rule of authenticated takeover.
        async with station(secure, victim, headers=basic(victim, PASSWORD)) as (cp2, _):
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
            assert ws.close_code == 4000
            await still_works(cp2)
            assert links.held(victim) is not held


async def test_an_unauthenticated_station_keeps_its_id_while_its_socket_is_alive(secure: Runtime) -> None:
    station_id = await register(secure, 0)  # profile 0: nothing proves who connects
    async with station(secure, station_id) as (cp, ws):
        assert await refused(secure, station_id) == 409
        await still_works(cp)
        # Its socket goes half-open (no pongs any more): the next connection takes over.
        ws.transport.pause_reading()
        async with station(secure, station_id) as (cp2, _):
            await still_works(cp2)
            held = gateway_of(secure).links.held(station_id)
            assert held is not None and held.link is not None
        ws.transport.abort()  # the dead peer never answers the closing handshake
