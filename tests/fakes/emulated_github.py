"""An in-process GitHub emulator with one App and one installation, for interpreter tests."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from bot.emulator.control import EmulatorControl
from bot.emulator.serve import EmulatorThread


@contextmanager
def emulated_github(
    data_dir: Path, private_key_pem: str, *, app_id: int, installation: int, owner: str
) -> Iterator[EmulatorControl]:
    """The emulator in a thread, knowing the App by the public half of ``private_key_pem``."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with EmulatorThread(data_dir) as base_url:
        control = EmulatorControl(base_url)
        control.create_app(app_id=app_id, slug="farcaster", public_key_pem=public.decode())
        control.create_installation(app_id, owner, installation)
        try:
            yield control
        finally:
            control.close()
