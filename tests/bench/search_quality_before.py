"""The search-quality corpus (tests/integration/search_corpus.py) against the adapter of before and now.

The search adapter of a commit (default a3c4d9c, trigrams only) is read with `git show` and
loaded beside today's; each indexes the corpus into an index of its own mapping, and every case is
run through both `find`s. Prints recall and false positives per class, before and now.

    PYTHONPATH=functions .local/venvs/app/bin/python -m tests.bench.search_quality_before [--commit a3c4d9c]
"""

import argparse
import importlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

from elasticsearch import Elasticsearch

from chalicelib.adapters.search import search_index
from chalicelib.adapters.search.finder import Finder
from chalicelib.adapters.search.indexer import Indexer
from chalicelib.domain import search_terms
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import NewMessage
from tests.bench import common
from tests.integration.search_corpus import CASES, MESSAGES


def adapter_of(commit: str):
    """The search adapter module as it was at `commit`: that commit's chalicelib is imported as a
    package of its own (chalicelib_<commit>), so the module's relative imports find their peers."""
    name = f"chalicelib_{commit}"
    if f"{name}.search" not in sys.modules:
        archive = subprocess.run(
            ["git", "-C", str(common.ROOT), "archive", commit, "functions/chalicelib"],
            capture_output=True,
            check=True,
        ).stdout
        root = Path(tempfile.mkdtemp())
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
        (root / "functions" / "chalicelib").rename(root / name)
        sys.path.insert(0, str(root))
    return importlib.import_module(f"{name}.search")


def _score(find) -> dict:
    keys = list(MESSAGES)
    per_class: defaultdict[str, list[int]] = defaultdict(
        lambda: [0, 0, 0]
    )  # must, found of must, wrongly found
    for cls, q, must, must_not in CASES:
        try:
            found = {keys[m.number - 1] for m in find(q)}
        except BadRequest:
            found = set()
        counts = per_class[cls.rstrip(" †")]
        counts[0] += len(must)
        counts[1] += len(must & found)
        counts[2] += len(must_not & found)
    return dict(per_class)


def run(commit: str = "a3c4d9c") -> dict:
    es = Elasticsearch(common.ES_URL, request_timeout=60)
    before = adapter_of(commit)
    now_index, before_index = "bench-quality-now", "bench-quality-before"
    messages = [NewMessage(1, 1, n, body) for n, body in enumerate(MESSAGES.values(), 1)]
    for index, body in ((now_index, search_index.index_body()), (before_index, before.INDEX_BODY)):
        es.indices.delete(index=index, ignore_unavailable=True)
        es.indices.create(index=index, **body)
    now_search, before_search = Finder(es, now_index), before.Search(es, before_index)
    assert Indexer(es, now_index).index(messages) == {} and before_search.index(messages) == {}
    es.indices.refresh(index=[now_index, before_index])
    out = {
        "before": _score(lambda q: before_search.find(1, 1, q, 100)),
        "now": _score(lambda q: now_search.find(1, 1, search_terms.words(q), 100).messages),
    }
    es.indices.delete(index=[now_index, before_index])
    for side, classes in out.items():
        total = [sum(c[i] for c in classes.values()) for i in range(3)]
        print(
            f"{side} ({commit if side == 'before' else 'this tree'}): recall {total[1] / total[0]:.3f} "
            f"({total[1]}/{total[0]}), false positives {total[2]}"
        )
        for cls, c in classes.items():
            print(f"  {cls:<24} {c[1]}/{c[0]} found, {c[2]} false +")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--commit", default="a3c4d9c")
    result = run(parser.parse_args().commit)
    print(json.dumps(result))
