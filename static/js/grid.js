(function () {
  "use strict";
  const all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", () => {
    document.querySelectorAll("#bulk input[name=selected]").forEach(box => { box.checked = all.checked; });
  });
})();
