"""Loads the function's handler and calls it, with the AWS Python runtime's error shapes."""

import decimal
import importlib
import json
import traceback

from lambda_host_runtime.context import LambdaContext


class InitError(Exception):
    """The function could not be loaded; answered on /status/<id>/error."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []

    def payload(self) -> bytes:
        return _error_json(self.error_type, self.message, "", self.stack)

    def log_line(self) -> str:
        return f"[ERROR] {self.error_type}: {self.message}\nTraceback (most recent call last):\n" + "".join(
            self.stack
        )


def load(spec: str):
    """Import 'module.function' (or 'dir/module.function') from the task root and layers."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise InitError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}") from exc
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    except SyntaxError as exc:
        raise InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}"
        ) from exc
    except Exception as exc:
        raise InitError(type(exc).__name__, str(exc), _stack(exc)) from exc
    function = getattr(module, function_name, None)
    if function is None:
        raise InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return function


def call(function, request: dict, timeout_seconds: float) -> tuple[bool, bytes]:
    """Run one invocation; returns (succeeded, response body or error payload)."""
    request_id = request["invoke-id"]
    try:
        event = json.loads(request.get("payload") or "{}")
        result = function(event, LambdaContext(request, timeout_seconds))
    except Exception as exc:  # SystemExit is let through: the process ends, as on AWS
        stack = _stack(exc)
        print(f"[ERROR] {type(exc).__name__}: {exc}\nTraceback (most recent call last):\n" + "".join(stack))
        return False, _error_json(type(exc).__name__, str(exc), request_id, stack)
    try:
        return True, json.dumps(result, default=_decimal_to_number).encode()
    except (TypeError, ValueError) as exc:
        return False, _error_json(
            "Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id, []
        )


def _stack(exc: BaseException) -> list[str]:
    """The traceback below the runtime's own frame, one string per frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    user_frames = [frame for frame in frames if "lambda_host_runtime" not in frame.filename]
    return traceback.format_list(user_frames)


def _error_json(error_type: str, message: str, request_id: str, stack: list[str]) -> bytes:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": stack,
        }
    ).encode()


def _decimal_to_number(value):
    """As the AWS runtime does, so DynamoDB numbers can be returned as they come."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
