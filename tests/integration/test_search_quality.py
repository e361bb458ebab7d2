"""Search quality: a multilingual chat, the queries people type, what each must and must not find.

Prints recall (of the messages each query must find, the share found) and precision (of the
judged messages found, the share that should be), overall and per class. Recall must be at least
0.98 and no query may find a message it must not.
"""

import json
from collections import defaultdict
from urllib.parse import quote

from tests.integration.conftest import JSON
from tests.integration.search_corpus import CASES, MESSAGES

MIN_RECALL = 0.98


def test_the_corpus_queries_find_what_they_must_and_nothing_they_must_not(
    client, application, writer, capsys
):
    chat = f"/applications/{application['token']}/chats"
    assert client.http.post(chat).status_code == 201
    number_of = {}
    for key, body in MESSAGES.items():
        response = client.http.post(f"{chat}/1/messages", headers=JSON, body=json.dumps({"body": body}))
        number_of[key] = json.loads(response.body)["number"]
    writer.drain()
    key_of = {n: k for k, n in number_of.items()}

    per_class = defaultdict(lambda: [0, 0, 0, 0])  # must, found of must, judged found, wrongly found
    misses, false_positives = [], []
    for cls, q, must, must_not in CASES:
        response = client.http.get(f"{chat}/1/messages/search?q={quote(q)}&limit=100")
        assert response.status_code == 200, (q, response.body)
        found = {key_of[m["number"]] for m in json.loads(response.body)}
        counts = per_class[cls.rstrip(" †")]
        counts[0] += len(must)
        counts[1] += len(must & found)
        counts[2] += len((must | must_not) & found)
        counts[3] += len(must_not & found)
        misses += [(q, key) for key in must - found]
        false_positives += [(q, key) for key in must_not & found]

    total = [sum(c[i] for c in per_class.values()) for i in range(4)]
    with capsys.disabled():
        print(f"\nsearch quality: {len(CASES)} queries over {len(MESSAGES)} messages")
        for cls, c in [*per_class.items(), ("all", total)]:
            recall = c[1] / c[0] if c[0] else 1.0
            precision = (c[2] - c[3]) / c[2] if c[2] else 1.0
            print(
                f"  {cls:<24} recall {recall:.3f} ({c[1]}/{c[0]})  precision {precision:.3f}  false +{c[3]}"
            )
    assert total[1] / total[0] >= MIN_RECALL, f"missed: {misses}"
    assert false_positives == [], f"found what they must not: {false_positives}"
