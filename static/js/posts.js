// "My posts": every post without a final verdict follows its live status.
(function () {
  "use strict";
  const FINAL = ["approved", "rejected", "failed"];
  document.querySelectorAll(".post[data-status-url]").forEach(box => {
    if (FINAL.includes(box.dataset.status)) return;
    window.PostStatus.follow(box, box.dataset.statusUrl);
  });
})();
