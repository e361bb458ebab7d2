// The live socket (docs/asyncapi.yaml): follows the open chat, hands the page each change frame
// of that chat (page.changed) and each message the moment it was accepted (page.accepted), and
// reconnects with backoff when the socket drops. It renders
// nothing and calls no HTTP route: the page applies what a frame carries or reads the feed, and
// polls only while the socket is down (page.socketDown / page.socketUp).
"use strict";

const LIVE_RETRY_FIRST_MS = 500;
const LIVE_RETRY_LONGEST_MS = 30000;
// API Gateway closes a socket after 10 minutes without a client frame; each ping is a billed
// message and an invocation (docs/deploy-aws.md, "Live delivery"), so as few as keep it open.
const LIVE_PING_MS = 8 * 60 * 1000;

function createLive(url, page) {
  const live = { socket: null, token: null, chat: null, retry: LIVE_RETRY_FIRST_MS, timer: null, ping: null, up: false };

  function open() {
    clearTimeout(live.timer);
    if (!url || !live.token) return;
    const socket = new WebSocket(`${url}?token=${encodeURIComponent(live.token)}`);
    live.socket = socket;
    socket.addEventListener("open", () => {
      live.retry = LIVE_RETRY_FIRST_MS;
      live.ping = setInterval(() => send({ action: "ping" }), LIVE_PING_MS);
      if (live.chat !== null) send({ action: "subscribe", chat: live.chat });
    });
    socket.addEventListener("message", (event) => receive(event.data));
    socket.addEventListener("close", () => {
      if (live.socket !== socket) return; // replaced or stopped
      clearInterval(live.ping);
      live.socket = null;
      down();
      // A little randomness so that many pages dropped together do not return together.
      const wait = live.retry * (0.75 + Math.random() / 2);
      live.retry = Math.min(live.retry * 2, LIVE_RETRY_LONGEST_MS);
      live.timer = setTimeout(open, wait);
    });
  }

  function send(frame) {
    if (live.socket && live.socket.readyState === WebSocket.OPEN) live.socket.send(JSON.stringify(frame));
  }

  function receive(data) {
    let frame;
    try { frame = JSON.parse(data); } catch (err) { return; }
    if (frame.type === "subscribed" && frame.chat === live.chat) {
      // From now on every change is pushed: read what came before (or while the socket was down).
      live.up = true;
      page.socketUp(frame.chat);
    } else if (frame.type === "change" && frame.chat === live.chat) {
      page.changed(frame);
    } else if (frame.type === "accepted" && frame.chat === live.chat) {
      page.accepted(frame.message);
    } else if (frame.type === "error" && frame.code === "unauthorized") {
      stop();
    }
  }

  function down() {
    if (live.up) page.socketDown();
    live.up = false;
  }

  function start(token) {
    if (live.token === token && live.socket) return;
    stop();
    live.token = token;
    open();
  }

  function follow(chat) {
    if (live.chat !== null && live.chat !== chat) send({ action: "unsubscribe", chat: live.chat });
    live.chat = chat;
    live.up = false;
    send({ action: "subscribe", chat });
  }

  function stop() {
    clearTimeout(live.timer);
    clearInterval(live.ping);
    const socket = live.socket;
    live.socket = null;
    live.token = null;
    down();
    if (socket) socket.close();
  }

  return { start, follow, stop, isUp: () => live.up };
}
