"""The egress proxy's pure parts: allowlist entries, request heads, the blocked log, and
how a verify step's network is put together."""

import re

import pytest

from bot.core.errors import ConfigurationError
from bot.core.settings import Settings
from bot.sandbox.egress import combined
from bot.sandbox.proxy import (
    Allowlist,
    BadTarget,
    Blocked,
    BlockedLog,
    parse_request,
    split_target,
)
from bot.sandbox.startup import sandbox_for


def test_allowlist_matches_host_without_case_or_trailing_dot_and_port_exactly() -> None:
    allow = Allowlist(["API.Example.com.:443", "10.1.2.3:8080", "[2001:db8::1]:443"])
    assert allow.allows("api.example.com", 443)
    assert not allow.allows("api.example.com", 80)
    assert not allow.allows("example.com", 443)
    assert not allow.allows("evil.api.example.com", 443)
    assert allow.allows("10.1.2.3", 8080)
    assert allow.allows("2001:db8::1", 443)


@pytest.mark.parametrize(
    "entry",
    [
        "api.example.com",
        "api.example.com:0",
        "api.example.com:65536",
        ":443",
        "*.example.com:443",
        "2001:db8::1:443",
        "exa mple.com:443",
        "api.example.com:https",
    ],
)
def test_allowlist_refuses_entries_that_are_not_one_host_and_port(entry: str) -> None:
    with pytest.raises(BadTarget):
        Allowlist([entry])


def test_connect_request_names_its_target() -> None:
    request = parse_request(b"CONNECT PyPI.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n")
    assert (request.host, request.port, request.forward) == ("pypi.org", 443, None)
    assert request.target == "pypi.org:443"


def test_ipv6_connect_target_keeps_its_brackets_when_shown() -> None:
    request = parse_request(b"CONNECT [::1]:8443 HTTP/1.1\r\n\r\n")
    assert (request.host, request.target) == ("::1", "[::1]:8443")


def test_plain_http_request_is_sent_on_in_origin_form_without_proxy_headers() -> None:
    head = (
        b"GET http://mirror.example:8080/simple/pkg/?x=1 HTTP/1.1\r\n"
        b"Host: mirror.example:8080\r\n"
        b"Proxy-Authorization: Basic c2VjcmV0\r\n"
        b"Proxy-Connection: keep-alive\r\n"
        b"Accept: */*\r\n\r\n"
    )
    request = parse_request(head)
    assert (request.host, request.port) == ("mirror.example", 8080)
    assert request.forward == (
        b"GET /simple/pkg/?x=1 HTTP/1.1\r\nHost: mirror.example:8080\r\nAccept: */*\r\n"
        b"Connection: close\r\n\r\n"
    )


def test_plain_http_request_without_port_goes_to_80_and_gets_a_host_header() -> None:
    request = parse_request(b"GET http://mirror.example HTTP/1.0\r\n\r\n")
    assert request.port == 80
    assert request.forward == (
        b"GET / HTTP/1.0\r\nHost: mirror.example\r\nConnection: close\r\n\r\n"
    )


@pytest.mark.parametrize(
    "head",
    [
        b"GET /relative HTTP/1.1\r\n\r\n",
        b"GET https://pypi.org/ HTTP/1.1\r\n\r\n",
        b"CONNECT pypi.org HTTP/1.1\r\n\r\n",
        b"CONNECT pypi.org:443\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ],
)
def test_requests_that_name_no_host_and_port_are_bad(head: bytes) -> None:
    with pytest.raises(BadTarget):
        parse_request(head)


def test_split_target_refuses_a_bare_ipv6_address() -> None:
    with pytest.raises(BadTarget, match="brackets"):
        split_target("::1:443")


def test_blocked_log_counts_repeats_and_keeps_a_bounded_number_of_targets() -> None:
    log = BlockedLog()
    for _ in range(3):
        log(Blocked("evil.example:443", "not_allowed"))
    for n in range(BlockedLog.MAX_DISTINCT + 5):
        log(Blocked(f"host{n}.example:443", "not_allowed"))
    entries = log.entries()
    assert entries[0] == {"target": "evil.example:443", "reason": "not_allowed", "count": 3}
    assert len(entries) == BlockedLog.MAX_DISTINCT
    assert log.dropped == 6


def test_blocked_sentence_names_the_target() -> None:
    assert Blocked("evil.example:443", "not_allowed").sentence() == (
        "blocked: evil.example:443 (not in the agent's network allowlist)"
    )


@pytest.mark.parametrize(
    ("setting", "extra", "expected"),
    [
        ("none", [], "none"),
        ("none", ["pypi.org:443"], ["pypi.org:443"]),
        (["a.example:443"], ["pypi.org:443", "a.example:443"], ["a.example:443", "pypi.org:443"]),
        ("host", ["pypi.org:443"], "host"),
    ],
)
def test_the_verify_network_widens_an_agents_network(setting, extra, expected) -> None:
    assert combined(setting, extra) == expected


def test_a_worker_refuses_to_start_with_a_malformed_verify_network() -> None:
    settings = Settings(sandbox="off", verify_network=["pypi.org"], _env_file=None)
    expected = re.escape("FARCASTER_VERIFY_NETWORK: 'pypi.org' is not host:port")
    with pytest.raises(ConfigurationError, match=expected):
        sandbox_for(settings)
