"""What no answer a client sees may name: ARNs, hosts, SQL, stack traces, internal ids.

The integration and end-to-end clients record every answer; a fixture of each suite runs
`leaks` over the error answers of every test (tests/integration/conftest.py, tests/e2e/conftest.py).
"""

import re

PATTERNS = {
    "an ARN": re.compile(r"arn:aws", re.IGNORECASE),
    "an AWS account id": re.compile(r"(?<![\d])\d{12}(?![\d])"),
    "a host or address": re.compile(
        r"\b(?:\d{1,3}\.){3}\d{1,3}\b|localhost|amazonaws\.com|\.cloud\b|https?://", re.IGNORECASE
    ),
    "SQL": re.compile(r"\b(?:SELECT|INSERT|UPDATE|DELETE)\b.*\b(?:FROM|INTO|SET|WHERE)\b", re.IGNORECASE),
    "a stack trace": re.compile(r"Traceback|File \"|\bline \d+"),
    "a driver": re.compile(r"pymysql|redis\.|elasticsearch\.|botocore|elastic_transport"),
    "an internal id": re.compile(r"application_id|chat_id|\b_id\b"),
}


def leaks(text: str) -> list:
    """The names of what `text` shows that it must not."""
    return [name for name, pattern in PATTERNS.items() if pattern.search(text)]


def check_errors(answers: list) -> None:
    """Fails on the first error answer ((method, path, status, text)) that shows internals."""
    for method, path, status, text in answers:
        if status >= 400:
            found = leaks(text)
            assert not found, f"{method} {path} answered {status} showing {found}: {text[:500]}"
