"""Fixes that the benchmarks' profiles called for (see BENCHMARKS.md), held in place by tests."""

from __future__ import annotations

import ssl

from playground.upstream import fetch
from playground.upstream.client import UpstreamClient
from playground.upstream.tls import tls_context


def test_it_loads_the_ca_bundle_once_for_all_upstream_clients(monkeypatch):
    context = tls_context()
    loads = []
    original = ssl.SSLContext.load_verify_locations
    monkeypatch.setattr(
        ssl.SSLContext,
        "load_verify_locations",
        lambda self, *a, **kw: loads.append(a) or original(self, *a, **kw),
    )
    for _ in range(3):
        with UpstreamClient("https://gateway.example/v1", "sk-test") as client:
            assert client._http._transport._pool._ssl_context is context
        transport = fetch._default_transport()
        assert transport._pool._ssl_context is context
        transport.close()
    assert loads == []
    # Still a verifying context: names and chains are checked.
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
