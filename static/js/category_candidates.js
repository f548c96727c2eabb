// Category page: y / n answer the first candidate ("Is it ...?"), as the
// review page's keys decide an item. Not while typing in a field.
(function () {
  "use strict";
  let sent = false; // one answer per page: a held key must not answer the next candidate unseen
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    const key = event.key.toLowerCase();
    if (key !== "y" && key !== "n") return;
    const first = document.querySelector("#candidates form.candidate");
    if (!first || sent || event.repeat) return;
    event.preventDefault();
    sent = true;
    first.querySelector(key === "y" ? ".candidate-yes" : ".candidate-no").click();
  });
})();
