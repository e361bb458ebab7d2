"""The performance targets, the table printed at the end of `make bench`, and the plot in docs/."""

TARGETS = [
    (
        "live_shown_p50",
        "send -> shown on the other page, p50 (Chromium)",
        "ms",
        "live page",
        lambda s: s["send_to_shown"]["p50_ms"],
        "<= 150",
    ),
    (
        "live_shown_p99",
        "send -> shown on the other page, p99 (Chromium)",
        "ms",
        "live page",
        lambda s: s["send_to_shown"]["p99_ms"],
        "<= 500",
    ),
    (
        "live_idle_requests",
        "HTTP requests of an idle page following a chat",
        "",
        "live page",
        lambda s: s["idle_page"]["http_requests"],
        "<= 0",
    ),
    (
        "live_fan_out",
        "1,000 sockets: the last has it after the 201, p50",
        "ms",
        "live",
        lambda s: s["fan_out"]["after_201"]["last_socket"]["p50_ms"],
        "<= 2,000",
    ),
    (
        "webhook_p50",
        "created -> delivered to a healthy receiver, p50",
        "ms",
        "webhooks",
        lambda s: s["lag_ms"]["p50_ms"],
        "<= 500",
    ),
    (
        "webhook_p99",
        "created -> delivered to a healthy receiver, p99",
        "ms",
        "webhooks",
        lambda s: s["lag_ms"]["p99_ms"],
        "<= 2,000",
    ),
    # key, what, unit, section, figure(that section's results), target ("<= n" or ">= n": the test and
    # its text in one)
    (
        "writer_vs_ceiling",
        "writer / slower bare ceiling (batch 100)",
        "x",
        "writer",
        lambda s: s["ratio_to_slower_ceiling"],
        ">= 0.8",
    ),
    (
        "writer_vs_naive",
        "writer / naive per-message path",
        "x",
        "writer",
        lambda s: s["ratio_to_naive"],
        ">= 10",
    ),
    (
        "writer_rate",
        "writer messages/s into MySQL (batch 100)",
        "/s",
        "writer",
        lambda s: s["messages_per_s"],
        ">= 25,000",
    ),
    (
        "accept_p50",
        "accept p50, message creation, c=1",
        "ms",
        "accept",
        lambda s: s["message c=1"]["p50_ms"],
        "<= 2",
    ),
    (
        "accept_p99",
        "accept p99, message creation, c=1",
        "ms",
        "accept",
        lambda s: s["message c=1"]["p99_ms"],
        "<= 10",
    ),
    (
        "gateway",
        "through LocalStack: create message req/s / no-op POST, c=1",
        "x",
        "gateway",
        lambda s: s["c=1"]["ours: create a message"]["ratio_to_noop_req_per_s"],
        ">= 0.9",
    ),
    (
        "lag_p99",
        "e2e lag p99, 201 -> MySQL and search",
        "ms",
        "lag",
        lambda s: s["lag_both"]["p99_ms"],
        "<= 2000",
    ),
    (
        "search_p99",
        "search p99 at 1M messages (worst query kind)",
        "ms",
        "search",
        lambda s: s["p99_ms"],
        "<= 15",
    ),
    (
        "search_worst_p99",
        "search p99, 1,000 matching 64 KB bodies in one chat, expensive queries",
        "ms",
        "search",
        lambda s: s["worst"]["p99_ms"],
        "<= 50",
    ),
    (
        "search_writer_ratio",
        "writer with the search mapping / with the trigram-only mapping (median)",
        "x",
        "search",
        lambda s: s["writer"]["ratio_median"],
        ">= 0.85",
    ),
    (
        "counter_full",
        "counter full recount, 1M messages",
        "s",
        "counter",
        lambda s: s["full_recount_all_rows_changed_s"],
        "<= 1",
    ),
    (
        "writer_before_after",
        "writer this tree / before times, authors and the feed (f8e77ff), batch 100",
        "x",
        "writer a/b",
        lambda s: s["after_over_before"],
        ">= 0.9",
    ),
    (
        "counter_incremental",
        "counter incremental, 10k changed chats",
        "s",
        "counter",
        lambda s: s["incremental_s"],
        "<= 0.2",
    ),
    (
        "ceiling_c1",
        "no-op API req/s, this tree / before (21a808f), c=1",
        "x",
        "gateway a/b",
        lambda s: s["c=1"]["after"]["ratio_req_per_s"],
        ">= 2",
    ),
    (
        "ceiling_c4",
        "no-op API req/s, this tree / before (21a808f), c=4",
        "x",
        "gateway a/b",
        lambda s: s["c=4"]["after"]["ratio_req_per_s"],
        ">= 2",
    ),
    (
        "writers_2",
        "2 writers / 1 writer, events spread over chats",
        "x",
        "writers",
        lambda s: next(v for k, v in s.items() if k.startswith("spread"))[1]["speedup"],
        ">= 1.6",
    ),
    (
        "counter_full_10m",
        "counter full recount, 10M messages (--big)",
        "s",
        "counter 10M",
        lambda s: s["full_recount_all_rows_changed_s"],
        "<= 5",
    ),
    (
        "counter_incremental_10m",
        "counter incremental, 10k of 1M chats (--big)",
        "s",
        "counter 10M",
        lambda s: s["incremental_s"],
        "<= 0.2",
    ),
    (
        "bigchat_search_p99",
        "search p99, chat of 1M among 10M, worst of 5 kinds (--big)",
        "ms",
        "big chat",
        lambda s: s["sizes"]["p99_ms_1m"],
        "<= 15",
    ),
    (
        "bigchat_reads_p99",
        "first/last list page and one-message reads p99, chat of 1M (--big)",
        "ms",
        "big chat",
        lambda s: s["mysql"]["p99_ms_1m"],
        "<= 5",
    ),
    (
        "shards_search_p99",
        "search p99, 4 shards / 1 shard, median of cells (--big)",
        "x",
        "shards",
        lambda s: s["p99_ratio_median"],
        "<= 1.1",
    ),
    (
        "shards_writer",
        "writer rate, 4 shards / 1 shard, median (--big)",
        "x",
        "shards",
        lambda s: s["writer"]["writer_ratio_median"],
        ">= 0.9",
    ),
    (
        "index_sort_writer",
        "writer rate, index sorted by number / unsorted, median (--big)",
        "x",
        "shards",
        lambda s: s["sort_writer"]["writer_ratio_median"],
        ">= 0.9",
    ),
    (
        "writer_memory",
        "writer peak memory (REPORT), MemorySize 512",
        "MB",
        "drain",
        lambda s: s["max_memory_used_mb"],
        "<= 512",
    ),
]


def evaluate(results: dict) -> list:
    """Each target's figure and verdict: met True/False, None when its section did not run, and
    "failed" (never met) when its section failed or did not produce the figure."""
    out = []
    for key, what, unit, section, figure, text in TARGETS:
        value: float | None = None
        met: bool | str | None = None
        if section in results and results[section].get("failed"):
            met = "failed"
        elif section in results:
            try:
                value = figure(results[section])
                met = _met(value, text)
            except (LookupError, TypeError, StopIteration):
                met = "failed"  # the section ran but lacks this figure
        verdict = {"key": key, "what": what, "unit": unit, "section": section, "value": value, "target": text}
        verdict["met"] = met
        out.append(verdict)
    return out


def _met(value: float, target: str) -> bool:
    op, bound = target.split()
    limit = float(bound.replace(",", ""))
    return value <= limit if op == "<=" else value >= limit


def table(results: dict, verdicts: list) -> str:
    lines = [f"{'target':<58} {'measured':>12} {'target':>10}  met"]
    lines.append("-" * len(lines[0]))
    for v in verdicts:
        if v["value"] is not None:
            value = f"{v['value']:,}{'' if v['unit'] == 'x' else ' ' + v['unit']}"
        else:
            value = "FAILED" if v["met"] == "failed" else "n/a"
        met = {True: "yes", False: "NO", None: "-", "failed": "NO"}[v["met"]]
        lines.append(f"{v['what']:<58} {value:>12} {v['target']:>10}  {met}")
    lines += ["", "details:"] + _details(results)
    return "\n".join(lines)


def _details(r: dict) -> list:
    out = []
    w = r.get("writer")
    if w and "points" in w:
        out.append(
            "  writer (in-process, messages/s): "
            + ", ".join(
                f"batch {p['batch_size']}: {p['messages_per_s']} "
                f"(INSERT loop {p['ceiling_mysql_rows_per_s']}, _bulk loop {p['ceiling_bulk_docs_per_s']}, "
                f"both loops at once {p['ceiling_both_at_once_per_s']}; "
                f"MySQL {p['mysql_s']} s and ES {p['es_s']} s "
                f"of {p['seconds']} s, at once)"
                for p in w["points"]
            )
            + f"; naive {w['naive']['messages_per_s']}"
        )
        out.append(
            f"  at batch 100: writer / both loops at once {w['ratio_to_both_at_once']}; "
            f"both loops at once / slower loop {w['both_at_once_to_slower_ceiling']}"
        )
    d = r.get("drain")
    if d and "messages_per_s" in d:
        out.append(
            f"  writer deployed (LocalStack SQS -> function): {d['messages_per_s']}/s, "
            f"{d['invocations']} invocations, handler p50 {d['handler_ms_p50']} ms per batch"
        )
    a = r.get("accept")
    if a and "floor" in a:
        out.append(
            "  accept (p50/p99 ms, req/s): "
            + "; ".join(
                f"{k} {v['p50_ms']}/{v['p99_ms']}, {v['req_per_s']}"
                for k, v in a.items()
                if isinstance(v, dict) and "req_per_s" in v
            )
        )
        out.append(
            f"    floors: SQS send_message p50 {a['floor']['sqs_send_message']['p50_ms']} ms, "
            f"Redis script p50 {a['floor']['redis_script_call']['p50_ms']} ms"
        )
    g = r.get("gateway")
    if g:
        for level in [k for k in g if k.startswith("c=")]:
            out.append(
                f"  gateway {level}: "
                + "; ".join(
                    f"{k} p50 {v['p50_ms']} p99 {v['p99_ms']} ms {v['req_per_s']} req/s"
                    + (f" (handler p50 {v['handler_p50_ms']} ms)" if v.get("handler_p50_ms") else "")
                    for k, v in g[level].items()
                )
            )
    lag = r.get("lag")
    if lag and "lag_both" in lag:
        out.append(
            f"  lag at {lag['offered_per_s']}/s: MySQL p50/p99 {lag['lag_mysql']['p50_ms']}/"
            f"{lag['lag_mysql']['p99_ms']} ms, search {lag['lag_search']['p50_ms']}/"
            f"{lag['lag_search']['p99_ms']} ms, "
            f"both {lag['lag_both']['p50_ms']}/{lag['lag_both']['p99_ms']} ms"
        )
    s = r.get("search", {})
    for part in ("kinds", "worst"):
        if part in s:
            out.append(
                f"  search {part}: "
                + "; ".join(
                    f"{k} p50 {v['p50_ms']} p99 {v['p99_ms']} ms"
                    for k, v in s[part].items()
                    if isinstance(v, dict) and "p50_ms" in v
                )
            )
    big = r.get("big chat", {})
    for size, kinds in big.get("sizes", {}).get("by_size", {}).items():
        out.append(
            f"  big chat, search in a chat of {int(size):,} (p99 now/before ms): "
            + "; ".join(f"{k} {v['now']['p99_ms']}/{v['before']['p99_ms']}" for k, v in kinds.items())
        )
    for size, reads in big.get("mysql", {}).get("by_size", {}).items():
        out.append(
            f"  big chat, MySQL in a chat of {int(size):,} (p50/p99 ms): "
            + "; ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in reads.items())
        )
    shards = r.get("shards", {})
    if "writer" in shards:
        w = shards["writer"]
        out.append(
            f"  shards: search p99 4/1 median of cells {shards['p99_ratio_median']}; writer 4/1 "
            f"{w['writer_ratio_4 shards_to_1 shard']} (median {w['writer_ratio_median']}), _bulk alone 4/1 "
            f"{w['bulk_ratio_4 shards_to_1 shard']} (median {w['bulk_ratio_median']})"
        )
    if "sort_writer" in shards:
        w = shards["sort_writer"]
        out.append(
            f"  index sort: writer sorted/unsorted {w['writer_ratio_sorted_to_unsorted']} (median "
            f"{w['writer_ratio_median']}), _bulk alone {w['bulk_ratio_sorted_to_unsorted']} "
            f"(median {w['bulk_ratio_median']})"
        )
    c = r.get("cold start")
    if c:
        out.append(
            "  cold start (first invoke / init ms): "
            + "; ".join(
                f"{k} {v['first_invoke_ms']}/{v['init_duration_ms']}"
                for k, v in c.items()
                if isinstance(v, dict) and "first_invoke_ms" in v
            )
        )
        if "import" in c:
            out.append(f"  import app: {c['import']['importtime_cumulative_ms']} ms")
    parts = r.get("init parts")
    if parts and "functions" in parts:
        out.append(
            "  init CPU after/before, median of rounds: "
            + "; ".join(f"{k} {v['cpu_ratio_median_of_rounds']}" for k, v in parts["functions"].items())
        )
    for name, section in r.items():
        if isinstance(section, dict) and isinstance(section.get("error"), str):
            out.append(f"  {name}: FAILED {section['error']}")
    return out


def plot(results: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    w = results.get("writer", {})
    points = sorted(w.get("points", []), key=lambda p: p["batch_size"])
    if points:
        sizes = [p["batch_size"] for p in points]
        left.plot(sizes, [p["messages_per_s"] for p in points], "o-", label="writer (MySQL + ES)")
        left.plot(
            sizes, [p["ceiling_mysql_rows_per_s"] for p in points], "s--", label="bare multi-row INSERT loop"
        )
        left.plot(sizes, [p["ceiling_bulk_docs_per_s"] for p in points], "^--", label="bare _bulk loop")
        if all("ceiling_both_at_once_per_s" in p for p in points):
            left.plot(
                sizes, [p["ceiling_both_at_once_per_s"] for p in points], "d:", label="both loops at once"
            )
        if "naive" in w:
            left.axhline(
                w["naive"]["messages_per_s"],
                color="grey",
                linestyle=":",
                label="naive: INSERT + index per message",
            )
        left.set_xscale("log")
        left.set_yscale("log")
        left.set_xlabel("batch size (events per invocation)")
        left.set_ylabel("messages per second")
        left.set_title("Writer throughput vs batch size")
        left.legend(fontsize=8)
        left.grid(True, which="both", alpha=0.3)
    bars = []
    a = results.get("accept", {})
    for level in ("message c=1", "message c=4", "message c=16"):
        if level in a:
            bars.append((f"accept {level.split()[1]}", a[level]))
    if "floor" in a:
        bars.append(("SQS send alone", a["floor"]["sqs_send_message"]))
    g = results.get("gateway", {}).get("c=1", {})
    for name, label in (
        ("no-op Lambda", "LS no-op GET"),
        ("ours: read a message", "LS read"),
        ("no-op Lambda, POST", "LS no-op POST"),
        ("ours: create a message", "LS create"),
        ("ours: create, writer paused", "LS create, no drain"),
    ):
        if name in g:
            bars.append((label, g[name]))
    s = results.get("search", {}).get("kinds", {})
    for name in ("one word", "two words", "part of a word", "two characters", "CJK"):
        if name in s:
            bars.append((f"search {name}", s[name]))
    lag = results.get("lag", {})
    if "lag_both" in lag:
        bars.append(("e2e lag", lag["lag_both"]))
    if bars:
        x = range(len(bars))
        right.bar([i - 0.2 for i in x], [b[1]["p50_ms"] for b in bars], 0.4, label="p50")
        right.bar([i + 0.2 for i in x], [b[1]["p99_ms"] for b in bars], 0.4, label="p99")
        right.set_xticks(list(x))
        right.set_xticklabels([b[0] for b in bars], rotation=40, ha="right", fontsize=8)
        right.set_yscale("log")
        right.set_ylabel("milliseconds")
        right.set_title("Latency percentiles")
        right.legend()
        right.grid(True, axis="y", which="both", alpha=0.3)
    load = results.get("machine", {}).get("load_average_start")
    fig.suptitle(
        f"make bench, {results.get('started', '')}, 2 cores, load average at start {load}", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


KIND_STYLES = {
    "rare word": "o",
    "common word": "s",
    "two words": "^",
    "two common words": "v",
    "part of a word": "d",
}


def plot_sizes(section: dict, path, title: str = "") -> None:
    """Search p99 vs chat size (big chat tier): each query kind now and before; MySQL reads beside."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    by_size = section.get("sizes", {}).get("by_size", {})
    sizes = sorted(int(s) for s in by_size)
    for kind, marker in KIND_STYLES.items():
        if not sizes or kind not in by_size[str(sizes[0])]:
            continue
        for side, style in (("now", "-"), ("before", ":")):
            values = [by_size[str(s)][kind][side]["p99_ms"] for s in sizes]
            left.plot(
                sizes, values, marker + style, label=f"{kind}, {side}", alpha=1 if side == "now" else 0.6
            )
    left.axhline(15, color="red", linestyle="--", linewidth=1, label="target p99 15 ms")
    left.set_xscale("log")
    left.set_yscale("log")
    left.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    left.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    left.tick_params(axis="y", which="minor", labelsize=7)
    left.set_xlabel("messages in the chat searched (index of 10M)")
    left.set_ylabel("p99, milliseconds (median of rounds)")
    left.set_title("Search p99 vs chat size: tiers (now) vs one scored query (before)")
    left.legend(fontsize=7, ncol=2)
    left.grid(True, which="both", alpha=0.3)
    reads = section.get("mysql", {}).get("by_size", {})
    read_sizes = sorted(int(s) for s in reads)
    for name in ("first page", "last page", "middle page", "one message"):
        if read_sizes and name in reads[str(read_sizes[0])]:
            right.plot(read_sizes, [reads[str(s)][name]["p99_ms"] for s in read_sizes], "o-", label=name)
    right.axhline(5, color="red", linestyle="--", linewidth=1, label="target p99 5 ms")
    right.set_xscale("log")
    right.set_xlabel("messages in the chat (table of 11.1M)")
    right.set_ylabel("p99, milliseconds (median of rounds)")
    right.set_title("MySQL list pages and one-message reads vs chat size")
    right.legend(fontsize=8)
    right.grid(True, which="both", alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_writers(in_process: dict, deployed: dict, path) -> None:
    """Messages/s vs writers: writers_bench's processes and drain_writers_bench's
    deployed environments, for events spread over many chats and on one hot chat."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, shape in zip(axes, ("spread", "hot"), strict=True):
        for results, source, styles in (
            (in_process, "in-process writer processes", {"": "o-"}),
            (deployed, "deployed, LocalStack", {"MaximumConcurrency": "s--", "mappings": "^:"}),
        ):
            runs = next((v for k, v in results.items() if k.startswith(shape) or shape in k), None)
            if not runs:
                continue
            for mode, style in styles.items():
                points = sorted((r["writers"], r) for r in runs if r.get("mode", "") == mode)
                if not points:
                    continue
                label = (
                    source
                    if not mode
                    else f"{source}: {mode} = n"
                    if mode != "mappings"
                    else f"{source}: n mappings"
                )
                ax.plot(
                    [n for n, _ in points],
                    [r["messages_per_s"] for _, r in points],
                    style,
                    label=label,
                )
                for n, r in points:
                    runs_per_s = r.get("messages_per_s_runs", [])
                    if runs_per_s:
                        ax.plot([n] * len(runs_per_s), runs_per_s, ".", color="grey", alpha=0.5)
        ax.set_title("events spread over 2,000 chats" if shape == "spread" else "every event on one hot chat")
        ax.set_xlabel("writers (processes, environments or mappings)")
        ax.set_xticks([1, 2, 3, 4, 5])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("messages per second (median; grey: each run)")
    fig.suptitle(
        "Writers in parallel on 2 shared cores: in-process (writers_bench) vs deployed through LocalStack "
        '(drain_writers_bench); docs/performance.md, "Writers in parallel"',
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
