"""App authentication as GitHub does it: an RS256 JWT for App routes, tokens for the rest.

- App routes (``/app/...``, ``/repos/{o}/{r}/installation``) need
  ``Authorization: Bearer <JWT>`` whose ``iss`` is the App id (or client id), signed by the
  App's private key and checked here against its *public* key. ``exp`` must lie in the
  future but at most ten minutes ahead; ``iat`` must be an integer not in the future
  (60 s of leeway for clock drift). Failures answer 401 with GitHub's sentences.
- Installation tokens (``ghs_...``) expire after ``token_lifetime_seconds``; every other
  API route needs ``Authorization: token <valid unexpired token>`` (``Bearer`` works too)
  and answers 401 ``Bad credentials`` otherwise, then 404 if the installation's account
  does not own the repository.

Time is the emulator's clock, so a test moves it forward to expire a token.
"""

import secrets
from datetime import timedelta
from typing import Any

import jwt

from bot.emulator.errors import ApiError, bad_credentials
from bot.emulator.state import App, Emulator, Installation, Token

UNDECODABLE = "A JSON web token could not be decoded"
BAD_EXP = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time "
    "at which the assertion expires"
)
EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
BAD_IAT = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"  # noqa: E501
MAX_JWT_SECONDS = 600
LEEWAY_SECONDS = 60


def _bearer(authorization: str | None) -> str:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, UNDECODABLE)
    return value.strip()


def _find_app(em: Emulator, issuer: Any) -> App | None:
    text = str(issuer)
    if text.isdigit():
        return em.apps.get(int(text))
    return next((a for a in em.apps.values() if a.client_id == text), None)


def app_from_jwt(em: Emulator, authorization: str | None) -> App:
    """The App whose JWT this is, or GitHub's 401."""
    token = _bearer(authorization)
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise ApiError(401, UNDECODABLE) from None
    app = _find_app(em, claims.get("iss"))
    if app is None:
        raise ApiError(401, UNDECODABLE)
    try:
        jwt.decode(
            token,
            app.public_key_pem,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError:
        raise ApiError(401, UNDECODABLE) from None
    now = em.now().timestamp()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now:
        raise ApiError(401, BAD_EXP)
    if exp > now + MAX_JWT_SECONDS:
        raise ApiError(401, EXP_TOO_FAR)
    if not isinstance(iat, int) or isinstance(iat, bool) or iat > now + LEEWAY_SECONDS:
        raise ApiError(401, BAD_IAT)
    return app


def mint_token(em: Emulator, installation: Installation) -> Token:
    token = Token(
        value="ghs_" + secrets.token_hex(18),
        installation_id=installation.id,
        expires_at=em.now() + timedelta(seconds=em.config.token_lifetime_seconds),
    )
    em.tokens[token.value] = token
    em.tokens_issued += 1
    return token


def installation_from_token(em: Emulator, authorization: str | None) -> Installation:
    """The installation an unexpired token belongs to, or 401 Bad credentials."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() not in ("token", "bearer"):
        raise bad_credentials()
    token = em.tokens.get(value.strip())
    if token is None or token.expires_at <= em.now():
        raise bad_credentials()
    installation = em.installations.get(token.installation_id)
    if installation is None:
        raise bad_credentials()
    return installation
