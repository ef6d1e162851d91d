"""The TLS listener's context: security profiles 2 and 3 (OCPP 1.6 Security Whitepaper, 2.0.1 A00)."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert_file: Path, key_file: Path, ca_file: Path | None) -> ssl.SSLContext:
    """TLS 1.2 or newer (OCPP 2.0.1 A00 requires at least 1.2), the server certificate chain, and when a
    CA is configured, client certificates verified against it. CERT_OPTIONAL, not REQUIRED: profile
    2 stations on the same port present none; a profile 3 station without one is refused at the
    HTTP upgrade, and a certificate that does not verify fails the TLS handshake itself."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    else:
        context.verify_mode = ssl.CERT_NONE
    return context
