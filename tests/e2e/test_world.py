"""The test world itself: a server port another process took meanwhile does not fail a test."""

import socket

import pytest

from bot.emulator.world import World

pytestmark = pytest.mark.e2e


def test_a_port_taken_before_serve_starts_moves_the_webhook_and_commands_still_arrive(
    box: World,
) -> None:
    taken = box.server_port
    with socket.socket() as squatter:  # another test's process got the port first
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        box.start_server()

        assert box.server_port != taken
        sent = box.comment(box.open_issue(), "/farcaster rename net_price price_without_tax")

    assert sent["delivery"]["status"] == 202
    assert box.only_job().requester == "alice"
    assert "address already in use" in box.log("server")
