"""What the caller sees when an environment cannot answer: the AWS error payloads and log lines."""

import json
import signal
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Failure:
    payload: bytes
    log: str


def timed_out(request_id: str, seconds: float) -> Failure:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    message = f"Task timed out after {seconds:.2f} seconds"
    return Failure(
        payload=_error(request_id, "Sandbox.Timedout", message),
        log=f"{stamp}Z {request_id} {message}\n\n" + _end(request_id, seconds, "timeout"),
    )


def exited(request_id: str, returncode: int) -> Failure:
    reason = _exit_reason(returncode)
    return Failure(
        payload=_error(request_id, "Runtime.ExitError", f"Runtime exited with error: {reason}"),
        log=f"RequestId: {request_id} Error: Runtime exited with error: {reason}\n"
        f"Runtime.ExitError\n" + _end(request_id, None, "error"),
    )


def exit_payload(returncode: int) -> bytes:
    """The answer when the environment dies while loading the function (before any invocation)."""
    return _error("", "Runtime.ExitError", f"Runtime exited with error: {_exit_reason(returncode)}")


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return f"signal: {_SIGNAL_WORDS.get(name, name.lower())}"
    return f"exit status {returncode}"


# Go's wording for the common signals, which is what AWS prints.
_SIGNAL_WORDS = {"SIGSEGV": "segmentation fault", "SIGKILL": "killed", "SIGABRT": "aborted"}


def _error(request_id: str, error_type: str, message: str) -> bytes:
    prefix = f"RequestId: {request_id} Error: " if request_id else ""
    return json.dumps({"errorType": error_type, "errorMessage": prefix + message}).encode()


def _end(request_id: str, seconds: float | None, status: str) -> str:
    duration = f"\tDuration: {seconds * 1000:.2f} ms" if seconds is not None else ""
    return f"END RequestId: {request_id}\nREPORT RequestId: {request_id}{duration}\tStatus: {status}\n"
