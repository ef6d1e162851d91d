"""Who may do what. Pure: roles, the permissions each implies, and the principal of a request.

A tenant (a company or a partner) sees and steers only its own sites, vehicles, drivers, tokens,
reservations and audit log. The administrator runs the platform and works across tenants."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    FLEET_MANAGER = "fleet_manager"
    DRIVER = "driver"
    SITE_OPERATOR = "site_operator"
    MAINTAINER = "maintainer"
    PARTNER = "partner"


class Permission(StrEnum):
    TENANTS_MANAGE = "tenants:manage"
    USERS_MANAGE = "users:manage"
    KEYS_MANAGE = "api-keys:manage"
    SITES_READ = "sites:read"
    SITES_MANAGE = "sites:manage"
    FLEET_READ = "fleet:read"
    """Vehicles, drivers and RFID tokens of the tenant."""
    FLEET_WRITE = "fleet:write"
    RESERVATIONS_READ = "reservations:read"
    """Every reservation of the tenant."""
    RESERVATIONS_WRITE = "reservations:write"
    RESERVATIONS_OWN = "reservations:own"
    """A driver's own reservations only: read, make, change, cancel, decide."""
    CONNECTORS_READ = "connectors:read"
    """QR codes of the tenant's connectors."""
    CONNECTORS_START = "connectors:start"
    AUDIT_READ = "audit:read"
    PRIVACY_MANAGE = "privacy:manage"
    """Export and erase any driver's personal data in the tenant."""
    BULK = "bulk:import-export"
    WEBHOOKS_MANAGE = "webhooks:manage"
    """Webhook subscriptions on the tenant's reservation changes, and their delivery log."""


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: frozenset(Permission),
    Role.FLEET_MANAGER: frozenset(
        {
            P.USERS_MANAGE,
            P.KEYS_MANAGE,
            P.SITES_READ,
            P.FLEET_READ,
            P.FLEET_WRITE,
            P.RESERVATIONS_READ,
            P.RESERVATIONS_WRITE,
            P.CONNECTORS_READ,
            P.CONNECTORS_START,
            P.AUDIT_READ,
            P.PRIVACY_MANAGE,
            P.BULK,
            P.WEBHOOKS_MANAGE,
        }
    ),
    Role.DRIVER: frozenset({P.SITES_READ, P.RESERVATIONS_OWN, P.CONNECTORS_START}),
    Role.SITE_OPERATOR: frozenset({P.SITES_READ, P.RESERVATIONS_READ, P.CONNECTORS_READ, P.AUDIT_READ}),
    Role.MAINTAINER: frozenset({P.SITES_READ, P.CONNECTORS_READ}),
    Role.PARTNER: frozenset(
        {
            P.SITES_READ,
            P.FLEET_READ,
            P.FLEET_WRITE,
            P.RESERVATIONS_READ,
            P.RESERVATIONS_WRITE,
            P.BULK,
            P.WEBHOOKS_MANAGE,
        }
    ),
}


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    found: set[Permission] = set()
    for role in roles:
        found |= ROLE_PERMISSIONS[role]
    return frozenset(found)


@dataclass(frozen=True)
class Principal:
    """The caller: a user (password -> bearer token) or an API key (fleet systems, DSOs)."""

    id: str
    kind: str  # "user" or "api_key"
    tenant_id: str
    roles: frozenset[Role]
    driver_id: str | None = None
    """Set for a user who is a driver: what "own" means."""

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_of(self.roles)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def all_tenants(self) -> bool:
        return Role.ADMINISTRATOR in self.roles

    def sees_tenant(self, tenant_id: str | None) -> bool:
        return self.all_tenants or tenant_id == self.tenant_id

    def may_grant(self, roles: frozenset[Role]) -> bool:
        """Nobody hands out more than they hold (a fleet manager cannot make an administrator);
        writing every reservation of the tenant includes a driver's own."""
        held = self.permissions
        if Permission.RESERVATIONS_WRITE in held:
            held = held | {Permission.RESERVATIONS_OWN}
        return permissions_of(roles) <= held

    @property
    def scope(self) -> str:
        return f"{self.kind}:{self.id}"
