from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class HostProcessExecutorPlugin(RuntimeExecutorPlugin):
    """Selected with LAMBDA_RUNTIME_EXECUTOR=host-process."""

    name = "host-process"

    def load(self, *args, **kwargs):
        from host_executor.executor import HostProcessExecutor

        return HostProcessExecutor
