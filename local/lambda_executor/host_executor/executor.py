"""LocalStack's RuntimeExecutor for one execution environment, run as a host process.

LocalStack leaves the function timeout and crashes to the environment, so this class enforces both:
it kills an environment that overruns or dies, answers the invocation with the AWS error, and starts
a fresh process for the next invocation (a cold start, as on AWS).
"""

import logging
import subprocess
import threading
import time
from concurrent.futures import CancelledError, Future, InvalidStateError

import requests
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

from host_executor import failures
from host_executor.process import EnvironmentProcess, host_python, logs_dir

LOG = logging.getLogger(__name__)

# How often a waiting invocation checks that its process is still alive.
POLL_SECONDS = 0.05
NO_PROXY = {"http": "", "https": ""}


class HostProcessExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        # LocalStack's callback routes and futures; the invocation POST is sent from here.
        self.endpoint = ExecutorEndpoint(id)
        self.env_vars: dict[str, str] = {}
        self.process: EnvironmentProcess | None = None
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
        request_id = payload["invoke-id"]
        if self._started.exit_code() is not None:
            try:
                self._spawn()
            except StatusErrorException as e:
                return InvocationResult(request_id, e.payload, is_error=True, logs=self.get_logs())
        log_offset = self._started.log_mark()
        future = self.endpoint.invocation_future = Future()
        self.endpoint.logs = None
        started = time.monotonic()
        # The environment answers 202 before running the handler, so this returns at once.
        timeout = self.function_version.config.timeout
        response = requests.post(
            self._started.invoke_url, json=payload, proxies=NO_PROXY, timeout=timeout + 5
        )
        if not response.ok:
            raise InvokeSendError(f"Environment {self.id} refused the invocation: {response.status_code}")
        return self._await_result(future, request_id, started, log_offset)

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
        return self.process.read_log() if self.process else ""

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
            self.process = EnvironmentProcess.spawn(
                python=host_python(),
                task_root=version_config.code.get_unzipped_code_location(),
                layer_roots=[layer.code.get_unzipped_code_location() for layer in version_config.layers],
                env_vars=self.env_vars,
                log_path=logs_dir() / f"{self.id}.log",
            )
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

    def _await_result(
        self, future: Future, request_id: str, started: float, log_offset: int
    ) -> InvocationResult:
        timeout = self.function_version.config.timeout
        while True:
            try:
                return future.result(timeout=POLL_SECONDS)
            except TimeoutError:
                pass
            returncode = self._started.exit_code()
            if returncode is not None:
                failure = failures.exited(request_id, returncode)
            elif time.monotonic() - started >= timeout:
                self._started.kill()
                failure = failures.timed_out(request_id, time.monotonic() - started)
            else:
                continue
            logs = self._started.read_log(log_offset) + failure.log
            try:
                future.set_result(InvocationResult(request_id, failure.payload, is_error=True, logs=logs))
            except InvalidStateError:
                pass  # the real answer arrived in the meantime: it wins
            return future.result()
