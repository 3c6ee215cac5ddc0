// The VM console: noVNC (npm @novnc/novnc 1.7.0, served from /static/vendor/novnc) over a
// websocket to Shepherd, which proxies it to the VM's VNC stream. Shepherd opens the
// websocket itself (not noVNC) to read the close code, which says in plain words why a
// session ended. The one-time ticket travels in an HttpOnly, path-scoped cookie set by
// the ticket POST; nothing secret is in a URL or visible to this script.
import RFB from "/static/vendor/novnc/core/rfb.js";

const root = document.getElementById("console");
const screen = document.getElementById("console-screen");
const stateEl = document.getElementById("console-state");
const timeLeftEl = document.getElementById("console-time-left");
const btn = (id) => document.getElementById(id);
const connectBtn = btn("console-connect");
const disconnectBtn = btn("console-disconnect");
const live = [btn("console-disconnect"), btn("console-cad"), btn("console-keys"), btn("console-fullscreen"), btn("console-paste")];

// Close codes of internal/console.CloseReason, in words for people.
const closeWords = {
  1000: "The console was closed.",
  1001: "The connection was closed.",
  1006: "The connection to Shepherd was lost.",
  4000: "The VM's console ended: the VM stopped or restarted.",
  4001: "The console link expired or was already used.",
  4002: "Your console access was revoked.",
  4003: "Someone else took over this console.",
  4004: "The VM's cluster could not be reached.",
  4005: "The console was idle for too long.",
  4006: "The console session reached its time limit.",
  4007: "Shepherd is restarting. Reconnect in a moment.",
  4008: "The browser sent something the console does not understand.",
  4009: "The connection stopped answering.",
  4010: "The browser stopped reading from the console.",
  4011: "Something went wrong in Shepherd; the logs say more.",
  4012: "Someone else is using this console.",
};

let rfb = null;
let closeInfo = null;
let userClosed = false;
let takeOver = root.dataset.takeOver === "true";
const endsAt = root.dataset.endsAt ? new Date(root.dataset.endsAt) : null;

function setState(state, text) {
  stateEl.dataset.state = state;
  stateEl.textContent = text;
  const connected = state === "connected";
  live.forEach((el) => { el.disabled = !connected; });
  connectBtn.disabled = state === "connecting" || connected;
  connectBtn.textContent = takeOver && !connected ? "Take over" : state === "closed" ? "Reconnect" : "Connect";
}

async function issueTicket() {
  const res = await fetch(root.dataset.ticketUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": root.dataset.csrf, "X-Console-Fetch": "1", "Content-Type": "application/x-www-form-urlencoded" },
    body: takeOver ? "take_over=1" : "",
  });
  if (res.status === 204) return null;
  let msg = "The console could not be opened (HTTP " + res.status + ").";
  try {
    const body = await res.json();
    if (body.message) msg = body.message;
    if (body.code === "CONSOLE_IN_USE") takeOver = true;
  } catch (_) { /* not JSON */ }
  return msg;
}

async function connect(haveTicket) {
  setState("connecting", "Connecting…");
  closeInfo = null;
  userClosed = false;
  if (!haveTicket) {
    const problem = await issueTicket();
    if (problem) { setState("closed", problem); return; }
  }
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + root.dataset.wsPath, ["binary"]);
  ws.addEventListener("close", (ev) => { closeInfo = { code: ev.code, reason: ev.reason }; });
  rfb = new RFB(screen, ws, { shared: true });
  rfb.scaleViewport = btn("console-scale").checked;
  rfb.focusOnClick = true;
  rfb.addEventListener("connect", () => {
    takeOver = false;
    setState("connected", "Connected");
    rfb.focus();
  });
  rfb.addEventListener("disconnect", () => {
    // A close by the server has its code by now (noVNC reacts to the socket's close
    // event); a close the user asked for may end before the socket reports one.
    const code = closeInfo ? closeInfo.code : userClosed ? 1000 : 1006;
    setState("closed", userClosed ? "You closed the console." : closeWords[code] || closeInfo?.reason || "The console was disconnected.");
    if (code === 4012) takeOver = true;
    rfb = null;
  });
}

function sendCombo(keys) {
  // keys: [[keysym, code], ...] pressed in order, released in reverse.
  keys.forEach(([sym, code]) => rfb.sendKey(sym, code, true));
  keys.slice().reverse().forEach(([sym, code]) => rfb.sendKey(sym, code, false));
}

const K = {
  ctrl: [0xffe3, "ControlLeft"], alt: [0xffe9, "AltLeft"], tab: [0xff09, "Tab"], esc: [0xff1b, "Escape"],
  c: [0x63, "KeyC"], d: [0x64, "KeyD"], l: [0x6c, "KeyL"], f1: [0xffbe, "F1"], f2: [0xffbf, "F2"],
};
const combos = {
  tab: [K.tab], esc: [K.esc], "ctrl-c": [K.ctrl, K.c], "ctrl-d": [K.ctrl, K.d], "ctrl-l": [K.ctrl, K.l],
  "alt-f2": [K.alt, K.f2], "ctrl-alt-f1": [K.ctrl, K.alt, K.f1], "ctrl-alt-f2": [K.ctrl, K.alt, K.f2],
};

connectBtn.addEventListener("click", () => connect(false));
disconnectBtn.addEventListener("click", () => { if (rfb) { userClosed = true; rfb.disconnect(); } });
btn("console-cad").addEventListener("click", () => { if (rfb) { rfb.sendCtrlAltDel(); rfb.focus(); } });
btn("console-keys").addEventListener("change", (ev) => {
  const combo = combos[ev.target.value];
  if (rfb && combo) { sendCombo(combo); rfb.focus(); }
  ev.target.value = "";
});
btn("console-fullscreen").addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else root.requestFullscreen().catch(() => {});
});
btn("console-scale").addEventListener("change", (ev) => { if (rfb) rfb.scaleViewport = ev.target.checked; });
btn("console-paste").addEventListener("click", () => {
  const text = btn("console-paste-text").value;
  if (!rfb || !text) return;
  // Typed key by key: a login prompt has no clipboard, so the text is entered as keystrokes.
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    const sym = ch === "\n" ? 0xff0d : cp < 0x100 ? cp : 0x01000000 + cp;
    rfb.sendKey(sym, null, true);
    rfb.sendKey(sym, null, false);
  }
  rfb.clipboardPasteFrom(text);
  rfb.focus();
});

function tick() {
  if (!endsAt) return;
  const left = Math.max(0, Math.floor((endsAt - Date.now()) / 1000));
  const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
  timeLeftEl.textContent = "Time left " + (h ? h + " h " : "") + String(m).padStart(h ? 2 : 1, "0") + " min " + String(s).padStart(2, "0") + " s";
}
tick();
setInterval(tick, 1000);

setState("idle", "Not connected");
root.dataset.ready = "true";
if (root.dataset.connect === "true") connect(false);
