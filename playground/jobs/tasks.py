from __future__ import annotations

from django_tasks import task

from playground.jobs.runner import execute_run


@task()
def perform_run(run_id: str) -> None:
    execute_run(run_id)
