"""What identifying a caller costs in a warm function: an application token against a user token.

`python -m tests.bench.identify_bench`: in-process, on the fakes (no store is read once the
caches are warm, which is what is measured), 5 runs of 20,000 identifications each.
"""

import statistics
import time

from chalicelib.domain.models import Author
from chalicelib.domain.user_tokens import Grant
from chalicelib.usecases import identity, service
from tests import fakes

RUNS, CALLS = 5, 20_000


def per_call_us(deps: fakes.FakeDeps, credential: str) -> float:
    started = time.perf_counter()
    for _ in range(CALLS):
        identity.identify(deps, credential)
    return (time.perf_counter() - started) / CALLS * 1e6


def main() -> None:
    deps = fakes.deps()
    app = service.create_application(deps, "bench").token
    user = service.issue_user_token(deps, app, Grant(Author("ana", "Ana")))[0]
    cold = time.perf_counter()
    identity.forget_everything()
    identity.identify(deps, user)  # the first: PyJWT's checks, and the key versions from "MySQL"
    first_us = (time.perf_counter() - cold) * 1e6
    identity.identify(deps, app)
    rows = {
        name: [per_call_us(deps, c) for _ in range(RUNS)]
        for name, c in (("application", app), ("user", user))
    }
    for name, values in rows.items():
        print(
            f"{name} token: median {statistics.median(values):.1f} µs per identify ({RUNS} runs of {CALLS:,})"
        )
    ratio = statistics.median(rows["user"]) / statistics.median(rows["application"])
    print(f"user / application: {ratio:.2f}; a user token's first verification: {first_us:.0f} µs")


if __name__ == "__main__":
    main()
