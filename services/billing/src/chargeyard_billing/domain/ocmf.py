"""Checking signed meter values (OCMF, the Open Charge Metering Format of S.A.F.E. e.V.).

The signed data is kept exactly as the station sent it; this check is what anyone can repeat
with the record and the meter's public key (Mess- und Eichrecht: the customer must be able to
verify the billed values). What is checked:
1. structure: `OCMF|<payload JSON>|<signature JSON>`, the payload has FV (format version) and a
   non-empty RD (reading) list whose entries have TM (time), TX (B/C/X/E/L/R/A/P/S/T type),
   RV (value) and RU (unit: Wh or kWh); the signature part has SD;
2. value: the reading's RV converted to Wh equals the register value billed for it;
3. signature: with the meter's public key (hex DER SubjectPublicKeyInfo, OCPP 2.0.1 publicKey or
   OCMF's own PK), SD must verify over the payload bytes as sent, by SA (default
   ECDSA-secp256r1-SHA256; the -SHA256/-SHA384/-SHA512 variants too). Without a key it stays
   "unchecked", never "valid".
Other formats in OCPP SignedMeterValue (e.g. EDL) are kept and returned unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "SHA256": hashes.SHA256(),
    "SHA384": hashes.SHA384(),
    "SHA512": hashes.SHA512(),
}


class SignatureStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNCHECKED = "unchecked"


@dataclass(frozen=True)
class SignedCheck:
    format: str
    structure_ok: bool
    value_matches: bool | None
    signature: SignatureStatus
    problems: tuple[str, ...] = field(default_factory=tuple)
    readings_wh: tuple[Decimal, ...] = ()


def check_signed(signed: Mapping[str, Any], billed_wh: int | None) -> SignedCheck:
    fmt = str(signed.get("format", ""))
    data = str(signed.get("data", ""))
    if fmt.upper() != "OCMF" and not data.startswith("OCMF|"):
        return SignedCheck(fmt, False, None, SignatureStatus.UNCHECKED, (f"format {fmt!r} is kept, not checked",))
    problems: list[str] = []
    parts = data.split("|")
    if len(parts) != 3 or parts[0] != "OCMF":
        return SignedCheck("OCMF", False, None, SignatureStatus.UNCHECKED, ("not OCMF|payload|signature",))
    payload_text, signature_text = parts[1], parts[2]
    payload = _json(payload_text, "payload", problems)
    signature = _json(signature_text, "signature", problems)
    readings: list[Decimal] = []
    if payload is not None:
        if "FV" not in payload:
            problems.append("payload has no FV (format version)")
        rd = payload.get("RD")
        if not isinstance(rd, list) or not rd:
            problems.append("payload has no RD readings")
        else:
            for i, reading in enumerate(rd):
                wh = _reading_wh(reading, i, problems)
                if wh is not None:
                    readings.append(wh)
    if signature is not None and not isinstance(signature.get("SD"), str):
        problems.append("signature has no SD")
    structure_ok = not problems
    value_matches = None if billed_wh is None or not readings else Decimal(billed_wh) in readings
    if value_matches is False:
        problems.append(f"signed readings {[str(r) for r in readings]} Wh do not include the billed {billed_wh} Wh")
    status = SignatureStatus.UNCHECKED
    key = signed.get("public_key") or (payload or {}).get("PK")
    if structure_ok and signature is not None and key:
        status = _verify(str(key), payload_text, signature, problems)
    elif structure_ok and not key:
        problems.append("no public key: the signature was not checked")
    return SignedCheck("OCMF", structure_ok, value_matches, status, tuple(problems), tuple(readings))


def _json(text: str, part: str, problems: list[str]) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(f"{part} is not JSON: {exc.msg}")
        return None
    if not isinstance(value, dict):
        problems.append(f"{part} is not a JSON object")
        return None
    return value


def _reading_wh(reading: Any, i: int, problems: list[str]) -> Decimal | None:
    if not isinstance(reading, dict):
        problems.append(f"RD[{i}] is not an object")
        return None
    missing = [k for k in ("TM", "TX", "RV", "RU") if k not in reading]
    if missing:
        problems.append(f"RD[{i}] lacks {', '.join(missing)}")
        return None
    try:
        value = Decimal(str(reading["RV"]))
    except InvalidOperation:
        problems.append(f"RD[{i}].RV is not a number")
        return None
    unit = reading["RU"]
    if unit == "kWh":
        return value * 1000
    if unit == "Wh":
        return value
    problems.append(f"RD[{i}].RU {unit!r} is not an energy unit (Wh, kWh)")
    return None


def _verify(key_hex: str, payload_text: str, signature: dict[str, Any], problems: list[str]) -> SignatureStatus:
    algorithm = str(signature.get("SA", "ECDSA-secp256r1-SHA256"))
    digest = _HASHES.get(algorithm.rsplit("-", 1)[-1])
    if not algorithm.startswith("ECDSA-") or digest is None:
        problems.append(f"signature algorithm {algorithm!r} is not supported here")
        return SignatureStatus.UNCHECKED
    if signature.get("SE", "hex") != "hex":
        problems.append(f"signature encoding {signature.get('SE')!r} is not supported here")
        return SignatureStatus.UNCHECKED
    try:
        key = load_der_public_key(bytes.fromhex(key_hex))
        sd = bytes.fromhex(str(signature["SD"]))
    except ValueError as exc:
        problems.append(f"public key or SD is not hex DER: {exc}")
        return SignatureStatus.INVALID
    if not isinstance(key, ec.EllipticCurvePublicKey):
        problems.append("the public key is not an elliptic-curve key")
        return SignatureStatus.INVALID
    try:
        key.verify(sd, payload_text.encode(), ec.ECDSA(digest))
    except InvalidSignature:
        problems.append("the signature does not match the payload")
        return SignatureStatus.INVALID
    return SignatureStatus.VALID
