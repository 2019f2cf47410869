"""A Locust worker of the harness: ``python -m harness.load.worker --master-host H``.

It needs no targets or locustfile of its own: the master sends the plan when the worker
connects (`harness.load.distributed`). Started by the master for ``--workers N``, by
``harness load --worker`` on another machine, or by the in-cluster manifests.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys

import gevent
from locust.env import Environment

from harness.load.distributed import ArmsWorker
from harness.load.plan import DEFAULT_MASTER_PORT


def run_worker(master_host: str, master_port: int) -> None:
    """Connect to the master, run users as it says, return when it tells the worker to quit."""
    environment = Environment(user_classes=[], catch_exceptions=True)
    runner = environment.create_worker_runner(master_host, master_port)
    arms = ArmsWorker(environment, runner)
    watchdog = gevent.spawn(arms.watch, runner.quit)
    runner.greenlet.join()
    watchdog.kill()


def main(argv: list[str] | None = None) -> None:
    """Entry point; an unreachable master is one line on stderr and exit 2."""
    parser = argparse.ArgumentParser(prog="python -m harness.load.worker", description=__doc__)
    parser.add_argument("--master-host", required=True)
    parser.add_argument("--master-port", type=int, default=DEFAULT_MASTER_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="worker %(levelname)s %(message)s")
    try:
        with socket.create_connection((args.master_host, args.master_port), timeout=5.0):
            pass
    except OSError as exc:
        print(
            f"error: cannot reach the master at {args.master_host}:{args.master_port}: "
            f"{exc.strerror or type(exc).__name__}",
            file=sys.stderr,
        )
        sys.exit(2)
    run_worker(args.master_host, args.master_port)


if __name__ == "__main__":
    main()
