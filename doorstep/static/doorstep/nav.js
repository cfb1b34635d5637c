// On a phone the main menu is one row that scrolls sideways (app.css). Start it scrolled so
// the page you are on is in view, not hidden off the right-hand edge.
(function () {
  var row = document.querySelector(".main-nav ul");
  var here = row && row.querySelector("[aria-current=page]");
  if (!here || row.scrollWidth <= row.clientWidth) return;
  var item = here.parentElement;
  row.scrollLeft = item.offsetLeft - (row.clientWidth - item.offsetWidth) / 2;
})();
