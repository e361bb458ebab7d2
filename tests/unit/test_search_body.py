"""The `_bulk` body the search adapter writes out by hand is the JSON the client would write."""

import json

import pytest

from chalicelib.adapters.search.indexer import Indexer
from chalicelib.adapters.search.search_index import document as search_document
from chalicelib.domain.models import NewMessage, answer_size

BODIES = [
    "plain",
    'quote " backslash \\ slash /',
    "new\nline\ttab\r\x00\x1f",
    "ünïcödé 日本語 🙂",
    "lone \ud800 surrogate",
    '"}\n{"delete":{"_id":"1:1:1"}}',
    "{{f-string}} {0} %s",
]


@pytest.mark.parametrize("body", BODIES)
def test_each_line_decodes_to_the_action_and_document_of_the_message(body):
    search = Indexer(client=None, index='messages "odd" name')
    lines = search.bulk_lines(NewMessage(7, 3, 12, body, version=2)).split("\n")
    assert lines[2:] == [""]  # two lines, each ended by a newline
    assert [json.loads(line) for line in lines[:2]] == [
        {
            "index": {
                "_index": 'messages "odd" name',
                "_id": "7:3:12",
                "routing": "7:3",
                "version": 2,
                "version_type": "external",
            }
        },
        search_document(7, 3, 12, body),
    ]
    assert json.loads(lines[1])["answer_bytes"] == answer_size(body)
