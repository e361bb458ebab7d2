"""`python -m local.wsgate --port P --apis DIR --lambda-endpoint URL`: the local WebSocket gateway."""

import argparse
import logging
import resource
from pathlib import Path

from aiohttp import web

from .apis import Registry
from .lambdas import Invoker
from .server import Gateway, Limits


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local.wsgate")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--apis", type=Path, required=True, help="folder of the APIs' JSON files")
    parser.add_argument("--lambda-endpoint", required=True, help="LocalStack's URL")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--idle-timeout", type=float, default=Limits.idle_seconds)
    parser.add_argument("--max-lifetime", type=float, default=Limits.lifetime_seconds)
    args = parser.parse_args()
    # Two descriptors per client at most; a default soft limit of 1024 would cap it near 1,000 sockets.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    invoker = Invoker(args.lambda_endpoint, args.region)
    gateway = Gateway(Registry(args.apis), invoker, Limits(args.idle_timeout, args.max_lifetime))
    try:
        web.run_app(gateway.app(), host=args.host, port=args.port, print=None, shutdown_timeout=5)
    finally:
        invoker.close()


if __name__ == "__main__":
    main()
