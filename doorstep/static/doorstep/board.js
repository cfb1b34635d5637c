/* The office board's sound (an alert on a screen nobody is watching reaches nobody). Browsers play sound only after a user gesture, so there is a visible toggle.
   A beep when an alert newer than the last one seen arrives (the id is remembered in
   localStorage, so a reload does not beep again), and a short reminder beep every 15
   seconds while any alert has not been taken on. The board itself is refreshed by htmx. */
(function () {
  "use strict";
  var KEY = "doorstep.board.lastAlert";
  var toggle = document.getElementById("sound-toggle");
  var hint = document.getElementById("sound-hint");
  var title = document.title;
  var ctx = null, on = false, lastReminder = 0;
  var state = window.doorstepBoard = { beeps: 0, newAlerts: 0 };

  function beep(times) {
    if (!ctx || !on) { return; }
    state.beeps += 1;
    var t = ctx.currentTime;
    for (var i = 0; i < times; i++) {
      var osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.3, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.25);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.3);
      t += 0.35;
    }
  }

  function show() {
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    document.body.classList.toggle("sound-on", on);
  }

  toggle.addEventListener("click", function () {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!ctx && Ctx) { ctx = new Ctx(); }
    on = !on;
    if (ctx) { if (on) { ctx.resume(); } else { ctx.suspend(); } }
    show();
    if (on) { beep(1); }
  });

  function check() {
    var board = document.querySelector("#board-live .board");
    if (!board) { return; }
    var latest = parseInt(board.getAttribute("data-latest-alert"), 10) || 0;
    var seen = parseInt(window.localStorage.getItem(KEY) || "0", 10) || 0;
    var waiting = board.getAttribute("data-unacknowledged") === "1";
    if (latest > seen) {
      window.localStorage.setItem(KEY, String(latest));
      state.newAlerts += 1;
      beep(4);
      lastReminder = Date.now();
      if (!on) { hint.classList.add("board-sound-hint--needed"); }
    } else if (waiting && Date.now() - lastReminder > 15000) {
      beep(2);
      lastReminder = Date.now();
    }
    document.title = waiting ? "ALERT · " + title : title;
  }

  // A board that silently stopped updating is worse than none: say so loudly.
  var offline = document.getElementById("board-offline");
  function lost() { offline.hidden = false; document.title = "NOT UPDATING · " + title; }
  document.body.addEventListener("htmx:sendError", lost);
  document.body.addEventListener("htmx:responseError", lost);
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    // Signed out (the session ended): go to the sign-in page rather than show it in the board.
    var url = e.detail.xhr && e.detail.xhr.responseURL;
    if (url && url.indexOf("/board/live/") === -1) {
      e.detail.shouldSwap = false;
      window.location.href = url;
    }
  });
  // Keep the keyboard where it was: the refresh replaces every button, and without this a
  // keyboard or switch user would be thrown back to the top of the page every 2 seconds,
  // in the middle of reaching "Acknowledge". A control is known again by what it does
  // (its link, or its form's action) and the row it is in.
  var focusKey = null;
  function keyOf(el) {
    var live = document.getElementById("board-live");
    if (!el || !live || !live.contains(el) || el === live) { return null; }
    var target = el.getAttribute("href") || (el.form && el.form.getAttribute("action"));
    var row = el.closest("[id]");
    return target ? { target: target, row: row ? row.id : "", tag: el.tagName } : null;
  }
  function refocus() {
    if (!focusKey) { return; }
    var scope = (focusKey.row && document.getElementById(focusKey.row)) || document.getElementById("board-live");
    var found = null;
    scope.querySelectorAll(focusKey.tag.toLowerCase()).forEach(function (el) {
      var k = keyOf(el);
      if (!found && k && k.target === focusKey.target) { found = el; }
    });
    if (found) { found.focus({ preventScroll: true }); }
    focusKey = null;
  }
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.shouldSwap !== false) { focusKey = keyOf(document.activeElement); }
  });
  document.body.addEventListener("htmx:afterSwap", refocus);
  document.body.addEventListener("htmx:afterSwap", function () { offline.hidden = true; });
  document.body.addEventListener("htmx:afterSwap", check);
  show();
  check();
})();
