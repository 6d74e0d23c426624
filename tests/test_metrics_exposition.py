"""/metrics as prometheus_client serves it: the text format by default, OpenMetrics when
asked, gzip when accepted, the process's own series, and no ``*_created`` twins. Over real
HTTP on 127.0.0.1 (uvicorn serving the API app on a real registry)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from failover.api import METRICS_CONTENT_TYPE, create_app, local_hosts
from failover.domain import IncidentKind, IncidentScope
from failover.metrics import Metrics, exposition_app
from tests.api.test_api import FakeBackend, serving
from tests.kit import LOOPBACK

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    registry = CollectorRegistry()
    metrics = Metrics(registry, version="1.2.3")
    metrics.init_platforms(["whatsapp"])
    metrics.init_channels(["mailtos"])
    metrics.incident_opened(IncidentScope.platform, IncidentKind.unreachable)
    metrics.notice("mailtos", "sent")
    metrics.notice_latency(2.0)
    app = create_app(FakeBackend(), token=None, metrics=exposition_app(registry), hosts=local_hosts(LOOPBACK))
    with serving(app) as base:
        yield base + "/metrics"


def raw_get(url: str, **headers: str) -> tuple[httpx.Headers, bytes]:
    """The answer's headers and its body as sent (not decompressed)."""
    with httpx.Client(trust_env=False, timeout=10) as client, client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        return r.headers, b"".join(r.iter_raw())


class TestFormats:
    def test_the_text_format_by_default(self, url: str) -> None:
        headers, body = raw_get(url, **{"Accept": "*/*", "Accept-Encoding": "identity"})
        assert headers["content-type"] == METRICS_CONTENT_TYPE
        assert "content-encoding" not in headers
        names = {family.name for family in text_string_to_metric_families(body.decode())}
        assert {"failover_notices", "failover_platform_up", "process_resident_memory_bytes"} <= names
        assert "python_info" in names

    def test_openmetrics_when_asked(self, url: str) -> None:
        """Prometheus's own Accept header: OpenMetrics 1.0.0 first."""
        accept = (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
            "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )
        headers, body = raw_get(url, **{"Accept": accept, "Accept-Encoding": "identity"})
        assert headers["content-type"].startswith(OPENMETRICS)
        text = body.decode()
        assert text.endswith("# EOF\n")
        families = {family.name: family for family in openmetrics_families(text)}  # parses strictly
        assert families["failover_notices"].type == "counter"
        assert families["process_resident_memory_bytes"].samples[0].value > 0

    def test_gzip_when_accepted(self, url: str) -> None:
        headers, body = raw_get(url, **{"Accept": "*/*", "Accept-Encoding": "gzip"})
        assert headers["content-encoding"] == "gzip"
        text = gzip.decompress(body).decode()
        assert "process_resident_memory_bytes " in text
        assert len(body) < len(text) / 3  # the exposition is repetitive: it compresses well

    def test_no_created_series_in_either_format(self, url: str) -> None:
        for accept in ("*/*", "application/openmetrics-text; version=1.0.0"):
            _, body = raw_get(url, **{"Accept": accept, "Accept-Encoding": "identity"})
            assert b"_created" not in body, accept
            assert b"failover_notices_total{" in body

    def test_a_foreign_host_is_refused(self, url: str) -> None:
        response = httpx.get(url, headers={"Host": "attacker.example"}, trust_env=False)
        assert response.status_code == 400
        assert response.json()["error"] == "unexpected Host header"

    def test_only_get(self, url: str) -> None:
        response = httpx.post(url, trust_env=False)
        assert response.status_code == 405
