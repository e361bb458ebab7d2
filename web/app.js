// The chat client: one page, no build step. Message bodies are text and only ever reach the page
// through textContent; search highlights are split on their <em> tags and rebuilt as <mark> nodes.
"use strict";

const API = (window.CHAT_CONFIG && window.CHAT_CONFIG.apiUrl || "").replace(/\/$/, "");
const SOCKET = window.CHAT_CONFIG && window.CHAT_CONFIG.socketUrl || "";
const PAGE_SIZE = 50;
// Above any message number: `before` it is the newest page.
const NEWEST = 2147483647;
// Each read of what is new re-reads this many of the latest messages too, for their edits.
const EDIT_WINDOW = 20;
const POLL_FASTEST_MS = 1000;
const POLL_IDLE_MS = 10000;
const RETRY_LONGEST_MS = 30000;

const $ = (id) => document.getElementById(id);
// The person's user token (never the application's: that stays on the application's server)
// lives in this tab's sessionStorage, gone when the tab closes, unless the person ticked
// "remember on this device": then in localStorage, for every tab of this browser.
const KEPT = ["chat.token", "chat.chat"];
const remembered = () => localStorage.getItem("chat.token") !== null;
const kept = () => (remembered() ? localStorage : sessionStorage);
const state = {
  token: kept().getItem("chat.token"),
  me: null, // {id, name, expires} read from the token: what the page shows, never trusted by the API
  chat: null,
  readUpTo: {}, // per chat, the position this tab last told the API
  unread: {}, // per chat, its unread count
  nextChats: null,
  olderMessages: null,
  lastNumber: 0,
  // The open chat's change feed position this page has applied (null: no feed to read).
  position: null,
  // Changes of messages above the oldest one shown, by number: shown when "load older" is.
  later: {},
  // The socket follows the open chat: what changes is pushed, and nothing is polled.
  live: false,
  reading: false,
  readAgain: false,
  pollDelay: POLL_FASTEST_MS,
  pollTimer: null,
  polling: false,
};

// -- the API -------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

async function api(method, path, { body, key } = {}) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  let response;
  try {
    response = await fetch(API + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", referrerPolicy: "no-referrer", credentials: "omit",
    });
  } catch (err) {
    throw new ApiError(0, "cannot reach the API", null);
  }
  const retryAfter = Number(response.headers.get("Retry-After")) || null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const err = new ApiError(response.status, (data && (data.message || data.Message)) || response.statusText, retryAfter);
    if (response.status === 401) signOut(`Signed out: ${err.message}`);
    throw err;
  }
  return { data, link: nextLink(response), location: response.headers.get("Location") };
}

// `<https://…/messages?after=50&limit=50>; rel="next"` (or a backwards page's `before=…; rel="prev"`) -> the query to ask next,
// or null on the last page. Only the query is taken: the page keeps to its own API address.
function nextLink(response) {
  const match = /<([^>]*)>;\s*rel="(?:next|prev)"/.exec(response.headers.get("Link") || "");
  return match ? new URL(match[1], response.url).search.slice(1) : null;
}

const chatPath = (n = state.chat) => `/chats/${n}`;

// -- status and retries --------------------------------------------------------------------------

function setStatus(text, kind = "idle") {
  const status = $("status");
  status.textContent = text;
  status.dataset.state = kind;
}

function retryDelay(err, previous) {
  if (err.retryAfter) return err.retryAfter * 1000;
  return Math.min(Math.max(previous * 2, 2000), RETRY_LONGEST_MS);
}

function describe(err) {
  if (err.status === 0) return "Cannot reach the chat service";
  if (err.status === 429) return "Too many requests";
  if (err.status === 503) return "The chat service is busy";
  return err.message;
}

// -- signing in ---------------------------------------------------------------------------------

// What the token says of its holder (its middle part, base64url JSON). Shown, never trusted: the
// API checks the signature.
function readToken(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(decodeURIComponent(escape(atob(part))));
    return { id: String(claims.sub), name: String(claims.name), expires: Number(claims.exp) * 1000 };
  } catch (err) {
    return null;
  }
}

async function signIn(token) {
  const me = readToken(token);
  if (!me) throw new ApiError(400, "That is not a user token", null);
  if (me.expires < Date.now()) throw new ApiError(401, "That token has expired: ask for a new one", null);
  state.token = token;
  await api("GET", "/chats?limit=1"); // the API says whether it is good
  forget();
  ($("remember").checked ? localStorage : sessionStorage).setItem("chat.token", token);
  showWorkspace();
}

function forget() {
  KEPT.forEach((key) => { localStorage.removeItem(key); sessionStorage.removeItem(key); });
}

function signOut(why = "") {
  stopPolling();
  live.stop();
  forget();
  Object.assign(state, { token: null, me: null, chat: null, readUpTo: {}, unread: {} });
  $("workspace").hidden = true;
  $("start").hidden = false;
  $("start-error").textContent = why;
  setStatus("");
  showUnreadTotal();
  $("user-token-input").focus();
}

function showWorkspace() {
  state.me = readToken(state.token);
  if (!state.me) return signOut("That is not a user token");
  live.start(state.token);
  $("start").hidden = true;
  $("workspace").hidden = false;
  $("me-display").textContent = state.me.name;
  loadChats().then(() => {
    const saved = Number(kept().getItem("chat.chat"));
    if (saved) openChat(saved);
  });
}

// -- chats ---------------------------------------------------------------------------------------

async function loadChats(more = false) {
  try {
    const query = more && state.nextChats ? state.nextChats : `limit=${PAGE_SIZE}`;
    const { data, link } = await api("GET", `/chats?${query}`);
    if (!more) $("chat-list").replaceChildren();
    data.forEach((chat) => {
      addChatButton(chat.number);
      if (chat.unread_count !== undefined) showUnread(chat.number, chat.unread_count);
    });
    state.nextChats = link;
    $("more-chats").hidden = !link;
  } catch (err) {
    setStatus(`${describe(err)}: chats not loaded`, "error");
  }
}

function addChatButton(number) {
  if (document.querySelector(`#chat-list [data-chat="${number}"]`)) return;
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.chat = number;
  const label = document.createElement("span");
  label.textContent = `Chat ${number}`;
  const badge = document.createElement("span");
  badge.className = "unread";
  button.append(label, badge);
  button.addEventListener("click", () => openChat(number));
  if (number === state.chat) button.setAttribute("aria-current", "true");
  item.append(button);
  $("chat-list").append(item);
  showUnread(number, state.unread[number] || 0);
}

// -- unread counts: per chat in the list, their sum in the tab's title -----------------------------

function showUnread(number, count) {
  state.unread[number] = count;
  const button = document.querySelector(`#chat-list [data-chat="${number}"]`);
  if (button) {
    const badge = button.querySelector(".unread");
    badge.textContent = count ? String(count) : "";
    button.setAttribute("aria-label", `Chat ${number}${count ? `, ${count} unread` : ""}`);
  }
  showUnreadTotal();
}

function showUnreadTotal() {
  const total = Object.values(state.unread).reduce((a, b) => a + b, 0);
  document.title = total ? `(${total}) Chat` : "Chat";
}

// Tells the API this person has read the open chat up to its newest message shown, while the
// tab is in view; the answer's count is what is left (new messages may have come meanwhile).
async function markRead() {
  const chat = state.chat;
  const upTo = state.lastNumber;
  if (chat === null || document.hidden || upTo <= (state.readUpTo[chat] || 0)) return;
  state.readUpTo[chat] = upTo;
  try {
    const { data } = await api("PUT", `${chatPath(chat)}/read`, { body: { up_to: upTo } });
    showUnread(chat, data.unread_count);
  } catch (err) {
    state.readUpTo[chat] = 0; // told again at the next change
  }
}

async function newChat() {
  try {
    const { data } = await api("POST", "/chats");
    addChatButton(data.number);
    openChat(data.number);
  } catch (err) {
    setStatus(`${describe(err)}: no chat created. Try again${err.retryAfter ? ` in ${err.retryAfter} s` : ""}.`, "error");
  }
}

async function openChat(number) {
  stopPolling();
  closeSearch();
  Object.assign(state, { chat: number, lastNumber: 0, olderMessages: null, live: false, position: null, later: {} });
  setStatus("Opening…");
  kept().setItem("chat.chat", String(number));
  document.querySelectorAll("#chat-list button").forEach((b) => {
    if (Number(b.dataset.chat) === number) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  });
  addChatButton(number);
  $("chat-title").textContent = `Chat ${number}`;
  $("messages").replaceChildren();
  $("search-form").hidden = false;
  $("composer").hidden = false;
  state.position = await feedPosition(number);
  await loadNewest();
  live.follow(number);
  if (!state.live) schedulePoll(POLL_FASTEST_MS); // until the socket says it follows the chat
  $("composer-body").focus();
}

// -- messages ------------------------------------------------------------------------------------

// The chat opens at its newest messages; older ones load above on request.
async function loadNewest() {
  const chat = state.chat;
  try {
    const { data, link } = await api("GET", `${chatPath()}/messages?before=${NEWEST}&limit=${PAGE_SIZE}`);
    if (chat !== state.chat) return;
    data.forEach(showMessage);
    $("messages").scrollTop = $("messages").scrollHeight;
    showOlderButton(link);
    markRead();
  } catch (err) {
    if (chat !== state.chat) return;
    if (err.status === 404) setStatus(`Chat ${chat} does not exist (yet)`, "error");
    else setStatus(`${describe(err)}: messages not loaded`, "retrying");
  }
}

async function loadOlder() {
  const chat = state.chat;
  const list = $("messages");
  try {
    const { data, link } = await api("GET", `${chatPath()}/messages?${state.olderMessages}`);
    if (chat !== state.chat) return;
    // Keep what the reader looks at in place while messages are added above it.
    const fromBottom = list.scrollHeight - list.scrollTop;
    data.forEach((m) => showMessage(newerOf(m, state.later[m.number])));
    list.scrollTop = list.scrollHeight - fromBottom;
    showOlderButton(link);
  } catch (err) {
    setStatus(`${describe(err)}: older messages not loaded`, err.retryable ? "retrying" : "error");
  }
}

function showOlderButton(link) {
  state.olderMessages = link;
  $("older-messages").hidden = !link;
}

function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

function schedulePoll(delay) {
  stopPolling();
  state.pollDelay = delay;
  state.pollTimer = setTimeout(poll, delay);
}

// What changed since the page last read: from the chat's change feed (every create, edit and
// delete after `state.position`, once each); where there is no feed position, the messages after
// the last one shown and the latest few again for their edits. True if the page changed. One
// read at a time: a push during a read makes it read once more after.
async function readNew() {
  const chat = state.chat;
  if (state.reading) {
    state.readAgain = true;
    return false;
  }
  state.reading = true;
  let changed = false;
  try {
    do {
      state.readAgain = false;
      changed = (state.position === null ? await readList(chat) : await readFeed(chat)) || changed;
    } while (state.readAgain && chat === state.chat);
  } finally {
    state.reading = false;
  }
  if (changed) markRead();
  return changed;
}

async function readFeed(chat) {
  let changed = false;
  for (let pages = 0, more = true; more && pages < 20 && chat === state.chat; pages++) {
    const { data } = await api("GET", `${chatPath(chat)}/changes?since=${state.position}&limit=100`);
    if (chat !== state.chat) return changed;
    changed = applyChanges(data.changes, data.next_since) || changed;
    more = data.changes.length === 100;
  }
  return changed;
}

// Applies changes of the open chat's feed up to `position`, each once: a frame may have applied
// some while a read was under way, so only those past the page's position count, and the
// position never goes back. True if the page changed.
function applyChanges(changes, position) {
  let changed = false;
  changes.forEach((c) => {
    if (c.position > state.position) changed = showChange(c.message) || changed;
  });
  state.position = Math.max(state.position, position);
  return changed;
}

// A message above the oldest one shown, while older ones are still to load, is kept for when
// "load older" shows it (the list read may be older than this change).
function showChange(message) {
  const oldest = Math.min(...[...$("messages").children].map((li) => Number(li.dataset.number) || Infinity));
  if (state.olderMessages && message.number < oldest) {
    state.later[message.number] = newerOf(message, state.later[message.number]);
    return false;
  }
  return showMessage(message);
}

// The later of two versions of a message (either may be missing): a deletion is final, and an
// edit later than another.
function newerOf(a, b) {
  const rank = (m) => (m.deleted_at ? Infinity : m.edited_at ? Date.parse(m.edited_at) : 0);
  if (!a || !b) return a || b;
  return rank(b) > rank(a) ? b : a;
}

async function readList(chat) {
  let changed = false;
  let query = `after=${Math.max(0, state.lastNumber - EDIT_WINDOW)}&limit=100`;
  for (let pages = 0; query && pages < 10 && chat === state.chat; pages++) {
    const { data, link } = await api("GET", `${chatPath(chat)}/messages?${query}`);
    if (chat !== state.chat) return changed;
    data.forEach((m) => { changed = showMessage(m) || changed; });
    query = link;
  }
  return changed;
}

// Where the chat's feed is now, read before its newest messages are: whatever changes after it
// shows on the next read. Null where the API has no feed (the page reads the list instead).
async function feedPosition(chat) {
  try {
    const { data } = await api("GET", `${chatPath(chat)}/changes?since=0&limit=1`);
    return typeof data.last === "number" ? data.last : null;
  } catch (err) {
    return null;
  }
}

// -- live updates: pushed while the socket is up, polled while it is down ------------------------

const live = createLive(SOCKET, {
  // The socket follows the chat: read what came meanwhile, then only what is pushed.
  socketUp(chat) {
    if (chat !== state.chat) return;
    state.live = true;
    stopPolling();
    setStatus("Live", "live");
    readNew().catch(() => socketDown());
  },
  // A frame that carries its changes from the page's position or before is applied as it is;
  // any other (a notice, or a gap: a frame was missed) reads the feed.
  changed(frame) {
    if (frame.chat !== state.chat || !state.live) return;
    if (state.position !== null && frame.position <= state.position) return; // applied already
    if (frame.changes && state.position !== null && frame.since <= state.position) {
      if (applyChanges(frame.changes, frame.position)) markRead();
      return;
    }
    readNew().catch(() => {});
  },
  // A message just accepted, ahead of its change in the feed: shown unless the page has it
  // already as the feed or a list answered it (its edit or deletion may have come first).
  accepted(message) {
    if (!state.live) return;
    const item = messageItem(message.number);
    if (item && item.dataset.state === "") return;
    if (showChange(message)) markRead();
  },
  socketDown() {
    state.live = false;
    if (state.chat === null) return;
    setStatus("Reconnecting… checking for new messages meanwhile", "retrying");
    schedulePoll(POLL_FASTEST_MS);
  },
});

// While the socket is down: new messages and recent edits, less and less often in a quiet chat;
// any change, or the person typing, brings the pace back.
async function poll() {
  const chat = state.chat;
  if (chat === null || state.live) return;
  let delay;
  try {
    const changed = await readNew();
    delay = changed ? POLL_FASTEST_MS : Math.min(state.pollDelay * 1.5, POLL_IDLE_MS);
    if (!state.live) setStatus(`Checking every ${Math.round(delay / 1000)} s`, "polling");
  } catch (err) {
    delay = retryDelay(err, state.pollDelay);
    setStatus(`${describe(err)}: retrying in ${Math.round(delay / 1000)} s`, "retrying");
  }
  if (chat === state.chat && !state.live) schedulePoll(delay);
}

function pickUpPace() {
  if (state.chat !== null && !state.live && state.pollDelay > POLL_FASTEST_MS) schedulePoll(POLL_FASTEST_MS);
}

function messageItem(number) {
  return document.querySelector(`#messages [data-number="${number}"]`);
}

const isDeleted = (message) => Boolean(message.deleted_at);
const TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// "Ana · 7 Dec 2026, 05:10 · edited": who wrote it (the token's name at the time) and when.
function describeMessage(message) {
  const who = message.author ? (message.author.id === state.me.id ? "You" : message.author.name) : "The application";
  const parts = [who];
  if (message.created_at) parts.push(TIME.format(new Date(message.created_at)));
  if (message.edited_at && !isDeleted(message)) parts.push("edited");
  return parts.join(" · ");
}

// Shows or updates one persisted message; true if the page changed.
function showMessage(message) {
  state.lastNumber = Math.max(state.lastNumber, message.number);
  const seen = JSON.stringify([message.body, message.edited_at, message.deleted_at, message.author]);
  let item = messageItem(message.number);
  if (item && item.dataset.state === "" && item.dataset.seen === seen) return false;
  if (item && item.classList.contains("editing")) return false;
  if (!item) {
    takeDraftOf(message);
    item = insertItem(message.number);
  }
  item.dataset.state = "";
  item.dataset.seen = seen;
  const mine = Boolean(message.author && message.author.id === state.me.id);
  item.classList.toggle("mine", mine);
  item.classList.toggle("deleted", isDeleted(message));
  item.querySelector(".meta").textContent = describeMessage(message);
  item.querySelector(".body").textContent = isDeleted(message) ? "This message was deleted" : message.body;
  item.querySelector(".note").textContent = "";
  // Only its author may change a message (the API says so too): the buttons show on theirs.
  item.querySelectorAll(".own").forEach((b) => { b.hidden = !mine || isDeleted(message); });
  return true;
}

// One's own message can show (pushed, or read from the feed) before the answer to its send
// does: it takes the place of its draft, so that it never shows twice.
function takeDraftOf(message) {
  if (!message.author || message.author.id !== state.me.id) return;
  const draft = [...$("messages").children].find((li) => ["sending", "retrying"].includes(li.dataset.state)
    && !li.dataset.number && li.querySelector(".body").textContent === message.body);
  if (draft) draft.remove();
}

// Keeps the newest message in view, unless the reader has scrolled up to read older ones.
function appendKeepingBottom(list, item, before = null) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.insertBefore(item, before);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function insertItem(number) {
  const item = document.createElement("li");
  item.className = "message";
  item.dataset.number = number;
  const meta = document.createElement("span");
  meta.className = "meta";
  const body = document.createElement("p");
  body.className = "body";
  const note = document.createElement("span");
  note.className = "note";
  const edit = ownButton("edit", "Edit", `Edit message ${number}`, () => startEdit(item));
  const remove = ownButton("delete", "Delete", `Delete message ${number}`, () => deleteMessage(item));
  item.append(meta, body, note, edit, remove);
  const later = [...$("messages").children].find((li) => Number(li.dataset.number) > number);
  appendKeepingBottom($("messages"), item, later || null);
  return item;
}

function ownButton(kind, text, label, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `${kind} own link`;
  button.textContent = text;
  button.hidden = true;
  button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

async function deleteMessage(item) {
  const number = item.dataset.number;
  if (!window.confirm(`Delete message ${number}? Everyone will see that it was deleted.`)) return;
  try {
    const { data } = await api("DELETE", `${chatPath()}/messages/${number}`);
    showMessage(data);
    setStatus("Deleted", "live");
    pickUpPace();
  } catch (err) {
    setStatus(`Not deleted: ${describe(err)}`, err.retryable ? "retrying" : "error");
  }
}

// Posts a message; a 429, a 503 or a lost connection is retried with the same Idempotency-Key.
async function send(body) {
  const chat = state.chat;
  const key = crypto.randomUUID();
  const draft = document.createElement("li");
  draft.className = "message mine";
  draft.dataset.state = "sending";
  const text = document.createElement("p");
  text.className = "body";
  text.textContent = body;
  const note = document.createElement("span");
  note.className = "note";
  note.textContent = "Sending…";
  draft.append(text, note);
  appendKeepingBottom($("messages"), draft);
  $("messages").scrollTop = $("messages").scrollHeight;
  let wait = 1000;
  for (;;) {
    try {
      const { data } = await api("POST", `${chatPath(chat)}/messages`, { body: { body }, key });
      draft.remove();
      if (chat !== state.chat) return;
      const item = messageItem(data.number) || insertItem(data.number);
      if (item.dataset.state !== "") {
        item.dataset.state = "pending";
        item.classList.add("mine");
        item.querySelector(".meta").textContent = "You";
        item.querySelector(".body").textContent = body;
        item.querySelector(".note").textContent = "Sent";
      }
      setStatus("Sent", "live");
      pickUpPace();
      return;
    } catch (err) {
      if (!err.retryable) {
        draft.dataset.state = "failed";
        note.textContent = `Not sent: ${err.message}`;
        setStatus(`Not sent: ${err.message}`, "error");
        return;
      }
      wait = retryDelay(err, wait);
      draft.dataset.state = "retrying";
      note.textContent = `${describe(err)} — retrying in ${Math.round(wait / 1000)} s`;
      setStatus(`${describe(err)}: your message will be retried in ${Math.round(wait / 1000)} s`, "retrying");
      await new Promise((resolve) => setTimeout(resolve, wait));
      note.textContent = "Sending again…";
    }
  }
}

function startEdit(item) {
  if (item.classList.contains("editing")) return;
  item.classList.add("editing");
  const body = item.querySelector(".body");
  const form = document.createElement("form");
  form.className = "edit-form";
  const label = document.createElement("label");
  label.className = "visually-hidden";
  label.textContent = `New text of message ${item.dataset.number}`;
  const input = document.createElement("textarea");
  input.value = body.textContent;
  input.rows = 2;
  input.id = label.htmlFor = `edit-${item.dataset.number}`;
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = "Save";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "secondary";
  cancel.textContent = "Cancel";
  form.append(label, input, save, cancel);
  item.append(form);
  input.focus();
  const close = () => {
    form.remove();
    item.classList.remove("editing");
    item.querySelector(".edit").focus();
  };
  cancel.addEventListener("click", close);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") close();
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!input.value.trim()) return;
    save.disabled = true;
    try {
      const { data } = await api("PATCH", `${chatPath()}/messages/${item.dataset.number}`, { body: { body: input.value } });
      close();
      body.textContent = data.body;
      item.querySelector(".note").textContent = "Edited";
      setStatus("Edited", "live");
    } catch (err) {
      save.disabled = false;
      setStatus(`Not saved: ${describe(err)}${err.retryable ? " — try again" : ""}`, err.retryable ? "retrying" : "error");
    }
  });
}

// -- search --------------------------------------------------------------------------------------

async function search(q) {
  const panel = $("search-panel");
  const results = $("search-results");
  try {
    const { data } = await api("GET", `${chatPath()}/messages/search?q=${encodeURIComponent(q)}&limit=20`);
    results.replaceChildren();
    panel.hidden = false;
    $("search-heading").textContent = data.length ? `${data.length} found for “${q}”` : `Nothing found for “${q}”`;
    data.forEach((m) => {
      const item = document.createElement("li");
      item.className = "message";
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = `#${m.number}`;
      const body = document.createElement("p");
      body.className = "body";
      body.append(...highlighted(m.highlight && m.highlight.length ? m.highlight.join(" … ") : null, m.body));
      item.append(meta, body);
      results.append(item);
    });
  } catch (err) {
    setStatus(`Search failed: ${describe(err)}`, err.retryable ? "retrying" : "error");
  }
}

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": "\"", "&#x27;": "'", "&#x2F;": "/", "&#39;": "'" };

// The highlight is HTML-escaped text with <em> around matches (Elasticsearch's html encoder): it
// becomes text nodes and <mark> elements, never markup.
function highlighted(fragment, body) {
  if (fragment === null) return [document.createTextNode(body)];
  const decode = (s) => s.replace(/&(amp|lt|gt|quot|#x27|#x2F|#39);/g, (e) => ENTITIES[e]);
  return fragment.split(/(<em>.*?<\/em>)/s).filter(Boolean).map((part) => {
    const match = /^<em>(.*)<\/em>$/s.exec(part);
    if (!match) return document.createTextNode(decode(part));
    const mark = document.createElement("mark");
    mark.textContent = decode(match[1]);
    return mark;
  });
}

function closeSearch() {
  $("search-panel").hidden = true;
  $("search-results").replaceChildren();
}

// -- wiring --------------------------------------------------------------------------------------

function on(id, event, handler) {
  $(id).addEventListener(event, handler);
}

on("sign-in-form", "submit", async (e) => {
  e.preventDefault();
  const token = $("user-token-input").value.trim();
  try {
    await signIn(token);
    $("user-token-input").value = "";
  } catch (err) {
    state.token = null;
    $("start-error").textContent = `Not signed in: ${describe(err)}`;
  }
});
on("leave", "click", () => signOut());
on("new-chat", "click", newChat);
on("refresh-chats", "click", () => loadChats());
on("more-chats", "click", () => loadChats(true));
on("older-messages", "click", loadOlder);
on("composer", "submit", (e) => {
  e.preventDefault();
  const body = $("composer-body").value;
  if (!body.trim()) return;
  $("composer-body").value = "";
  send(body);
});
on("composer-body", "keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
});
on("composer-body", "input", pickUpPace);
on("search-form", "submit", (e) => {
  e.preventDefault();
  search($("search-q").value);
});
on("search-close", "click", () => { closeSearch(); $("search-q").focus(); });
document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  pickUpPace();
  markRead();
});

if (!API) {
  setStatus("config.js names no API: deploy with `make up`, or serve with `make web`", "error");
} else if (state.token) {
  showWorkspace();
} else {
  $("start").hidden = false;
}
