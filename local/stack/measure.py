"""`python3 -m local.stack measure`: memory of the running stack and API latency through LocalStack."""

import json
import os
import statistics
import time
import urllib.error
import urllib.request
from typing import Any

from . import services
from .config import Config


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def _tree(root: int) -> list:
    """`root` and all its descendants (LocalStack's Lambda environments among them)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def memory(cfg: Config) -> dict:
    out: dict[str, Any] = {}
    for svc in services.ALL:
        pid = svc.process(cfg).pid()
        group = _tree(pid) if pid else []
        out[svc.name] = {"processes": len(group), "rss_mib": round(sum(map(_rss_kib, group)) / 1024, 1)}
    out["total_rss_mib"] = round(sum(v["rss_mib"] for v in out.values()), 1)
    return out


def latency(cfg: Config, requests: int = 50) -> dict:
    """Times GETs of an unknown token: a full trip through API Gateway and the API Lambda."""
    url = json.loads(cfg.outputs_file.read_text())["ApiUrl"] + "/applications/measure-latency"
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        try:
            urllib.request.urlopen(url, timeout=30).read()
        except urllib.error.HTTPError as exc:  # 404 is the expected answer
            exc.read()
        timings.append((time.perf_counter() - started) * 1000)
    warm = sorted(timings[1:])
    return {
        "first_ms": round(timings[0], 1),
        "warm_p50_ms": round(statistics.median(warm), 1),
        "warm_p99_ms": round(warm[int(0.99 * (len(warm) - 1))], 1),
        "requests": requests,
    }
