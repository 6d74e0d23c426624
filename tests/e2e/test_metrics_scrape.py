"""A real Prometheus scrapes a running ``failover run``: it asks for OpenMetrics and gzip and
gets them, it stores the process's own series (``process_resident_memory_bytes``) and no
``*_created`` series, and ``promtool check metrics`` has nothing to say of the exposition.

Between the two sits a recording proxy on 127.0.0.1, so that the test sees what Prometheus
asked for and what the daemon answered, byte for byte.
"""

from __future__ import annotations

import gzip
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.test_prometheus_files import tool_or_skip
from tests.e2e.conftest import Daemon, Prometheus, wait_until
from tests.kit import LOOPBACK, World

pytestmark = pytest.mark.slow

StartDaemon = Callable[[Path], Daemon]
StartPrometheus = Callable[[str, Path], Prometheus]


class RecordingProxy:
    """Forwards GET requests to ``upstream`` as they are (Accept, Accept-Encoding) and
    answers the upstream's bytes as they are; records both sides' headers."""

    def __init__(self, upstream: str) -> None:
        self.exchanges: list[tuple[dict[str, str], dict[str, str]]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                asked = {name: self.headers.get(name, "") for name in ("Accept", "Accept-Encoding")}
                with (
                    httpx.Client(trust_env=False, timeout=5) as client,
                    client.stream("GET", upstream + self.path, headers=asked) as answer,
                ):
                    body = b"".join(answer.iter_raw())
                    headers = {
                        name: answer.headers[name]
                        for name in ("Content-Type", "Content-Encoding")
                        if name in answer.headers
                    }
                proxy.exchanges.append((asked, headers))
                self.send_response(answer.status_code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="recording-proxy", daemon=True)

    def __enter__(self) -> RecordingProxy:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def proxy_to(world: World) -> Iterator[RecordingProxy]:
    with RecordingProxy(world.api) as proxy:
        yield proxy


def scrape_config(path: Path, port: int) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "failover", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def query(prometheus: Prometheus, expr: str) -> list[dict[str, Any]]:
    body = prometheus.api("query", query=expr)
    assert body.get("status") == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]  # type: ignore[index]
    return result


class TestPrometheusScrapes:
    def test_openmetrics_gzip_process_series_and_no_created(
        self,
        world: World,
        proxy_to: RecordingProxy,
        start_daemon: StartDaemon,
        start_prometheus: StartPrometheus,
    ) -> None:
        prometheus_binary = tool_or_skip("prometheus", required_on_ci=True)
        promtool = tool_or_skip("promtool", required_on_ci=True)
        daemon = start_daemon(world.write_config())
        daemon.wait_ready(world.api)
        prometheus = start_prometheus(
            prometheus_binary, scrape_config(world.tmp_path / "prometheus.yml", proxy_to.port)
        )
        prometheus.wait_ready()

        wait_until(
            "prometheus to store the daemon's resident memory",
            lambda: bool(query(prometheus, 'process_resident_memory_bytes{job="failover"} > 0')),
            log=prometheus.log,
        )

        # What Prometheus asked for, and what it got.
        asked, answered = proxy_to.exchanges[-1]
        assert asked["Accept"].startswith("application/openmetrics-text")
        assert "gzip" in asked["Accept-Encoding"]
        assert answered["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
        assert answered["Content-Encoding"] == "gzip"

        # What Prometheus stored: the runtime's series beside ours, no creation timestamps.
        [target] = prometheus.api("targets")["data"]["activeTargets"]  # type: ignore[index]
        assert (target["health"], target["lastError"]) == ("up", "")
        assert query(prometheus, 'python_info{job="failover"}')
        assert query(prometheus, 'process_cpu_seconds_total{job="failover"}')
        assert query(prometheus, 'failover_platform_up{job="failover", platform="whatsapp"} == 1')
        assert query(prometheus, '{job="failover", __name__=~".+_created"}') == []
        assert query(prometheus, 'count({job="failover", __name__=~"failover_.+"}) > 50')

        # The text format, gzipped as asked, passes promtool's lint.
        with (
            httpx.Client(trust_env=False, timeout=5) as client,
            client.stream("GET", f"{world.api}/metrics", headers={"Accept-Encoding": "gzip"}) as answer,
        ):
            assert answer.headers["content-encoding"] == "gzip"
            text = gzip.decompress(b"".join(answer.iter_raw()))
        assert b"process_resident_memory_bytes " in text
        assert b"_created" not in text
        lint = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
        )
        assert lint.returncode == 0, (lint.stdout + lint.stderr).decode()
        assert (lint.stdout + lint.stderr).strip() == b""

        assert daemon.stop() == 0
