/* The office board: pushed, and an alarm nobody can miss (docs/safety-core.md, "The board is pushed").

   Push. The page keeps one Server-Sent Events stream open (data-stream on #board-live). When
   the server says "changed", a "doorstep:changed" event on <body> makes htmx fetch the alarm
   strip (small: drawn first), and once that answered, the list of visits. htmx also fetches
   them every 30 s, for what only time changes. The server ends each stream after about a minute and the browser
   opens it again; if it stays away, or a fetch fails, the red "cannot reach Doorstep" banner
   shows, and the board keeps trying every few seconds.

   Alarm (the contract with anything else on the board, drills included): every element with
   data-alarm="<unique key>" is something nobody has taken on. While there is one:
   - with the sound on, a two-tone pattern plays every 2 seconds, until none is left;
   - the tab's title reads "ALERT (n) · ..." and its icon turns red;
   - a key not seen before (remembered in localStorage, so a reload is quiet) shows a desktop
     notification, where the person allowed them with the button.
   Nothing flashes: colours and words are steady (WCAG 2.3.1). */
(function () {
  "use strict";
  var SEEN_KEY = "doorstep.board.alarmsSeen";
  var PATTERN_EVERY = 2000;   // ms between two alarm patterns
  var LOST_AFTER = 5000;      // ms without the stream before the banner shows
  var RETRY_EVERY = 4000;     // ms between two fetches while the board cannot reach Doorstep
  var toggle = document.getElementById("sound-toggle");
  var hint = document.getElementById("sound-hint");
  var notifyButton = document.getElementById("notify-toggle");
  var notifyState = document.getElementById("notify-state");
  var offline = document.getElementById("board-offline");
  var live = document.getElementById("board-live");
  var title = document.title;
  var state = window.doorstepBoard = {
    beeps: 0, newAlerts: 0, notifications: 0, alarming: false, keys: [],
    changes: 0, unchanged: 0, streamOpen: false, lost: false, trace: []
  };
  // What happened when (for the bench and the tests): the last 100 steps, with Date.now().
  function trace(what) {
    state.trace.push([what, Date.now()]);
    if (state.trace.length > 100) { state.trace.shift(); }
  }
  var ctx = null, on = false;

  // ------------------------------------------------------------------ sound
  function pattern() {
    if (!ctx || !on) { return false; }
    var t = ctx.currentTime;
    // Two tones, twice: 880 Hz then 660 Hz, a quarter second each.
    for (var i = 0; i < 4; i++) {
      var osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.3, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.22);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.25);
      t += 0.27;
    }
    state.beeps += 1;
    return true;
  }

  function showSound() {
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    document.body.classList.toggle("sound-on", on);
  }

  toggle.addEventListener("click", function () {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!ctx && Ctx) { ctx = new Ctx(); }
    on = !on;
    if (ctx) { if (on) { ctx.resume(); } else { ctx.suspend(); } }
    showSound();
    if (on) { pattern(); }  // so the person hears what the alarm sounds like
  });

  // ------------------------------------------------------------------ desktop notifications
  var canNotify = "Notification" in window;
  function showNotify() {
    if (!canNotify) { return; }
    var p = window.Notification.permission;
    notifyButton.hidden = p !== "default";
    notifyState.hidden = p === "default";
    notifyState.textContent = p === "granted" ? "New alerts also show on this computer's screen."
      : "This browser is set not to show Doorstep's alerts on the screen: the sound and this page still do.";
  }
  if (canNotify) {
    notifyButton.addEventListener("click", function () {
      var asked = window.Notification.requestPermission(showNotify);
      if (asked && asked.then) { asked.then(showNotify); }
    });
  }

  function tell(el) {
    if (!canNotify || window.Notification.permission !== "granted") { return; }
    var what = (el.querySelector(".alarm__what") || el).textContent.replace(/\s+/g, " ").trim();
    try {
      var n = new window.Notification("Doorstep: an alert nobody has taken on", {
        body: what.slice(0, 180), tag: el.getAttribute("data-alarm"), requireInteraction: true
      });
      n.onclick = function () { window.focus(); n.close(); };
      state.notifications += 1;
    } catch (e) { /* some browsers allow notifications only from a service worker: the rest still works */ }
  }

  // ------------------------------------------------------------------ title and icon
  var icon = document.querySelector("link[rel~='icon']");
  var plainIcon = icon ? icon.getAttribute("href") : "data:,";
  var RED_ICON = "data:image/svg+xml," + encodeURIComponent(
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><circle cx='8' cy='8' r='8' fill='#a4161a'/>" +
    "<rect x='7' y='3' width='2' height='6' fill='#fff'/><rect x='7' y='11' width='2' height='2' fill='#fff'/></svg>");
  function setIcon(href) {
    if (!icon) {
      icon = document.createElement("link");
      icon.rel = "icon";
      document.head.appendChild(icon);
    }
    if (icon.getAttribute("href") !== href) { icon.setAttribute("href", href); }
  }
  function showTitle() {
    var n = state.keys.length;
    if (state.lost) {
      document.title = "NOT UPDATING · " + title;
    } else {
      document.title = n ? "ALERT (" + n + ") · " + title : title;
    }
    setIcon(n ? RED_ICON : plainIcon);
  }

  // ------------------------------------------------------------------ the alarm
  function seen() {
    try { return JSON.parse(window.localStorage.getItem(SEEN_KEY) || "[]"); } catch (e) { return []; }
  }
  function check() {
    var els = document.querySelectorAll("[data-alarm]");
    var keys = [], byKey = {};
    els.forEach(function (el) {
      var k = el.getAttribute("data-alarm");
      if (k && !byKey[k]) { byKey[k] = el; keys.push(k); }
    });
    var known = seen(), fresh = keys.filter(function (k) { return known.indexOf(k) === -1; });
    if (fresh.length) {
      window.localStorage.setItem(SEEN_KEY, JSON.stringify(known.concat(fresh).slice(-300)));
      state.newAlerts += fresh.length;
      fresh.forEach(function (k) { tell(byKey[k]); });
      if (!on) { hint.classList.add("board-sound-hint--needed"); }
    }
    var was = state.alarming;
    state.keys = keys;
    state.alarming = keys.length > 0;
    if (state.alarming && (!was || fresh.length)) { pattern(); lastPattern = Date.now(); }
    showTitle();
  }
  var lastPattern = 0;
  window.setInterval(function () {
    if (state.alarming && Date.now() - lastPattern >= PATTERN_EVERY - 100) {
      pattern();
      lastPattern = Date.now();
    }
  }, 250);

  // ------------------------------------------------------------------ push
  var since = live.getAttribute("data-stamp") || "";
  var source = null, lostTimer = null, retryTimer = null;
  function changed() {
    state.changes += 1;
    trace("changed");
    document.body.dispatchEvent(new CustomEvent("doorstep:changed"));
  }
  function lost() {
    if (!state.lost) {
      state.lost = true;
      offline.hidden = false;
      showTitle();
    }
    if (!retryTimer) { retryTimer = window.setInterval(changed, RETRY_EVERY); }
  }
  function found() {
    window.clearTimeout(lostTimer);
    lostTimer = null;
    if (state.lost && state.streamOpen) {
      state.lost = false;
      offline.hidden = true;
      window.clearInterval(retryTimer);
      retryTimer = null;
      showTitle();
    }
  }
  function connect() {
    if (!window.EventSource) { return; }
    source = new window.EventSource(live.getAttribute("data-stream") + "?since=" + encodeURIComponent(since));
    source.onopen = function () { state.streamOpen = true; found(); };
    source.addEventListener("changed", function (e) {
      since = e.lastEventId || since;
      state.changes += 1;
      trace("pushed");
      if (e.data) { drawStrip(e.data); } else { changed(); }
    });
    source.onerror = function () {
      state.streamOpen = false;
      // The server ends each stream after a minute and the browser comes back in 2 s; only a
      // stream that stays away is news. A closed one (signed out, refused) is opened afresh.
      if (!lostTimer) { lostTimer = window.setTimeout(lost, LOST_AFTER); }
      if (source.readyState === window.EventSource.CLOSED) {
        window.setTimeout(connect, RETRY_EVERY);
        changed();  // the fetch finds out why: a sign-in page is followed (below), an error shows the banner
      }
    };
  }

  // The list of visits is asked for with the tag of what the page shows (If-None-Match): when
  // nothing changed, Doorstep answers 304 with no body, and the page keeps what it has (htmx
  // would otherwise put the empty answer in its place). Before the handlers below, which
  // look at shouldSwap.
  var etag = live.getAttribute("data-etag") || "";
  // The school's clock, as the server writes the time (settings.TIME_ZONE), whatever the computer's zone.
  var updated = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Europe/London", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
  });
  document.body.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.elt === live && etag) { e.detail.headers["If-None-Match"] = etag; }
  });
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.elt !== live || !e.detail.xhr) { return; }
    if (e.detail.xhr.status === 304) {
      e.detail.shouldSwap = false;
      // The same list, known by a newer tag (its cheap check was out of date): keep that one.
      etag = e.detail.xhr.getResponseHeader("ETag") || etag;
      var at = document.getElementById("board-updated");
      if (at) { at.textContent = updated.format(new Date()); }
      if (state.lost && (state.streamOpen || !window.EventSource)) {
        state.lost = false; offline.hidden = true; window.clearInterval(retryTimer); retryTimer = null; showTitle();
      }
      state.unchanged = (state.unchanged || 0) + 1;
      trace("unchanged board-live");
    } else if (e.detail.xhr.status === 200) {
      etag = e.detail.xhr.getResponseHeader("ETag") || "";
    }
  });
  document.body.addEventListener("htmx:sendError", lost);
  document.body.addEventListener("htmx:responseError", lost);
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    // Signed out (the session ended): go to the sign-in page rather than show it in the board.
    var url = e.detail.xhr && e.detail.xhr.responseURL;
    if (url && url.indexOf("/board/live/") === -1 && url.indexOf("/board/alarms/") === -1) {
      e.detail.shouldSwap = false;
      window.location.href = url;
    }
  });
  // Keep the keyboard where it was: a refresh replaces every button, and without this a
  // keyboard or switch user would be thrown back to the top of the page in the middle of
  // reaching "Acknowledge". A control is known again by what it does (its link, or its
  // form's action) and the part of the board it is in.
  var focusKey = null;
  function container(el) {
    var parts = [live, document.getElementById("board-alarms")];
    for (var i = 0; i < parts.length; i++) {
      if (parts[i] && el && parts[i] !== el && parts[i].contains(el)) { return parts[i]; }
    }
    return null;
  }
  function keyOf(el) {
    var part = container(el);
    if (!part) { return null; }
    var target = el.getAttribute("href") || (el.form && el.form.getAttribute("action"));
    var row = el.closest("[id]");
    return target ? { target: target, part: part.id, row: row ? row.id : "", tag: el.tagName } : null;
  }
  function refocus() {
    if (!focusKey) { return; }
    var scope = (focusKey.row && document.getElementById(focusKey.row)) || document.getElementById(focusKey.part);
    var found = null;
    if (scope) {
      scope.querySelectorAll(focusKey.tag.toLowerCase()).forEach(function (el) {
        var k = keyOf(el);
        if (!found && k && k.target === focusKey.target) { found = el; }
      });
    }
    if (found) { found.focus({ preventScroll: true }); }
    focusKey = null;
  }
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.shouldSwap !== false) { focusKey = keyOf(document.activeElement); }
  });
  document.body.addEventListener("htmx:afterSwap", refocus);
  document.body.addEventListener("htmx:afterSwap", function () {
    if (!state.streamOpen && window.EventSource) { return; }  // the fetch worked, but the stream is still away
    if (state.lost) { state.lost = false; offline.hidden = true; window.clearInterval(retryTimer); retryTimer = null; }
  });
  document.body.addEventListener("htmx:afterSwap", check);
  ["htmx:beforeRequest", "htmx:afterSwap"].forEach(function (name) {
    document.body.addEventListener(name, function (e) {
      if (e.detail.elt && e.detail.elt.id) { trace(name.slice(5) + " " + e.detail.elt.id); }
    });
  });
  // The list of visits after the alarm strip (board.html): the strip is drawn first, and the
  // long list is asked for at most every LIST_GAP ms (the last change always gets one).
  var LIST_GAP = 2000, listTimer = null, lastList = 0;
  function askList() {
    if (listTimer) { return; }
    listTimer = window.setTimeout(function () {
      listTimer = null;
      lastList = Date.now();
      document.body.dispatchEvent(new CustomEvent("doorstep:alarms-fetched"));
    }, Math.max(0, lastList + LIST_GAP - Date.now()));
  }
  document.body.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail.elt && e.detail.elt.id === "board-alarms") { askList(); }
  });
  // The stream brings the alarm strip with the news: drawn at once, no request.
  function drawStrip(html) {
    var strip = document.getElementById("board-alarms");
    focusKey = keyOf(document.activeElement);
    strip.innerHTML = html;
    if (window.htmx) { window.htmx.process(strip); }
    refocus();
    trace("drawn board-alarms");
    check();
    askList();
  }
  showSound();
  showNotify();
  check();
  connect();
})();
