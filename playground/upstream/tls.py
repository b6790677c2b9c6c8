"""One verifying TLS context for every upstream connection.

httpx builds a new SSLContext (loading the whole CA bundle) for every client and transport it
creates: about 50 ms of CPU, paid twice by a run whose result is a URL. Profiled in BENCHMARKS.md.
An SSLContext is safe to share between threads once configured, so it is built once per process.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    # The same context httpx would build: certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR.
    return httpx.create_ssl_context()
