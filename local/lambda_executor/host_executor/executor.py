"""LocalStack's RuntimeExecutor for one execution environment, run as a host process.

An invocation is one request on a keep-alive connection to the environment, answered with the
result; its log lines are read from the environment's log file. Nothing passes through LocalStack's
gateway per invocation (only the environment's ready/init-error report at start), which halved the
emulator's CPU per request (docs/performance.md, "The local API's ceiling").

LocalStack leaves the function timeout and crashes to the environment, so this class enforces both:
it kills an environment that overruns or dies, answers the invocation with the AWS error, and starts
a fresh process for the next invocation (a cold start, as on AWS).
"""

import http.client
import json
import logging
import subprocess
import threading
import time
from concurrent.futures import CancelledError, Future

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    InvokeSendError,
    ShutdownDuringStartup,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)
from localstack.utils.threads import TMP_THREADS

from host_executor import failures
from host_executor.process import EnvironmentProcess, host_python, logs_dir

LOG = logging.getLogger(__name__)

# How often a starting environment is checked for having died during init.
POLL_SECONDS = 0.05
# The environment's answer says whether the body is the function's response or an error payload
# (runtime/lambda_host_runtime/server.py).
OUTCOME_HEADER = "X-Invocation-Outcome"
# A process whose connection broke has this long to exit before it is killed (and reported so).
EXIT_WAIT_SECONDS = 5
# Beyond this size the environment's log is emptied once an invocation's part has been read.
MAX_LOG_BYTES = 1 << 20


def _forget_finished_threads() -> None:
    """LocalStack starts a thread per invocation (its CloudWatch metric) and keeps each in
    TMP_THREADS for its shutdown hook; under Python 3.13 a finished thread still referenced keeps
    its stack mapped, so ~32,000 invocations reached vm.max_map_count and LocalStack could start
    no thread at all (docs/platform.md, "LocalStack's threads")."""
    # It holds thread pools too (AdaptiveThreadPool), which stay for the shutdown hook.
    TMP_THREADS[:] = [t for t in list(TMP_THREADS) if not isinstance(t, threading.Thread) or t.is_alive()]


class HostProcessExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        # LocalStack's callback routes, used for the environment's ready/init-error report only.
        self.endpoint = ExecutorEndpoint(id)
        self.env_vars: dict[str, str] = {}
        self.process: EnvironmentProcess | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._log_offset = 0  # where the next invocation's lines start in the process's log
        # stop() may come from another thread (function deleted) while invoke() replaces a process.
        self._process_lock = threading.Lock()
        self._stopped = False

    def start(self, env_vars: dict[str, str]) -> None:
        self.env_vars = {key: str(value) for key, value in env_vars.items()}
        self.env_vars["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{self.function_version.config.runtime}"
        self.endpoint.start()
        self._spawn()

    def stop(self) -> None:
        with self._process_lock:
            self._stopped = True
        if self.process:
            self.process.kill()
            self.process.remove_log()
        try:
            self.endpoint.shutdown()
        except Exception as e:
            LOG.debug("Error while stopping executor endpoint %s: %s", self.id, e)

    @property
    def _started(self) -> EnvironmentProcess:
        """The environment's process; LocalStack invokes only after start() made it."""
        assert self.process is not None, "invoked before start()"
        return self.process

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        _forget_finished_threads()
        request_id = payload["invoke-id"]
        if self._started.exit_code() is not None:
            try:
                self._spawn()
            except StatusErrorException as e:
                return InvocationResult(request_id, e.payload, is_error=True, logs=self.get_logs())
        process = self._started
        timeout = self.function_version.config.timeout
        started = time.monotonic()
        try:
            succeeded, body = self._send(process, payload, timeout)
        except TimeoutError:
            process.kill()
            return self._failed(failures.timed_out(request_id, time.monotonic() - started), request_id)
        except (OSError, http.client.HTTPException):
            # The connection broke: the handler ended the process (exit, crash, kill).
            returncode = process.wait_exit(EXIT_WAIT_SECONDS)
            return self._failed(failures.exited(request_id, returncode), request_id)
        return InvocationResult(request_id, body, is_error=not succeeded, logs=self._new_logs())

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        host = config.GATEWAY_LISTEN[0].host
        return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        prefix = self.endpoint.get_endpoint_prefix()
        return f"http://{self.get_endpoint_from_executor()}:{port}{prefix}"

    def get_logs(self) -> str:
        return self.process.read_log().decode("utf-8", "replace") if self.process else ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        version_config = function_version.config
        if version_config.package_type != PackageType.Zip or not (version_config.runtime or "").startswith(
            "python"
        ):
            raise LambdaRuntimeException(
                "The host-process executor runs zip-packaged Python functions only, "
                f"not {version_config.package_type} {version_config.runtime}"
            )
        version_config.code.prepare_for_execution()
        for layer in version_config.layers:
            layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to undo: LocalStack removes the unzipped code itself."""

    @classmethod
    def validate_environment(cls) -> bool:
        python = host_python()
        try:
            subprocess.run([python, "-c", "pass"], check=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as e:
            LOG.warning("Lambda host interpreter %s is unusable (set LAMBDA_HOST_PYTHON): %s", python, e)
            return False
        return True

    def _spawn(self) -> None:
        """Start a process for this environment and wait until it has loaded the function."""
        self.endpoint.startup_future = Future()
        version_config = self.function_version.config
        with self._process_lock:
            if self._stopped:
                raise ShutdownDuringStartup(f"Environment {self.id} is stopped")
            if self.process:
                self.process.remove_log()  # a dead predecessor's: the new one's log starts empty
            self.process = EnvironmentProcess.spawn(
                python=host_python(),
                task_root=version_config.code.get_unzipped_code_location(),
                layer_roots=[layer.code.get_unzipped_code_location() for layer in version_config.layers],
                env_vars=self.env_vars,
                log_path=logs_dir() / f"{self.id}.log",
            )
        self._connection = None
        self._log_offset = 0  # the first invocation also reports what init printed
        LOG.debug("Environment %s runs as pid %s", self.id, self.process.pid)
        future = self.endpoint.startup_future
        while True:
            try:
                future.result(timeout=POLL_SECONDS)  # raises StatusErrorException on an init error
                return
            except CancelledError as e:
                raise ShutdownDuringStartup(f"Environment {self.id} stopped during startup") from e
            except TimeoutError:
                pass
            returncode = self.process.exit_code()
            if returncode is not None and not future.done():
                raise StatusErrorException(
                    f"Environment {self.id} exited during init", failures.exit_payload(returncode)
                )

    def _send(
        self, process: EnvironmentProcess, payload: dict[str, str], timeout: float
    ) -> tuple[bool, bytes]:
        """POST the invocation and wait for its answer: (succeeded, body). Raises TimeoutError once
        the function's timeout has passed, OSError or HTTPException if the process went away."""
        if self._connection is None:
            self._connection = process.connect()
        connection = self._connection
        try:
            assert connection.sock is not None
            # The environment sends nothing until the handler returns: one wait of the whole timeout.
            connection.sock.settimeout(timeout)
            connection.request(
                "POST", "/invoke", json.dumps(payload).encode(), {"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            body = response.read()
        except BaseException:
            self._connection = None
            connection.close()
            raise
        if response.status != 200:
            raise InvokeSendError(f"Environment {self.id} refused the invocation: {response.status}")
        return response.getheader(OUTCOME_HEADER) == "response", body

    def _new_logs(self) -> str:
        """What the environment logged since the last invocation (init output on the first)."""
        data = self._started.read_log(self._log_offset)
        self._log_offset += len(data)
        if self._log_offset > MAX_LOG_BYTES:
            self._started.truncate_log()
            self._log_offset = 0
        return data.decode("utf-8", "replace")

    def _failed(self, failure: failures.Failure, request_id: str) -> InvocationResult:
        return InvocationResult(
            request_id, failure.payload, is_error=True, logs=self._new_logs() + failure.log
        )
