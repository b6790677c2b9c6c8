"""Liveness of runs: workers beat for the runs they hold; a sweeper ends the orphans.

One daemon thread per process does both, so a thousand in-flight runs cost one UPDATE per beat.
A run whose worker died (SIGKILL, crash, lost machine) stops getting beats and is ended as
`interrupted` by whichever process sweeps next; it is never sent again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from django.conf import settings
from django.db import close_old_connections, connections

from playground.jobs.models import Run

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Heartbeat:
    def __init__(self) -> None:
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def hold(self, run_id) -> None:
        with self._lock:
            self._held.add(str(run_id))
        self.start()

    def release(self, run_id) -> None:
        with self._lock:
            self._held.discard(str(run_id))

    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def start(self) -> None:
        with self._lock:
            if self._thread and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="run-heartbeat", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop beating; with a timeout, also wait for the thread to close its connection."""
        self._stop.set()
        thread = self._thread
        if timeout is not None and thread is not None:
            thread.join(timeout)

    def beat_once(self) -> None:
        held = self.held()
        if held:
            Run.objects.heartbeat(held, WORKER_ID)
        swept = Run.objects.sweep_stale()
        if swept:
            logger.warning("ended %d run(s) that no process was working on", swept)

    def _loop(self) -> None:
        while not self._stop.wait(settings.RUN_HEARTBEAT_SECONDS):
            try:
                close_old_connections()
                self.beat_once()
            except Exception:
                logger.exception("heartbeat failed")
        # An idle session left open would, on PostgreSQL, keep the database from being dropped.
        connections.close_all()


heartbeat = Heartbeat()
