"""LocalStack Lambda executor that runs each execution environment as a host process.

LocalStack side (imports localstack): plugin.py, executor.py, failures.py, process.py.
Environment side (stdlib only, in the function's own interpreter): runtime/lambda_host_runtime/.
"""
