// Bulk grid: "select all", and a live count of what a submit would decide.
(function () {
  "use strict";
  const all = document.getElementById("select-all");
  const count = document.getElementById("selected-count");
  const boxes = () => document.querySelectorAll("#bulk input[name=selected]");
  function show() {
    if (!count) return;
    const n = Array.from(boxes()).filter(box => box.checked).length;
    count.textContent = n ? n + " selected" : "none selected";
  }
  if (all) {
    all.addEventListener("change", () => {
      boxes().forEach(box => { box.checked = all.checked; });
      show();
    });
  }
  boxes().forEach(box => box.addEventListener("change", show));
  show();
})();
