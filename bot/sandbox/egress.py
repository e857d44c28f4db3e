"""An agent's network: ``none``, ``host``, or an allowlist served by the egress proxy.

The agents file says, per command agent::

    network = "none"                        # the default: the sandbox has only lo
    network = ["pypi.org:443", "files.pythonhosted.org:443"]   # only these, via the proxy
    network = "host"                        # UNSAFE: the host's network, all of it

For an allowlist, :func:`egress` starts an :class:`~bot.sandbox.proxy.EgressProxy` for
the length of one run and yields an :class:`Egress`: the proxy's socket (which the
sandbox binds in at :data:`INSIDE_SOCKET`) and :meth:`Egress.wrap`, which puts the
forwarder (:mod:`bot.sandbox.forwarder`) in front of the command, so that the command
finds ``HTTPS_PROXY``/``HTTP_PROXY`` naming ``127.0.0.1``. Every refusal goes to
``on_blocked``. When the proxy stops, every tunnel ends with it.

Without the sandbox (``FARCASTER_SANDBOX=off``, development only) the forwarder runs on
the host and reaches the socket at its host path: clients that honour the variables go
through the allowlist, but nothing stops a program from ignoring them.
"""

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import bot.sandbox.forwarder
from bot.sandbox.bwrap import PROXY_SOCKET, Network
from bot.sandbox.proxy import Allowlist, BadTarget, Blocked, EgressProxy

# Where the sandbox binds the proxy's socket.
INSIDE_SOCKET = PROXY_SOCKET
FORWARDER = Path(bot.sandbox.forwarder.__file__)

NetworkSetting = Literal["none", "host"] | list[str]


def combined(setting: NetworkSetting, extra: list[str]) -> NetworkSetting:
    """``setting`` widened by ``extra`` entries (``host`` stays ``host``; ``none`` plus
    entries is those entries)."""
    if not extra or setting == "host":
        return setting
    own = [] if setting == "none" else list(setting)
    return own + [entry for entry in extra if entry not in own]


def check_network(value: NetworkSetting) -> NetworkSetting:
    """The agents file's ``network``: ``none``, ``host``, or ``host:port`` entries."""
    if isinstance(value, str):
        return value
    try:
        Allowlist(value)
    except BadTarget as exc:
        raise ValueError(str(exc)) from None
    return value


@dataclass(frozen=True)
class Egress:
    """A running proxy for one run, and how the command reaches it."""

    socket: Path  # the host path, to bind into the sandbox
    sandboxed: bool
    python: str = sys.executable

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` behind the forwarder (a free port on 127.0.0.1, relayed to the socket)."""
        socket = INSIDE_SOCKET if self.sandboxed else str(self.socket)
        return [
            self.python,
            str(FORWARDER),
            "--port",
            "0",
            "--socket",
            socket,
            "--",
            *argv,
        ]


@contextmanager
def egress(
    network: NetworkSetting, on_blocked: Callable[[Blocked], None], *, sandboxed: bool
) -> Iterator[Egress | None]:
    """A proxy for the run when ``network`` is an allowlist; None for ``none`` and ``host``."""
    if isinstance(network, str):
        yield None
        return
    with EgressProxy(Allowlist(network), on_blocked) as proxy:
        yield Egress(proxy.socket_path, sandboxed)


def sandbox_network(setting: NetworkSetting, running: Egress | None) -> Network:
    """The sandbox's side of ``setting``: none, the host's, or the running proxy's socket."""
    if setting == "host":
        return Network.host()
    if running is None:
        return Network.none()
    return Network.through_socket(running.socket, {})
