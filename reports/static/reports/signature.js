/* A small signature pad: draw with a finger, stylus or mouse on a <canvas>; the drawing is
   written to a hidden input as a PNG data URL when the form is submitted. Plain JS, no
   library. Markup:
     <div class="sigpad" data-input="id_parent_signature">
       <canvas width="600" height="200"></canvas><button type="button" data-clear>Clear</button>
     </div> */
(function () {
  "use strict";
  function setUp(pad) {
    var canvas = pad.querySelector("canvas");
    var input = document.getElementById(pad.dataset.input);
    var ctx = canvas.getContext("2d");
    var drawing = false, drawn = false, last = null;
    ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#111";

    function point(e) {
      var r = canvas.getBoundingClientRect();
      // The canvas is drawn at its own resolution and shown scaled to the screen's width.
      return { x: (e.clientX - r.left) * canvas.width / r.width, y: (e.clientY - r.top) * canvas.height / r.height };
    }
    function start(e) { drawing = true; last = point(e); canvas.setPointerCapture && canvas.setPointerCapture(e.pointerId); e.preventDefault(); }
    function move(e) {
      if (!drawing) return;
      var p = point(e);
      ctx.beginPath(); ctx.moveTo(last.x, last.y); ctx.lineTo(p.x, p.y); ctx.stroke();
      last = p; drawn = true; pad.classList.add("sigpad--signed"); e.preventDefault();
    }
    function end() { if (drawing && drawn) { input.value = canvas.toDataURL("image/png"); } drawing = false; }

    // After a refused submission the form comes back with the signature in the hidden input:
    // show it, so the pad does not look empty while a signature is still being sent.
    if (input.value && input.value.indexOf("data:image/png;base64,") === 0) {
      var img = new Image();
      img.onload = function () { ctx.drawImage(img, 0, 0, canvas.width, canvas.height); drawn = true; pad.classList.add("sigpad--signed"); };
      img.src = input.value;
    }
    canvas.addEventListener("pointerdown", start);
    canvas.addEventListener("pointermove", move);
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointerleave", end);
    canvas.addEventListener("pointercancel", end);
    pad.querySelector("[data-clear]").addEventListener("click", function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height); drawn = false; input.value = "";
      pad.classList.remove("sigpad--signed");
    });
    if (input.form) input.form.addEventListener("submit", function () { if (drawn) input.value = canvas.toDataURL("image/png"); });
  }
  document.querySelectorAll(".sigpad").forEach(setUp);
})();
