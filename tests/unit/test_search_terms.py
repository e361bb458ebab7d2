"""What a query is made of (search_terms) and the Elasticsearch query built from it (search_query.query)."""

import pytest

from chalicelib.adapters.search import finder, search_index, search_query
from chalicelib.domain import search_terms
from chalicelib.domain.errors import BadRequest


@pytest.mark.parametrize(
    ("q", "words"),
    [
        ("hello world", ["hello", "world"]),
        ("  ok\tsee\n", ["ok", "see"]),
        ("meet at 10:30 !!", ["meet", "at", "10:30"]),
        ("北京天气 👍", ["北京天气", "👍"]),
        ("l'été — ja", ["l'été", "ja"]),
    ],
)
def test_words_are_the_runs_of_non_space_that_hold_something_to_match(q, words):
    assert search_terms.words(q) == words


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "q is required"),
        ("   ", "q is required"),
        ("?!", "nothing to search for"),
        ("*:* /.*/ -- ...", "nothing to search for"),
        (" ".join("abcdefghi"), "more than 8 words"),
        ("a" * 49, "longer than 48 characters"),
        ("a " * 200, "longer than 256 characters"),
    ],
)
def test_queries_that_cannot_be_served_or_cost_too_much_are_refused(q, message):
    with pytest.raises(BadRequest, match=message):
        search_terms.words(q)


def test_punctuation_words_do_not_count_against_the_cap():
    assert len(search_terms.words(" ".join("abcdefgh") + " - ? !")) == 8


@pytest.mark.parametrize(
    ("word", "parts"), [("A7-99", ["A7", "99"]), ("10:30", ["10", "30"]), ("हिन्दी", ["हिन्दी"]), ("👍", [])]
)
def test_parts_are_runs_of_letters_marks_and_digits(word, parts):
    assert search_terms.parts(word) == parts


def _ways(clause: dict, word: str) -> dict:
    """{field: score} of the ways a word's clause can match."""
    queries = clause["dis_max"]["queries"] if "dis_max" in clause else [clause]
    out = {}
    for q in queries:
        inner = q["constant_score"]["filter"]
        if "bool" in inner:  # inside a word, unless the whole word matches
            assert inner["bool"]["must_not"] == [{"match_phrase": {"body": word}}]
            [inner] = inner["bool"]["filter"]
        (kind,) = inner
        (field,) = inner[kind]
        out[field] = q["constant_score"]["boost"]
    return out


@pytest.mark.parametrize(
    ("word", "ways"),
    [
        ("hello", {"body": search_query.WHOLE, "body.grams": search_query.INFIX}),
        ("ok", {"body": search_query.WHOLE, "body.prefix": search_query.PREFIX}),
        ("I", {"body": search_query.WHOLE}),
        ("北京", {"body": search_query.WHOLE}),
        ("10:30", {"body": search_query.WHOLE}),  # a part under three characters has no trigram
        ("10:300", {"body": search_query.WHOLE}),
        ("example.com", {"body": search_query.WHOLE, "body.grams": search_query.INFIX}),
        ("👍", {"body": search_query.WHOLE}),
    ],
)
def test_each_word_matches_as_whole_words_a_two_character_start_or_inside_a_word(word, ways):
    [clause] = search_query.query(1, 2, [word])["bool"]["must"]
    assert _ways(clause, word) == ways


def test_whole_words_outrank_a_start_which_outranks_the_inside_of_a_word():
    assert search_query.WHOLE > search_query.PREFIX > search_query.INFIX > 0 < search_query.PHRASE


def test_the_query_is_filtered_to_the_chat_and_adds_the_phrase_of_several_words():
    one = search_query.query(7, 3, ["hello"])["bool"]
    assert one["filter"] == [{"term": {"application_id": 7}}, {"term": {"chat_number": 3}}]
    assert "should" not in one
    two = search_query.query(7, 3, ["hello", "world"])["bool"]
    assert len(two["must"]) == 2
    assert two["should"] == [
        {
            "constant_score": {
                "filter": {"match_phrase": {"body": "hello world"}},
                "boost": search_query.PHRASE,
            }
        }
    ]
    assert "should" not in search_query.query(7, 3, ["a", "b", "c", "d", "e"])["bool"]


def test_a_chat_is_routed_to_one_shard_by_its_key():
    assert search_index.routing(7, 3) == "7:3"
    assert search_index.index_body(4)["settings"]["number_of_shards"] == 4
    assert search_index.index_body()["mappings"]["_routing"] == {"required": True}


def test_highlights_come_from_the_field_that_marked_most_whole_words_first():
    marked = {
        "body": ["<em>hello</em> world"],
        "body.grams": ["<em>hello</em> <em>wor</em>ld"],
        "body.prefix": ["<em>hello</em>"],
    }
    assert finder.fragments(marked) == ["<em>hello</em> <em>wor</em>ld"]
    assert finder.fragments({**marked, "body.grams": ["<em>hello</em>"]}) == ["<em>hello</em> world"]
    assert finder.fragments({}) == []
