// Every page: a table wider than the screen scrolls inside itself (app.css);
// make such a table reachable by keyboard so it can be scrolled without a mouse.
(function () {
  "use strict";
  function focusableScrollers() {
    document.querySelectorAll(".table, .table-wrap").forEach(el => {
      const scrolls = el.scrollWidth > el.clientWidth + 1;
      if (scrolls && !el.hasAttribute("tabindex")) {
        el.setAttribute("tabindex", "0");
        el.dataset.scrollFocus = "1";
      } else if (!scrolls && el.dataset.scrollFocus) {
        el.removeAttribute("tabindex");
        delete el.dataset.scrollFocus;
      }
    });
  }
  focusableScrollers();
  window.addEventListener("resize", focusableScrollers);
})();
