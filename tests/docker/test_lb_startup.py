"""The balancer of docker-compose.replicas.yml starts cleanly: no 502s while replicas start.

nginx used to list every replica as soon as it resolved; replicas still starting refused
connections, each was marked failed (max_fails=2), and with all of them failed nginx
answered 502 for fail_timeout (5 s), even after they were up. Now the balancer lists only
replicas that pass their health check and starts listening once one does.

A client polls through the balancer's port from before ``compose up``: once the port
answers at all, every GET must be answered by a replica (200), never 502/503/504, until
all replicas have answered.

The client keeps its connection alive, as browsers do, and like them it sends a GET again
when the server closed that connection without answering: a reload (as replicas join)
closes the old workers' idle keep-alive connections, and a request already on its way
meets the close (RFC 9112 §9.3.1 lets a client retry an idempotent request then). The
retry must be answered 200 too; a refused connection or a second failure counts as one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from tests.docker.conftest import open_stack
from tests.docker.helpers import REPLICAS_FILE, record_figure
from tests.docker.test_replicas import compose_supports_reset

pytestmark = pytest.mark.docker

REPLICAS = 3


def test_no_bad_gateway_while_the_replicas_start(
    compose_cmd: list[str], conductor_image: str, lb_image: str
) -> None:
    if not compose_supports_reset(compose_cmd):
        pytest.skip("docker-compose.replicas.yml needs Compose v2.24+ (`!reset`)")
    with open_stack(compose_cmd, conductor_image) as stack:
        stack.compose_files.append(REPLICAS_FILE)
        stack.extra_env.update(
            {
                "CONDUCTOR_LB_IMAGE": lb_image,
                "CONDUCTOR_REPLICAS": str(REPLICAS),
                "CONDUCTOR_LB_REFRESH": "1",
            }
        )
        answers: list[tuple[float, int | str, str]] = []  # (time, status or error, instance)
        retried: list[float] = []  # requests sent again after a closed keep-alive connection
        stop = threading.Event()

        def get(client: httpx.Client) -> httpx.Response:
            try:
                return client.get("/api/v1/health")
            except httpx.RemoteProtocolError:  # closed without an answer: once more
                retried.append(time.monotonic())
                return client.get("/api/v1/health")

        def poll() -> None:
            with httpx.Client(base_url=stack.base_url, timeout=5) as client:
                while not stop.is_set():
                    try:
                        response = get(client)
                    except httpx.HTTPError as exc:
                        answers.append((time.monotonic(), type(exc).__name__, ""))
                        time.sleep(0.02)
                        continue
                    instance = response.headers.get("x-conductor-instance", "")
                    answers.append((time.monotonic(), response.status_code, instance))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        started = time.monotonic()
        try:
            stack.up()
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                seen = {inst for _, status, inst in answers if status == 200 and inst}
                if len(seen) == REPLICAS:
                    break
                time.sleep(0.2)
            time.sleep(2)  # and a little longer: replicas added by the refresh loop
        finally:
            stop.set()
            poller.join(10)

        answered = [i for i, (_, status, _) in enumerate(answers) if isinstance(status, int)]
        first = answered[0] if answered else None
        assert first is not None, f"the balancer never answered: {Counter(a[1] for a in answers)}"
        after = answers[first:]
        outcomes = Counter(status for _, status, _ in after)
        record_figure("lb_startup_first_answer_seconds", round(answers[first][0] - started, 2))
        record_figure("lb_startup_requests", len(after))
        again = sum(1 for at in retried if at >= answers[first][0])
        record_figure("lb_startup_retried_after_keepalive_close", again)
        print(
            f"from the first answer on: {dict(outcomes)}; before it: {first} failed attempts; "
            f"sent again after a closed keep-alive connection: {again}"
        )
        assert outcomes[502] == 0, f"502s during start-up: {dict(outcomes)}"
        assert set(outcomes) == {200}, f"not every request was served: {dict(outcomes)}"
        seen = {inst for _, _, inst in after}
        assert len(seen) == REPLICAS, f"replicas that answered: {seen}"
