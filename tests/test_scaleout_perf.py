"""Fixes that the benchmarks' profiles called for (see BENCHMARKS.md), held in place by tests."""

from __future__ import annotations

import base64
import json
import ssl
import threading

import pytest

from playground.jobs.backends import EmbeddedBackend
from playground.upstream import fetch
from playground.upstream.client import UpstreamClient
from playground.upstream.errors import UpstreamError
from playground.upstream.responses import parse_images_response
from playground.upstream.tls import tls_context
from tests.conftest import png_bytes


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


def test_it_holds_a_large_answer_once_while_parsing_it():
    image = base64.b64encode(png_bytes((64, 48))).decode()
    buffer = bytearray(json.dumps({"created": 1, "data": [{"b64_json": image}]}).encode())
    result = parse_images_response(buffer)
    assert result.images[0].data == png_bytes((64, 48))
    assert buffer == bytearray()  # the read buffer was released once the text existed


@pytest.mark.parametrize(
    "payload",
    ["YWJj=ZGVm", "YW Jj\x00", "YWI===", "ÿWJj", "YWJj!", "=YWJj"],
)
def test_it_still_rejects_broken_base64(payload):
    body = json.dumps({"data": [{"b64_json": payload}]}).encode()
    with pytest.raises(UpstreamError, match="base64 data of image 1 is not valid"):
        parse_images_response(bytearray(body))


def test_it_reads_an_answer_once_into_the_buffer_the_parser_releases(fake):
    with UpstreamClient(fake.base_url("openai"), "sk-test") as client:
        result = client.generate({"model": "gpt-image-1", "prompt": "one buffer", "n": 2})
    assert [image.data[:8] for image in result.images] == [b"\x89PNG\r\n\x1a\n"] * 2


def test_it_starts_every_executor_thread_before_the_first_run():
    backend = EmbeddedBackend("prestart", {"OPTIONS": {"max_workers": 8}})
    try:
        backend.prestart()
        assert len(backend.executor._threads) == 8
        done = threading.Barrier(9)
        for _ in range(8):  # a burst as large as the pool: no submit has to start a thread
            backend.executor.submit(done.wait, 5)
        done.wait(5)
        assert len(backend.executor._threads) == 8
    finally:
        backend.executor.shutdown(wait=True)
