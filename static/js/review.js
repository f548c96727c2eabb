// Review page keys: A approve, R reject, 1-9 label, J/K next/previous,
// V reveal a blurred image, ? help. Ignored while typing in a field.
(function () {
  "use strict";
  const form = document.getElementById("decision");
  const help = document.getElementById("keys-help");
  const subject = document.getElementById("subject");
  const reveal = document.getElementById("reveal");

  function unblur() {
    if (subject) subject.classList.remove("blurred", "greyscale");
    const strip = document.getElementById("frame-strip");
    if (strip) strip.classList.remove("blurred", "greyscale");
    if (reveal) reveal.hidden = true;
  }
  if (reveal) reveal.addEventListener("click", unblur);

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT")) return;
    const key = event.key;
    if (key === "?") { help.hidden = !help.hidden; event.preventDefault(); return; }
    if (key === "Escape") { help.hidden = true; return; }
    if (key === "v" || key === "V") { unblur(); return; }
    if (key === "j" || key === "J") { window.location = document.getElementById("next-link").href; return; }
    if (key === "k" || key === "K") { window.history.back(); return; }
    if (!form) return;
    if (key === "a" || key === "A") { document.getElementById("approve").click(); event.preventDefault(); return; }
    if (key === "r" || key === "R") { document.getElementById("reject").click(); event.preventDefault(); return; }
    if (/^[1-9]$/.test(key)) {
      const select = form.querySelector("select[name=label]");
      const option = select && select.options[Number(key)];  // option 0 is "keep the predicted label"
      if (option) { select.value = option.value; select.dispatchEvent(new Event("change")); }
    }
  });
})();
