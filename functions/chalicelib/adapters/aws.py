"""The AWS clients of the adapters (SQS, SNS, Lambda, @connections), made by botocore.

`boto3.client` is botocore's `Session.create_client` on boto3's default session; importing boto3
also loads s3transfer, and with it `concurrent.futures` and `multiprocessing`, for S3 transfers no
function makes: ~40 ms of the API's cold start (docs/performance.md, "Each function loads what it
uses"). These are the same botocore clients, configured from the same environment (region,
`AWS_ENDPOINT_URL`, credentials chain), on one session per process.
"""

import threading
from typing import Any

from botocore.config import Config
from botocore.session import Session, get_session

_lock = threading.Lock()  # a botocore session makes one client at a time
_session: Session | None = None


def client(service: str, config: Config, **kwargs: Any) -> Any:  # botocore builds its clients at run time
    global _session
    with _lock:
        if _session is None:
            _session = get_session()
        return _session.create_client(service, config=config, **kwargs)
