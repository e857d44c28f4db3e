"""GitHub Apps: registration (by admin or through the manifest flow) and installations.

The emulator keeps only an App's *public* key; it verifies JWTs with it. When it makes the
key pair itself (manifest conversion, or an admin request without a key) it hands the
private key out once, in that response, and forgets it.

Manifest flow, as on GitHub: a manifest is registered (``/settings/apps/new`` or the admin
route) and gets a one-time ``code`` valid for an hour; ``POST
/app-manifests/{code}/conversions`` turns it into an App with a fresh key pair, webhook
secret and OAuth client credentials.
"""

import re
import secrets
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.emulator.state import App, Emulator, Installation, PendingManifest

MANIFEST_LIFETIME = timedelta(hours=1)
DEFAULT_OWNER = "emulator-admin"


def generate_key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh 2048-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return private, public_of(private)


def public_of(private_pem: str) -> str:
    """The public half of a PEM private key (ValueError if it is not an RSA key)."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key must be an RSA key")
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def check_public_key(public_pem: str) -> None:
    """ValueError unless ``public_pem`` is an RSA public key (JWTs are RS256)."""
    key = serialization.load_pem_public_key(public_pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the public key must be an RSA key")


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "app"


def register_app(
    em: Emulator,
    *,
    public_key_pem: str,
    app_id: int | None = None,
    name: str = "Farcaster",
    slug: str | None = None,
    owner: str = DEFAULT_OWNER,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    permissions: dict[str, str] | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    external_url: str | None = None,
) -> App:
    if app_id is not None and app_id in em.apps:
        raise ValueError(f"App {app_id} exists already")
    app = App(
        id=app_id if app_id is not None else em.next_id(),
        slug=slug or slugify(name),
        name=name,
        owner=em.user(owner).login,
        public_key_pem=public_key_pem,
        client_id="Iv1." + secrets.token_hex(8),
        client_secret=secrets.token_hex(20),
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        created_at=em.now(),
        permissions=dict(permissions or {"metadata": "read"}),
        events=list(events or []),
        description=description,
        external_url=external_url,
    )
    em.apps[app.id] = app
    em.user(app.bot_login, "Bot")
    return app


def install(
    em: Emulator, app_id: int, account: str, installation_id: int | None = None
) -> Installation:
    if app_id not in em.apps:
        raise KeyError(app_id)
    if installation_id is not None and installation_id in em.installations:
        raise ValueError(f"installation {installation_id} exists already")
    inst = Installation(
        id=installation_id if installation_id is not None else em.next_id(),
        app_id=app_id,
        account=em.user(account).login,
        created_at=em.now(),
    )
    em.installations[inst.id] = inst
    return inst


def register_manifest(em: Emulator, manifest: dict[str, Any], owner: str | None) -> str:
    if not isinstance(manifest.get("url"), str):
        raise ValueError("the manifest needs a url")
    code = secrets.token_hex(16)
    em.manifests[code] = PendingManifest(code, manifest, owner or DEFAULT_OWNER, em.now())
    return code


def convert_manifest(em: Emulator, code: str) -> tuple[App, str] | None:
    """The App made from the manifest behind ``code`` and its private key; None if unknown,
    used already or older than an hour."""
    pending = em.manifests.pop(code, None)
    if pending is None or em.now() - pending.created_at > MANIFEST_LIFETIME:
        return None
    manifest = pending.manifest
    private, public = generate_key_pair()
    hook = manifest.get("hook_attributes") or {}
    app = register_app(
        em,
        public_key_pem=public,
        name=str(manifest.get("name") or "Farcaster"),
        owner=pending.owner,
        webhook_url=hook.get("url") if hook.get("active", True) else None,
        webhook_secret=secrets.token_hex(20),
        permissions={"metadata": "read", **(manifest.get("default_permissions") or {})},
        events=list(manifest.get("default_events") or []),
        description=manifest.get("description"),
        external_url=manifest.get("url"),
    )
    return app, private
