"""Hostile values mixed into schemathesis' generated requests: `fuzz.py` loads this module through
SCHEMATHESIS_HOOKS. Each class answered 500 once (docs/security.md); now each must be a 4xx.

- numbers of thousands of digits in path segments and in `after` / `limit` (int()'s limit);
- text with lone UTF-16 surrogates, U+FFFE/U+FFFF, emoji and control characters in JSON bodies
  (JSON escapes carry what UTF-8 cannot; requests cannot put a lone surrogate in a URL);
- percent-encodings that are not UTF-8 and fullwidth digits in path segments.
"""

import schemathesis
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

# All invalid: a hook must not turn schemathesis' negative cases into valid ones (5,000 leading
# zeros before a 1 are a valid 1, tests/unit/test_hostile_requests.py has that case).
HUGE_NUMBERS = ["9" * 5000, "1" + "0" * 4301, "0" * 5000 + "2147483648", "2147483648", "-0"]
ODD_SEGMENTS = ["%ED%A0%80", "%FF%FE", "%EF%BC%91", "1%00", "%F0%9F%99%82"]
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud83d", "\ufffe\uffff", "🙂" * 16383, "\x01" * 43690]),
    # Any code point at all, surrogates, private use and unassigned included.
    st.text(st.characters(codec=None, categories=["Cs", "Co", "Cn", "Cc", "Cf", "Lo", "So"]), min_size=1),
)


@schemathesis.hook
def flatmap_body(context, body):
    # Only a body the spec allows: schemathesis judges a case by what it generated, before this
    # hook, so hostile text in an invalid body (`"body": null`) would be a valid request judged
    # as invalid ("schema-violating request accepted").
    if not isinstance(body, dict) or not _valid_body(context, body):
        return st.just(body)
    hostile = st.builds(
        lambda field, text: {**body, field: text}, st.sampled_from(["name", "body"]), HOSTILE_TEXT
    )
    return st.one_of(st.just(body), hostile)


def _valid_body(context, body: dict) -> bool:
    declared = context.operation.get_body_for_media_type("application/json") if context.operation else None
    return declared is not None and Draft202012Validator(declared.validation_schema).is_valid(body)


@schemathesis.hook
def flatmap_path_parameters(context, parameters):
    numbered = [k for k in ("number", "message_number") if k in (parameters or {})]
    if not numbered:
        return st.just(parameters)
    hostile = st.builds(
        lambda key, value: {**parameters, key: value},
        st.sampled_from(numbered),
        st.sampled_from(HUGE_NUMBERS + ODD_SEGMENTS),
    )
    return st.one_of(st.just(parameters), hostile)


@schemathesis.hook
def flatmap_query(context, query):
    if not isinstance(query, dict) or not ({"after", "limit", "q"} & set(query)):
        return st.just(query)
    hostile = st.builds(
        lambda key, value: {**query, key: value},
        st.sampled_from(["after", "limit"]),
        st.sampled_from(HUGE_NUMBERS),
    )
    return st.one_of(st.just(query), hostile)
