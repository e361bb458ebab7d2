"""One execution environment: load the function, report ready, then run invocations one at a time,
each answered on the executor's connection (server.py).

Started by host_executor.process with a JSON config as the last argument. Exits with LocalStack: a
thread watches the parent process, so nothing is orphaned even if LocalStack is killed with SIGKILL.
"""

import json
import os
import signal
import sys
import threading
import time

from lambda_host_runtime import handler, logs, server
from lambda_host_runtime.api import RuntimeApi

PARENT_POLL_SECONDS = 0.2


def main() -> None:
    runtime_dir, config = sys.argv[1], json.loads(sys.argv[2])
    sys.argv = [os.path.join(runtime_dir, "bootstrap")]
    _exit_with_parent(config["parent_pid"])
    _set_sys_path(config["task_root"], config["layer_roots"], runtime_dir)
    runtime = RuntimeApi(os.environ["LOCALSTACK_RUNTIME_ENDPOINT"], os.environ["LOCALSTACK_RUNTIME_ID"])
    request_ids = logs.install_root_handler()

    init_started = time.perf_counter()
    try:
        function = handler.load(os.environ.get("_HANDLER", ""))
    except handler.InitError as error:
        print(error.log_line())
        runtime.init_error(error.payload())
        sys.exit(1)
    init_ms: float | None = (time.perf_counter() - init_started) * 1000
    timeout_seconds = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))

    def run_invocation(request: dict) -> server.Outcome:
        nonlocal init_ms
        request_id = request["invoke-id"]
        request_ids.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace-id") or ""
        print(logs.start_line(request_id))
        started = time.perf_counter()
        outcome = handler.call(function, request, timeout_seconds)
        print(logs.end_lines(request_id, (time.perf_counter() - started) * 1000, init_ms))
        init_ms = None
        # The executor reads this invocation's lines from the log file once it has the answer.
        sys.stdout.flush()
        sys.stderr.flush()
        return outcome

    runtime.ready()
    server.serve(config["listen_fd"], run_invocation)


def _set_sys_path(task_root: str, layer_roots: list[str], runtime_dir: str) -> None:
    """The AWS order: task root, then the layers (/opt/python/lib/.../site-packages, /opt/python),
    then the interpreter's own paths, then this runtime. A later layer wins, as when layers are
    extracted over each other into /opt."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    layers = list(reversed(layer_roots))
    candidates = [f"{root}/python/lib/{version}/site-packages" for root in layers]
    candidates += [f"{root}/python" for root in layers]
    interpreter_paths = [path for path in sys.path if path != runtime_dir]
    sys.path[:] = [
        task_root,
        *(path for path in candidates if os.path.isdir(path)),
        *interpreter_paths,
        runtime_dir,
    ]


def _exit_with_parent(parent_pid: int) -> None:
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        # The process group is this environment's own (start_new_session): take the function's
        # subprocesses along.
        if os.getpgid(0) == os.getpid():
            os.killpg(0, signal.SIGKILL)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
