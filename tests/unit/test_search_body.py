"""The `_bulk` body the search adapter writes out by hand is the JSON the client would write."""

import json

import pytest

from chalicelib.adapters.search.indexer import Indexer
from chalicelib.adapters.search.search_index import document as search_document
from chalicelib.domain.models import Author, NewMessage, answer_size

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


@pytest.mark.parametrize("body", BODIES)
def test_a_message_with_its_times_and_author_decodes_to_its_document(body):
    author = Author(body, f'{body} 🙂 "name"')
    message = NewMessage(7, 3, 12, body, created_at_ms=1_765_000_000_123, author=author, edited_at_ms=5)
    lines = Indexer(client=None, index="messages").bulk_lines(message).split("\n")
    assert lines[2:] == [""]
    assert json.loads(lines[1]) == search_document(7, 3, 12, body, 1_765_000_000_123, 5, author)
    assert lines[1].isascii()  # its length counts its bytes (MAX_BULK_BYTES)
