/* Doorstep: the phone's visit page when the network fails (docs/safety-core.md, "When the
   phone has no signal").

   Without this script the page's forms post as ever. With it, the event forms (check-in,
   leaving, back safe, panic...) are sent with fetch. When a press cannot be sent (no answer,
   or the phone says it is offline) the page says so at once, in words (role="alert"): it was
   NOT sent yet, what to text and whom to ring. The press is kept, stamped with the moment it
   was pressed (`pressed_at`, in the server's clock), and sent again by itself when the signal
   comes back (the "online" event, and a timer); the page then says "Sent at 10:42 (you
   pressed it at 10:31)".

   Where things are kept: the queue in this page's memory and in sessionStorage (this tab
   only, gone when it closes); a PIN only in this page's memory, never in any storage. So a
   press that needs a PIN is lost if the page is closed or reloaded before it is sent: the
   page says "keep this page open", and says what was lost if it happens.

   It also registers the service worker (/sw.js), which shows the offline page when a page of
   /today/ cannot load at all. The server checks everything again; this only carries presses. */
(function () {
  "use strict";

  var box = document.getElementById("phone-status");
  if (!box || !window.fetch || !window.FormData) { return; }
  var alertArea = box.querySelector(".phone-status__alert");
  var noteArea = box.querySelector(".phone-status__note");
  var visit = box.getAttribute("data-visit");
  var QUEUE_KEY = "doorstep.unsent." + visit;
  var NOTE_KEY = "doorstep.sent." + visit;
  // The server's clock minus the phone's: presses are stamped in the server's clock, so a
  // phone whose clock is wrong is neither refused nor believed.
  var offset = (parseInt(box.getAttribute("data-server-now"), 10) || Date.now()) - Date.now();
  var RETRY_MS = 10000;
  var TIMEOUT_MS = 20000;
  var pins = {};      // press id -> PIN: this page's memory only
  var queue = [];     // presses not yet answered, oldest first
  var sending = false;
  var timer = null;

  function serverNow() { return new Date(Date.now() + offset); }
  function hhmm(date) {
    return date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: "Europe/London" });
  }

  function load() {
    try { return JSON.parse(window.sessionStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { return []; }
  }
  function save() {
    try {
      if (queue.length) { window.sessionStorage.setItem(QUEUE_KEY, JSON.stringify(queue)); }
      else { window.sessionStorage.removeItem(QUEUE_KEY); }
    } catch (e) { /* private mode or full: the queue is still in memory */ }
  }

  // ------------------------------------------------------------------ what the page says

  function para(text, cls) {
    var p = document.createElement("p");
    if (cls) { p.className = cls; }
    p.textContent = text;
    return p;
  }

  function helpFor(event) {
    var t = document.querySelector('template[data-offline-help="' + event + '"]') ||
            document.querySelector('template[data-offline-help="check_in"]');
    return t ? t.content.cloneNode(true) : document.createDocumentFragment();
  }

  function show(kind) {
    box.hidden = false;
    box.className = "phone-status phone-status--" + kind;
    box.scrollIntoView({ block: "start" });
    box.focus({ preventScroll: true });
  }

  // Loud: the presses refused (not recorded, not sent again) and those not sent yet, each
  // with what to do now. Drawn again whole after each change.
  var refusals = [];   // {label, event, text}
  var signedOut = false;
  function render() {
    alertArea.textContent = "";
    refusals.forEach(function (r) {
      alertArea.appendChild(para(r.label + " was NOT recorded: " + r.text, "phone-status__head"));
      alertArea.appendChild(helpFor(r.event));
    });
    var waiting = queue.filter(function (p) { return p.failed; });
    waiting.forEach(function (p) {
      var why = p.why || "no signal";
      var head = p.event === "panic"
        ? "PANIC ALARM NOT SENT YET: " + why + " (you pressed it at " + p.pressed + ")."
        : p.label + ": NOT sent yet, " + why + " (you pressed it at " + p.pressed + ").";
      alertArea.appendChild(para(head, "phone-status__head"));
      alertArea.appendChild(helpFor(p.event));
    });
    if (waiting.length) {
      if (signedOut) {
        alertArea.appendChild(para("You are signed out of Doorstep: sign in again on this phone to send " +
                                   (waiting.length > 1 ? "them" : "it") + ". Until then it is NOT sent.",
                                   "phone-status__head"));
      }
      alertArea.appendChild(para("Doorstep will send " + (waiting.length > 1 ? "them" : "it") +
        " by itself when the signal comes back, with the time you pressed. Keep this page open: if you close it, " +
        "your PIN is forgotten and it cannot be sent.", "phone-status__keep"));
    }
    if (alertArea.childNodes.length) { show("bad"); }
    else if (noteArea.childNodes.length) { show("ok"); }
    else { box.hidden = true; }
  }

  function refuse(p, text) {
    refusals.push({ label: p.label, event: p.event, text: text });
    render();
  }

  function saySent(p, answer) {
    var text = "Sent at " + answer.sent + " (you pressed it at " + answer.pressed + "): " + p.label + ".";
    noteArea.appendChild(para(text));
    try { window.sessionStorage.setItem(NOTE_KEY, noteArea.textContent); } catch (e) { /* shown already */ }
  }

  // ------------------------------------------------------------------ pressing and sending

  function eventOf(form) {
    var m = /\/record\/([a-z_]+)\/$/.exec(form.getAttribute("action") || "");
    if (m) { return m[1]; }
    return /\/panic\/$/.test(form.getAttribute("action") || "") ? "panic" : null;
  }

  function labelOf(form, event) {
    if (event === "panic") { return "Panic alarm"; }
    var button = form.querySelector("button[type=submit], button:not([type])");
    return button ? button.textContent.trim() : "What you pressed";
  }

  function press(form) {
    var event = eventOf(form);
    var at = serverNow();
    var p = { id: String(Date.now()) + Math.random().toString(16).slice(2), event: event,
              label: labelOf(form, event), action: form.getAttribute("action"),
              pressed_at: at.toISOString(), pressed: hhmm(at), fields: [], needs_pin: false, failed: false };
    new FormData(form).forEach(function (value, name) {
      var input = form.elements[name];
      if (input && input.type === "password") {   // the PIN: memory only
        p.needs_pin = true;
        p.pin_name = name;
        pins[p.id] = value;
      } else if (name !== "pressed_at") {
        p.fields.push([name, value]);
      }
    });
    var pinBox = form.querySelector("input[type=password]");
    if (pinBox) { pinBox.value = ""; }
    queue.push(p);
    save();
    if (!navigator.onLine) { p.failed = true; save(); render(); schedule(); return; }
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = true; });
    flush();
  }

  function body(p) {
    var data = new FormData();
    p.fields.forEach(function (f) { data.append(f[0], f[1]); });
    if (p.needs_pin) { data.append(p.pin_name, pins[p.id] || ""); }
    data.append("pressed_at", p.pressed_at);
    return data;
  }

  function post(p) {
    var controller = window.AbortController ? new AbortController() : null;
    var stop = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    return fetch(p.action, {
      method: "POST", body: body(p), credentials: "same-origin",
      headers: { "Accept": "application/json" }, signal: controller ? controller.signal : undefined
    }).then(function (response) {
      clearTimeout(stop);
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) {
        // Not Doorstep's answer to a press: signed out (the sign-in page), or a proxy's page.
        return response.redirected && /\/accounts\//.test(response.url) ? { kind: "signed_out" }
          : { kind: "unsent", why: "Doorstep did not answer" };
      }
      return response.json().then(function (answer) {
        if (response.ok && answer.ok) { return { kind: "sent", answer: answer }; }
        if (response.status === 400) { return { kind: "refused", text: answer.error }; }
        return { kind: "unsent", why: "Doorstep did not answer" };
      });
    }).catch(function () {
      clearTimeout(stop);
      return { kind: "unsent" };   // no answer (no signal, timed out) or not one that can be read
    });
  }

  function flush() {
    if (sending || !queue.length) { return; }
    if (!navigator.onLine) { schedule(); return; }
    sending = true;
    var p = queue[0];
    if (p.needs_pin && !(p.id in pins)) {
      // Kept from before the page was closed: the PIN was not kept, so it cannot be sent.
      queue.shift();
      save();
      sending = false;
      refuse(p, "the page was closed before it could be sent, and your PIN is not kept. Type your PIN and " +
                 "press it again now.");
      flush();
      return;
    }
    post(p).then(function (outcome) {
      sending = false;
      if (outcome.kind === "unsent" || outcome.kind === "signed_out") {
        p.failed = true;
        p.why = outcome.why || "";
        signedOut = outcome.kind === "signed_out";
        save();
        render();
        enableButtons();   // pressing again is kept too (a second check-in does no harm)
        schedule();
        return;
      }
      queue.shift();
      delete pins[p.id];
      save();
      signedOut = false;
      if (outcome.kind === "refused") {
        refuse(p, outcome.text);
        enableButtons();
      } else if (!p.failed) {
        // Sent at once, as without this script: the page comes back with what is next.
        window.location.assign(outcome.answer.next);
        return;
      } else {
        saySent(p, outcome.answer);
        render();
      }
      if (queue.length) { flush(); return; }
      if (p.failed && outcome.kind === "sent") {
        // All sent: show the page again as it now is (what is next); the note stays on it.
        setTimeout(function () {
          if (navigator.onLine && !queue.length) { window.location.assign(outcome.answer.next); }
        }, 3000);
      }
    });
  }

  function enableButtons() {
    Array.prototype.forEach.call(document.querySelectorAll("form button[disabled]:not([data-enable-at])"),
      function (b) { b.disabled = false; });
  }

  function schedule() {
    if (timer) { return; }
    timer = setInterval(function () {
      if (!queue.length) { clearInterval(timer); timer = null; return; }
      flush();
    }, RETRY_MS);
  }

  // ------------------------------------------------------------------ wiring

  function isEventForm(form) { return form && form.tagName === "FORM" && eventOf(form) !== null; }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!isEventForm(form)) { return; }
    if (eventOf(form) === "panic" && form.elements.confirmed && form.elements.confirmed.value !== "yes") {
      // A short press asks to confirm on a page of its own: with no signal that page cannot load.
      if (navigator.onLine) { return; }
      e.preventDefault();
      render();
      alertArea.insertBefore(helpFor("panic"), alertArea.firstChild);
      alertArea.insertBefore(para("No signal: the panic alarm has NOT been sent. Press and hold the button for " +
                                  "2 seconds to send it when the signal comes back.", "phone-status__head"),
                             alertArea.firstChild);
      show("bad");
      return;
    }
    e.preventDefault();
    press(form);
  });

  // The panic button's press-and-hold (countdown.js) submits the form itself, which fires no
  // submit event: the held press goes through the queue too.
  Array.prototype.forEach.call(document.querySelectorAll("form.hold-form"), function (form) {
    form.submit = function () { press(form); };
  });

  window.addEventListener("online", flush);

  // Presses kept from before this page was loaded (this tab, sessionStorage), and the note
  // of what was sent late.
  queue = load();
  try {
    var note = window.sessionStorage.getItem(NOTE_KEY);
    if (note) {
      window.sessionStorage.removeItem(NOTE_KEY);
      noteArea.appendChild(para(note));
      show("ok");
    }
  } catch (e) { /* nothing kept */ }
  if (queue.length) { queue.forEach(function (p) { p.failed = true; }); render(); flush(); schedule(); }

  // The service worker: the offline page when a page cannot load. Kept fresh while online.
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(box.getAttribute("data-sw"), { scope: box.getAttribute("data-sw-scope") })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function (registration) {
        if (navigator.onLine && registration.active) { registration.active.postMessage("keep-offline-page"); }
      })
      .catch(function () { /* no worker: the browser's own page when a page cannot load */ });
  }
})();
