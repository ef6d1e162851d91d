from __future__ import annotations

from pathlib import Path

from aiokafka import AIOKafkaProducer
from chargeyard_contracts.registry import NOTIFIER
from chargeyard_platform.auth import Authenticator, ReservationApiKeys
from chargeyard_platform.clock import Clock
from chargeyard_platform.db import Database
from chargeyard_platform.runtime import Runtime, ServiceSpec, build_runtime
from chargeyard_platform.tokens import TokenVerifier

from .adapters.channels import HttpWebhookSender, Mailer, SmtpMailer, WebhookSender
from .adapters.directory import Directory, ReservationDirectory
from .config import Settings
from .dispatcher import Dispatcher
from .entrypoints.api import router
from .entrypoints.stream import router as stream_router
from .handlers import Notifier
from .wiring import Wiring

MIGRATIONS = Path(__file__).parent / "migrations"


async def dispatch(runtime: Runtime) -> None:
    dispatcher: Dispatcher = runtime.state["dispatcher"]
    await dispatcher.run()


def spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(
        name=NOTIFIER,
        title="Chargeyard notifier",
        migrations=MIGRATIONS,
        handlers=Notifier(operator_emails=tuple(settings.operator_emails)).handlers(),
        routers=[router, stream_router],
        background=[dispatch],
    )


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    producer: AIOKafkaProducer | None = None,
    mailer: Mailer | None = None,
    webhook_sender: WebhookSender | None = None,
    directory: Directory | None = None,
) -> Runtime:
    runtime = build_runtime(spec(settings), settings, clock=clock, db=db, producer=producer)
    directory = directory or ReservationDirectory(
        settings.reservations_url,
        settings.reservations_api_key.get_secret_value() if settings.reservations_api_key else None,
        ttl_s=settings.contacts_ttl_s,
    )
    runtime.state["wiring"] = Wiring(
        directory=directory,
        authenticator=Authenticator(
            TokenVerifier(settings.jwt_secret.get_secret_value(), settings.jwt_issuer) if settings.jwt_secret else None,
            ReservationApiKeys(settings.reservations_url),
            secret_setting="NOTIFIER_JWT_SECRET",
        ),
        stream_poll_s=settings.stream_poll_s,
        stream_ping_s=settings.stream_ping_s,
    )
    runtime.state["dispatcher"] = Dispatcher(
        db=runtime.db,
        clock=runtime.clock,
        outbox=runtime.outbox,
        mailer=mailer
        or SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            timeout_s=settings.smtp_timeout_s,
        ),
        webhooks=webhook_sender or HttpWebhookSender(settings.webhook_timeout_s),
        directory=directory,
        max_attempts=settings.max_attempts,
        retry_base_s=settings.retry_base_s,
        retry_max_s=settings.retry_max_s,
        interval_s=settings.dispatch_interval_s,
    )
    return runtime
