"""gunicorn's settings for Vinova: ``gunicorn -c python:server.gunicorn_conf -w 4 -b … 'app:create_app()'``.

``python app.py`` runs the daily retention purge on a thread of its own; under gunicorn each worker runs
one, started once the worker has loaded the app. With several workers (or nodes) on one database the
first to claim the day runs it and the others skip it (server/retention.py), so the count of workers does
not matter. Without this file gunicorn serves the same app but never purges.
"""

from __future__ import annotations

from typing import Any

from server import retention

_PURGE_ATTRIBUTE = "vinova_daily_purge"


def post_worker_init(worker: Any) -> None:
    """Start this worker's daily purge (gunicorn calls it in the worker, after the app is loaded)."""
    daily_purge = retention.DailyPurge(worker.wsgi)
    daily_purge.start()
    setattr(worker, _PURGE_ATTRIBUTE, daily_purge)
    worker.log.info("daily retention purge scheduled in worker %s", worker.pid)


def worker_exit(server: Any, worker: Any) -> None:
    """Stop the worker's purge thread (a purge in progress finishes its current step first)."""
    daily_purge = getattr(worker, _PURGE_ATTRIBUTE, None)
    if daily_purge is not None:
        daily_purge.stop()
