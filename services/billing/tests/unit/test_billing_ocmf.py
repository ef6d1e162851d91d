"""OCMF checks against signatures made here with a real ECDSA key."""

from __future__ import annotations

import json

from chargeyard_billing.domain.ocmf import SignatureStatus, check_signed
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_HEX = KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo).hex()


def an_ocmf(kwh: str = "25.000", *, sign_over: str | None = None) -> dict[str, str]:
    payload = json.dumps(
        {
            "FV": "1.0",
            "GI": "SIM",
            "PG": "T1",
            "RD": [{"TM": "2026-03-10T23:00:00,000+0100 S", "TX": "E", "RV": kwh, "RI": "1-b:1.8.0", "RU": "kWh"}],
        },
        separators=(",", ":"),
    )
    signature = KEY.sign((sign_over or payload).encode(), ec.ECDSA(hashes.SHA256())).hex()
    return {
        "format": "OCMF",
        "data": f'OCMF|{payload}|{{"SA":"ECDSA-secp256r1-SHA256","SD":"{signature}"}}',
        "public_key": PUBLIC_HEX,
    }


def test_a_signed_reading_that_matches_the_bill_verifies() -> None:
    check = check_signed(an_ocmf("25.000"), billed_wh=25_000)
    assert (check.structure_ok, check.value_matches, check.signature) == (True, True, SignatureStatus.VALID)


def test_a_signature_over_other_data_is_invalid() -> None:
    check = check_signed(an_ocmf("25.000", sign_over='{"FV":"1.0"}'), billed_wh=25_000)
    assert check.signature is SignatureStatus.INVALID


def test_a_signed_value_other_than_the_billed_one_is_reported() -> None:
    check = check_signed(an_ocmf("24.000"), billed_wh=25_000)
    assert check.value_matches is False
    assert any("do not include the billed 25000 Wh" in p for p in check.problems)


def test_without_a_key_the_signature_stays_unchecked() -> None:
    check = check_signed({**an_ocmf(), "public_key": ""}, billed_wh=25_000)
    assert check.structure_ok and check.signature is SignatureStatus.UNCHECKED


def test_broken_structures_are_named() -> None:
    assert "not OCMF|payload|signature" in check_signed({"format": "OCMF", "data": "OCMF|{}"}, 1).problems
    no_rd = check_signed({"format": "OCMF", "data": 'OCMF|{"FV":"1.0"}|{"SD":"00"}'}, 1)
    assert not no_rd.structure_ok and "payload has no RD readings" in no_rd.problems
    other = check_signed({"format": "EDL", "data": "..."}, 1)
    assert other.signature is SignatureStatus.UNCHECKED and not other.structure_ok
