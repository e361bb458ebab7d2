"""`make fuzz` (python -m tests.chaos.fuzz): schemathesis, generated from docs/openapi.yaml, against
the running API. Passes when no answer is a 5xx and every answer is one the spec documents.

Half the generated paths carry random tokens (unknown applications: 404s the spec documents);
for the other half the operations get a real application, chat and message, so generated bodies,
numbers and queries reach the code behind the token check. tests/chaos/fuzz_hooks.py mixes in
the hostile classes of docs/security.md (huge numbers, lone surrogates, odd percent-encodings).
FUZZ_EXAMPLES sets the examples per
operation (default 100: about 1,300 cases over the 13 operations, more with the coverage phase).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.chaos import stack

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "openapi.yaml"
CONFIG = ROOT / "tests" / "chaos" / "schemathesis.toml"  # the checks' settings, each with its reason
# Spec conformance and no server errors. Left out on purpose: positive_data_acceptance (a valid
# request for an unknown token is a 404, as documented), unsupported_method (API Gateway answers
# an undefined method with its own 403, before our code), and the auth checks (no auth here).
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
]


def _fixture(api: str) -> dict:
    def created(path: str, body: dict | None) -> dict:
        answer = requests.post(f"{api}{path}", json=body, timeout=30)
        answer.raise_for_status()  # e.g. the stack was redeployed under another API id meanwhile
        return answer.json()

    token = created("/applications", {"name": "fuzz"})["token"]
    chat = created(f"/applications/{token}/chats", None)["number"]
    message = created(f"/applications/{token}/chats/{chat}/messages", {"body": "fuzz target"})["number"]
    return {"token": token, "number": chat, "message_number": message}


def run(api: str, out: Path, examples: int, with_real_ids: bool) -> int:
    out.mkdir(parents=True, exist_ok=True)
    config = out / "schemathesis.toml"
    lines = [CONFIG.read_text(), "[generation]", f"max-examples = {examples}", ""]
    if with_real_ids:
        ids = _fixture(api)
        lines += ["[parameters]"] + [f'"path.{k}" = {json.dumps(v)}' for k, v in ids.items()]
    config.write_text("\n".join(lines) + "\n")
    st = Path(sys.executable).parent / "st"
    argv = [
        str(st),
        "--config-file",
        str(config),
        "run",
        str(SPEC),
        "--url",
        api,
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--seed",
        "4",
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(out),
        "--no-color",
    ]
    print(" ".join(argv), flush=True)
    # Hostile values (huge numbers, lone surrogates, odd percent-encodings) mixed into the
    # generated requests: tests/chaos/fuzz_hooks.py.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.chaos.fuzz_hooks", "PYTHONPATH": str(ROOT)}
    return subprocess.call(argv, env=env, cwd=ROOT)


def main() -> int:
    cfg = stack.target()
    api = stack.outputs(cfg)["ApiUrl"]
    out = cfg.state / "chaos" / "schemathesis"
    examples = int(os.environ.get("FUZZ_EXAMPLES", 100))
    codes = [run(api, out / "random-ids", examples, False), run(api, out / "real-ids", examples, True)]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
