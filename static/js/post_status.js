// Live status of one post: polls the post's small JSON (/posts/<id>/status.json)
// until its verdict is final, and shows the badge, the reason in plain words and,
// while held, the expected wait. Used by "My posts" and the upload page.
window.PostStatus = (function () {
  "use strict";

  function render(box, data) {
    const badge = box.querySelector("[data-role=badge]");
    if (badge) {
      badge.textContent = data.badge;  // never innerHTML
      badge.className = "badge " + data.tone;
    }
    const reason = box.querySelector("[data-role=reason]");
    if (reason) { reason.textContent = data.reason; reason.hidden = !data.reason; }
    const estimate = box.querySelector("[data-role=estimate]");
    if (estimate) { estimate.textContent = data.estimate; estimate.hidden = !data.estimate; }
    const appeal = box.querySelector("[data-role=appeal]");
    if (appeal) appeal.hidden = !data.can_appeal;
    box.dataset.status = data.status;
  }

  // Poll until final; a held post keeps being polled, more slowly.
  async function follow(box, url, onUpdate) {
    for (let i = 0; ; i++) {
      let data = null;
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.ok) data = await response.json();
      } catch (e) { /* offline for a moment: try again */ }
      if (data) {
        render(box, data);
        if (onUpdate) onUpdate(data);
        if (data.final) return data;
      }
      const held = data && data.settled;
      await new Promise(r => setTimeout(r, held ? 15000 : Math.min(500 * (i + 1), 3000)));
    }
  }

  return { render: render, follow: follow };
})();
