// Review page keys: A approve, R reject (with no reason chosen it asks: then
// a reason's digit rejects with that reason, R again with the default, Escape
// not now), the keys in the label legend pick a label, J skip to the next item (its claim is
// released), K back to the previous item (never browser history),
// U undo the last decision, V reveal a blurred image, ? help. Ignored while typing in a field.
(function () {
  "use strict";
  const form = document.getElementById("decision");
  const help = document.getElementById("keys-help");
  const subject = document.getElementById("subject");
  const reveal = document.getElementById("reveal");
  const notice = document.getElementById("reason-notice");
  let rejectArmed = false;

  function unblur() {
    if (subject) subject.classList.remove("blurred", "greyscale");
    const strip = document.getElementById("frame-strip");
    if (strip) strip.classList.remove("blurred", "greyscale");
    if (reveal) reveal.hidden = true;
  }
  if (reveal) reveal.addEventListener("click", unblur);

  // An animation can be paused: the frame on screen is drawn on a canvas
  // shown in its place, and Play shows the moving image again.
  const pause = document.getElementById("pause");
  const moving = document.getElementById("subject-image");
  const still = document.getElementById("subject-still");
  function togglePause() {
    if (!pause || !moving || !still) return;
    const paused = pause.getAttribute("aria-pressed") === "true";
    if (!paused) {
      still.width = moving.naturalWidth;
      still.height = moving.naturalHeight;
      still.getContext("2d").drawImage(moving, 0, 0);
    }
    still.hidden = paused;
    moving.hidden = !paused;
    pause.setAttribute("aria-pressed", paused ? "false" : "true");
    pause.textContent = paused ? "Pause the animation" : "Play the animation";
  }
  if (pause) pause.addEventListener("click", togglePause);

  // A frame of the strip opens enlarged; Escape (the dialog's own) closes it.
  const frameView = document.getElementById("frame-view");
  document.querySelectorAll(".frame-open").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!frameView) return;
      document.getElementById("frame-view-image").src = button.dataset.src;
      document.getElementById("frame-view-image").alt = button.dataset.caption;
      document.getElementById("frame-view-caption").textContent = button.dataset.caption;
      frameView.showModal();
    });
  });

  function labelSelect() {
    return form && form.querySelector("select[name=label]");
  }

  function pickLabel(name) {
    const select = labelSelect();
    if (!select) return;
    select.value = name;
    select.dispatchEvent(new Event("change"));
  }

  function markPicked() {
    const select = labelSelect();
    document.querySelectorAll(".label-key").forEach(function (button) {
      const on = select && button.dataset.label === select.value;
      button.classList.toggle("picked", Boolean(on));
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  if (form) {
    document.querySelectorAll(".label-key").forEach(function (button) {
      button.addEventListener("click", function () { pickLabel(button.dataset.label); });
    });
    const select = labelSelect();
    if (select) select.addEventListener("change", markPicked);
    markPicked();
    const reason = form.querySelector("select[name=reason_code]");
    if (reason) reason.addEventListener("change", function () { if (notice) notice.hidden = true; rejectArmed = false; });
    // A reject with no reason chosen is stopped once, to offer the reasons' keys.
    form.addEventListener("submit", function (event) {
      const submitter = event.submitter;
      if (!submitter || submitter.value !== "reject" || !reason || reason.value) return;
      if (rejectArmed) return;
      event.preventDefault();
      rejectArmed = true;
      if (notice) notice.hidden = false;
    });
    document.querySelectorAll(".reason-key").forEach(function (button) {
      button.addEventListener("click", function () { rejectWith(button.dataset.reason); });
    });
  }

  function rejectWith(code) {
    const reason = form && form.querySelector("select[name=reason_code]");
    if (!reason) return;
    reason.value = code;
    document.getElementById("reject").click();
  }

  function disarm() {
    rejectArmed = false;
    if (notice) notice.hidden = true;
  }

  // The claim: held while the page is in use. Every heartbeat, if the tab is
  // in view and the moderator pressed a key, clicked or moved in the last two
  // minutes, the claim is renewed; an abandoned page lets it lapse.
  const claim = document.getElementById("claim");
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
  let lastActive = Date.now();
  ["keydown", "mousedown", "mousemove", "touchstart", "scroll"].forEach(function (name) {
    document.addEventListener(name, function () { lastActive = Date.now(); }, { passive: true });
  });
  function postClaim() {
    return fetch(claim.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.value : "", "Accept": "application/json" },
    }).then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); });
  }
  if (claim && csrf && !claim.dataset.heldElsewhere) {
    const every = Math.max(1, Number(claim.dataset.heartbeatSeconds) || 20) * 1000;
    window.setInterval(function () {
      if (document.visibilityState !== "visible" || Date.now() - lastActive > 120000) return;
      postClaim().catch(function () {});
    }, every);
  }
  const takeOver = document.getElementById("take-over");
  if (takeOver && claim && csrf) {
    takeOver.addEventListener("click", function () {
      const status = document.getElementById("take-over-status");
      postClaim().then(function (result) {
        if (result[0]) { window.location.reload(); return; }
        if (status) status.textContent = result[1].error ? result[1].error.message : "Still held.";
      }).catch(function () { if (status) status.textContent = "Could not reach the server."; });
    });
  }

  function follow(id) {
    const link = document.getElementById(id);
    if (link) window.location.assign(link.href);
  }

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT")) {
      if (key === "Escape") target.blur();  // out of the note field, back to the keys
      return;
    }
    if (key === "?") { help.hidden = !help.hidden; event.preventDefault(); return; }
    if (key === "Escape") { help.hidden = true; disarm(); return; }
    if (rejectArmed && form) {
      const choice = document.querySelector('.reason-key[data-key="' + key + '"]');
      if (choice) { event.preventDefault(); rejectWith(choice.dataset.reason); return; }
    }
    if (frameView && frameView.open) return;  // the dialog has the keys
    if (key === "v" || key === "V") { unblur(); return; }
    if (key === "u" || key === "U") {
      const undo = document.getElementById("undo");
      if (undo) { event.preventDefault(); undo.requestSubmit(); }
      return;
    }
    if (key === "j" || key === "J") { event.preventDefault(); follow("next-link"); return; }
    if (key === "k" || key === "K") { event.preventDefault(); follow("previous-link"); return; }
    if (!form) return;
    if (target && target.tagName === "SELECT" && /^[0-9]$/.test(key)) return;
    if (key === "a" || key === "A") { document.getElementById("approve").click(); event.preventDefault(); return; }
    if (key === "r" || key === "R") { document.getElementById("reject").click(); event.preventDefault(); return; }
    const button = document.querySelector('.label-key[data-key="' + key.toLowerCase() + '"]');
    if (button && key.length === 1) { event.preventDefault(); pickLabel(button.dataset.label); }
  });
})();
