/* Doorstep: live countdowns ("in 4:05 min", "2:10 min late"), buttons that become available
   at a time (close as not seen after the doorstep wait), and press-and-hold buttons (panic),
   so an alarm is not set off by a stray tap. The server owns every timer
   and checks again when a button is pressed; this only keeps the page honest between loads. */
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function fmt(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(sec) + " h" : m + ":" + pad(sec) + " min";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-countdown"));
      if (isNaN(at)) { return; }
      var left = at - now;
      var plain = el.classList.contains("countdown--plain");
      if (left > 0) {
        el.textContent = (plain ? "" : "in ") + fmt(left);
        el.classList.remove("countdown--late");
      } else {
        el.textContent = el.getAttribute("data-done") || (plain ? "now" : fmt(-left) + " late");
        el.classList.add("countdown--late");
      }
    });
    document.querySelectorAll("[data-enable-at]").forEach(function (button) {
      var at = Date.parse(button.getAttribute("data-enable-at"));
      if (!isNaN(at) && at <= now) {
        button.disabled = false;
        button.removeAttribute("data-enable-at");
      }
    });
  }

  function holdButtons() {
    document.querySelectorAll(".hold-button").forEach(function (button) {
      var form = button.form, timer = null, ms = parseInt(button.getAttribute("data-hold"), 10) || 2000;
      button.style.setProperty("--hold", ms + "ms");
      function start() {
        if (timer || button.classList.contains("held")) { return; }
        button.classList.add("holding");
        timer = setTimeout(function () {
          timer = null;
          button.classList.remove("holding");
          button.classList.add("held");
          form.elements.confirmed.value = "yes";
          form.submit();
        }, ms);
      }
      function stop() {
        if (timer) { clearTimeout(timer); timer = null; button.classList.remove("holding"); }
      }
      button.addEventListener("pointerdown", start);
      ["pointerup", "pointerleave", "pointercancel"].forEach(function (name) { button.addEventListener(name, stop); });
      button.addEventListener("contextmenu", function (e) { e.preventDefault(); });
      // A short press (or Enter) goes to the confirm page; after a full hold, never twice.
      button.addEventListener("click", function (e) { if (button.classList.contains("held")) { e.preventDefault(); } });
    });
  }

  tick();
  setInterval(tick, 1000);
  // The board's rows are swapped in by htmx: fill their countdowns at once, not a second later.
  document.addEventListener("htmx:afterSwap", tick);
  holdButtons();
})();
