"""A small HTTP server for the load tests: counts requests, and can fail, lag or stall.

``python tests/load/server.py [--status 503] [--delay-ms 2] [--revision hello-v1]
[--stall-after 400 --stall-ms 1000]`` binds a free loopback port and prints ``PORT n``.
``GET /_count`` answers the number of other requests seen (it is not counted itself).
A stall holds every request that arrives or is in flight for ``--stall-ms``, once, after
the ``--stall-after``-th request: a server pause such as a GC or a CPU throttle.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web


def build_app(args: argparse.Namespace) -> web.Application:
    """The test app for the parsed command line."""
    state = {"count": 0, "stall_until": 0.0}
    headers = {"K-Revision": args.revision} if args.revision else {}

    async def count(_: web.Request) -> web.Response:
        return web.Response(text=str(state["count"]))

    async def handle(_: web.Request) -> web.Response:
        state["count"] += 1
        if args.stall_after and state["count"] == args.stall_after:
            state["stall_until"] = time.monotonic() + args.stall_ms / 1000.0
        if args.delay_ms:
            await asyncio.sleep(args.delay_ms / 1000.0)
        pause = state["stall_until"] - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        return web.Response(status=args.status, text="Hello test!\n", headers=headers)

    app = web.Application()
    app.router.add_get("/_count", count)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def serve(args: argparse.Namespace) -> None:
    """Bind a free loopback port, print it, serve until killed."""
    runner = web.AppRunner(build_app(args), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"PORT {port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--revision", default="")
    parser.add_argument("--stall-after", type=int, default=0)
    parser.add_argument("--stall-ms", type=float, default=0.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
