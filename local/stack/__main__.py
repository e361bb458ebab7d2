"""`python3 -m local.stack up|down|status|deploy|logs`: the local stack as plain processes."""

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable

from . import config, demo, deploy, dev, install, measure, proc, services, web
from .proc import StackError


def _stage(index: int, total: int, name: str, action) -> str:
    started = time.monotonic()
    print(f"[{index}/{total}] {name} ...", end=" ", flush=True)
    try:
        result = action()
    except StackError:
        print(f"FAILED after {time.monotonic() - started:.1f} s")
        raise
    print(f"{result} ({time.monotonic() - started:.1f} s)", flush=True)
    return result


def up(cfg: config.Config, with_deploy: bool = True) -> None:
    stages: list[tuple[str, Callable[[], object]]] = [
        (name, functools.partial(step, cfg)) for name, step in install.STEPS
    ]
    stages += [(svc.name, functools.partial(svc.up, cfg)) for svc in services.ALL]
    if with_deploy:
        stages.append(("deploy infra/template.yaml", lambda: deploy.deploy(cfg)))
    started = time.monotonic()
    for i, (name, action) in enumerate(stages, 1):
        _stage(i, len(stages), name, action)
    print(f"stack up in {time.monotonic() - started:.1f} s; logs in {cfg.logs}")
    if with_deploy:
        outputs = json.loads(cfg.outputs_file.read_text())
        print(f"API: {outputs['ApiUrl']}  (outputs: {cfg.outputs_file})")
        print(f"Web: {outputs['WebUrl']}  (open it in a browser)")


def down(cfg: config.Config) -> None:
    for svc in reversed(services.ALL):
        stopped = svc.process(cfg).stop()
        print(f"{svc.name}: {'stopped' if stopped else 'not running'}")
    left = proc.leftovers(str(cfg.state))
    if left:
        raise StackError(
            "still running from "
            + str(cfg.state)
            + ":\n"
            + "\n".join(f"  pid {pid}: {cmd[:160]}" for pid, cmd in left)
        )


def status(cfg: config.Config) -> int:
    down_count = 0
    for svc in services.ALL:
        pid = svc.process(cfg).pid()
        if pid is None:
            state, down_count = "stopped", down_count + 1
        else:
            try:
                state = "healthy" if svc.healthy(cfg) else "unhealthy"
            except Exception:
                state = "unhealthy"
        pid_text = f"pid {pid}" if pid else ""
        print(f"{svc.name:<14} {state:<10} {pid_text:<11} {svc.url(cfg)}  log: {svc.process(cfg).log}")
    if cfg.outputs_file.exists():
        outputs = json.loads(cfg.outputs_file.read_text())
        print(f"API: {outputs['ApiUrl']}")
        print(f"Web: {outputs.get('WebUrl', '(not deployed yet)')}")
    return 1 if down_count else 0


def serve_web(cfg: config.Config) -> None:
    outputs = json.loads(cfg.outputs_file.read_text())
    httpd = web.server(outputs["ApiUrl"], cfg.web_port, socket_url=deploy.socket_url(outputs))
    print(f"Web: http://127.0.0.1:{cfg.web_port}/ serves web/ as it is on disk (Ctrl-C stops)", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


def logs(cfg: config.Config, name: str) -> None:
    svc = next((s for s in services.ALL if s.name == name), None)
    if svc is None:
        sys.exit(f"unknown service {name!r}; one of {', '.join(s.name for s in services.ALL)}")
    print(svc.process(cfg).tail(80))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python3 -m local.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="install what is missing, start every service, deploy the template")
    sub.add_parser("services", help="like up, without the deploy")
    sub.add_parser("deploy", help="build and deploy infra/template.yaml into the running LocalStack")
    sub.add_parser("venv", help="install the app's Python environment only")
    sub.add_parser("counts", help="run the counter now (it also runs on its schedule)")
    sub.add_parser("dev", help="serve the API with `chalice local` against the running stack").add_argument(
        "--port", type=int, default=8000
    )
    sub.add_parser("measure", help="memory of the running stack and API latency, as JSON")
    sub.add_parser("web", help="serve web/ from disk on WEB_PORT, calling the deployed API")
    sub.add_parser("web-upload-aws", help="upload web/ to the AWS stack's bucket").add_argument("aws_cli")
    sub.add_parser("down", help="stop every service this stack started")
    sub.add_parser("status", help="say what runs, where, and where its log is")
    sub.add_parser("logs", help="the last lines of one service's log").add_argument("service")
    token = sub.add_parser("user-token", help="a user token of the local demo application, to sign in")
    token.add_argument("--name", required=True)
    token.add_argument("--user-id", default="")
    token.add_argument("--access", choices=["read", "read_write"], default="read_write")
    token.add_argument("--expires-in", type=int, default=3600)
    args = parser.parse_args()
    cfg = config.load()
    try:
        if args.command == "up":
            up(cfg)
        elif args.command == "services":
            up(cfg, with_deploy=False)
        elif args.command == "deploy":
            _stage(1, 1, "deploy infra/template.yaml", lambda: deploy.deploy(cfg))
        elif args.command == "venv":
            _stage(1, 1, "app venv", lambda: install.app_venv(cfg))
        elif args.command == "dev":
            dev.serve(cfg, args.port)
        elif args.command == "counts":
            print(deploy.invoke(cfg, "CounterFunctionName"))
        elif args.command == "measure":
            print(json.dumps({"memory": measure.memory(cfg), "api_latency": measure.latency(cfg)}, indent=2))
        elif args.command == "web":
            serve_web(cfg)
        elif args.command == "web-upload-aws":
            print(f"Web: {web.upload_to_aws(args.aws_cli, cfg.state / 'aws-web')}")
        elif args.command == "down":
            down(cfg)
        elif args.command == "status":
            return status(cfg)
        elif args.command == "logs":
            logs(cfg, args.service)
        elif args.command == "user-token":
            print(demo.user_token(cfg, args.name, args.user_id, args.access, args.expires_in))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
