"""The server URL a Ray actor hands its loop: a loopback one would name the loop's own
node, so it is dropped (the runner then uses the config's ``api.public_url``). No Ray is
needed: the executor module imports it only when a loop is launched."""

from __future__ import annotations

import pytest

from conductor_loop.orchestration.executors.ray import _reachable


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:14355",
        "http://LOCALHOST.localdomain:14355",
        "http://127.0.0.1:14355",
        "http://127.1.2.3:14355",
        "http://[::1]:14355",
        None,
    ],
)
def test_a_loopback_server_url_is_not_handed_to_other_nodes(url: str | None) -> None:
    assert _reachable(url) is None


@pytest.mark.parametrize(
    "url", ["http://conductor:14355", "http://10.0.0.5:14355", "https://conductor.example.com"]
)
def test_a_server_url_other_nodes_can_reach_is_kept(url: str) -> None:
    assert _reachable(url) == url
