"""The embedded django-tasks backend: runs tasks on a thread pool inside the web process.

Upstream image calls spend 10-150 s waiting on the network, so threads are the right tool: one
process keeps 100+ calls in flight with no extra service. Tasks are enqueued after the surrounding
transaction commits, so a worker never looks for a row it cannot see yet.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import close_old_connections, connections, transaction
from django.utils import timezone
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.base import Task, TaskError, TaskResult, TaskResultStatus
from django_tasks.signals import task_enqueued, task_finished, task_started
from django_tasks.utils import get_exception_traceback, get_module_path, get_random_id

logger = logging.getLogger(__name__)


class EmbeddedBackend(BaseTaskBackend):
    supports_defer = False
    supports_async_task = False
    supports_get_result = False
    supports_priority = False

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        self.max_workers = int(self.options.get("max_workers", 128))
        self.worker_id = get_random_id()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._pending: set[Any] = set()

    @property
    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.max_workers, thread_name_prefix="playground-run"
                )
            return self._executor

    def prestart(self) -> None:
        """Start every worker thread now, while the process is idle.

        ThreadPoolExecutor starts a thread at submit time when none is idle, and the submitting
        request waits for that thread to get the GIL: measured at tens of milliseconds per run
        when a burst of runs arrives (BENCHMARKS.md). Idle threads cost a little memory only.
        """
        ready = threading.Barrier(self.max_workers + 1)
        for _ in range(self.max_workers):
            self.executor.submit(ready.wait)
        ready.wait()

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        result: TaskResult[Any] = TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        task_enqueued.send(type(self), task_result=result)
        transaction.on_commit(lambda: self._submit(result), robust=True)
        return result

    def _submit(self, result: TaskResult) -> None:
        future = self.executor.submit(self._execute, result)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _execute(self, result: TaskResult) -> None:
        close_old_connections()
        now = timezone.now()
        object.__setattr__(result, "status", TaskResultStatus.RUNNING)
        object.__setattr__(result, "started_at", now)
        object.__setattr__(result, "last_attempted_at", now)
        result.worker_ids.append(self.worker_id)
        task_started.send(type(self), task_result=result)
        try:
            result.task.call(*result.args, **result.kwargs)
        except BaseException as exc:
            logger.exception("task %s failed", result.task.name)
            result.errors.append(
                TaskError(
                    exception_class_path=get_module_path(type(exc)),
                    traceback=get_exception_traceback(exc),
                )
            )
            object.__setattr__(result, "status", TaskResultStatus.FAILED)
        else:
            object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
        finally:
            object.__setattr__(result, "finished_at", timezone.now())
            task_finished.send(type(self), task_result=result)
            # Worker threads are reused: never leave a connection open between tasks.
            connections.close_all()

    def in_flight(self) -> int:
        return sum(1 for future in self._pending if not future.done())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted task has finished (tests and graceful shutdown)."""
        from concurrent.futures import wait

        done, not_done = wait(list(self._pending), timeout=timeout)
        return not not_done
