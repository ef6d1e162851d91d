from datetime import UTC, datetime, timedelta

import jwt
from chargeyard_platform.tokens import TokenVerifier, looks_like_jwt

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
VERIFIER = TokenVerifier("a-key-of-at-least-thirty-two-characters", "chargeyard-reservation-api")


def token(
    *, key: str = VERIFIER.secret, issuer: str = VERIFIER.issuer, expires: datetime = NOW + timedelta(hours=1)
) -> str:
    claims = {"iss": issuer, "sub": "user-1", "roles": ["driver"], "exp": int(expires.timestamp())}
    return jwt.encode(claims, key, algorithm="HS256")


def test_a_token_of_the_reservation_api_is_accepted_until_it_expires_by_the_service_clock() -> None:
    claims = VERIFIER.verify(token(), now=NOW)
    assert claims is not None and claims["sub"] == "user-1"
    assert VERIFIER.verify(token(expires=NOW), now=NOW) is None


def test_another_key_issuer_or_algorithm_is_refused() -> None:
    assert VERIFIER.verify(token(key="another-key-of-thirty-two-characters!"), now=NOW) is None
    assert VERIFIER.verify(token(issuer="someone-else"), now=NOW) is None
    unsigned = jwt.encode({"iss": VERIFIER.issuer, "sub": "u", "exp": 2**40}, None, algorithm="none")
    assert VERIFIER.verify(unsigned, now=NOW) is None
    assert VERIFIER.verify("not a token", now=NOW) is None


def test_api_keys_do_not_look_like_jwts() -> None:
    assert looks_like_jwt(token())
    assert not looks_like_jwt("cy_abc.def.ghi")
