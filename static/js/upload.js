// Upload page: pick or drop images (nothing is sent yet), see their thumbnails
// and sizes, give each its own caption, press Post. A file over the size limit
// or not an image is refused here, before Post, in the server's words and
// numbers. Each posted image then follows its live status (js/post_status.js).
// Talks to the same REST API partners use (session auth).
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = document.getElementById("files");
  const zone = document.getElementById("dropzone");
  const picked = document.getElementById("picked");
  const summary = document.getElementById("picked-summary");
  const postButton = document.getElementById("post");
  const results = document.getElementById("results");
  const tbody = document.querySelector("#rows tbody");
  const api = form.dataset.api;
  const statusUrl = form.dataset.statusUrl;
  const maxBytes = Number(form.dataset.maxBytes) || Infinity;
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let chosen = [];  // {file, url, caption, problem}

  // As moderation.humanize.human_bytes and sizes_over_limit write them.
  function humanBytes(size) {
    const units = ["bytes", "KB", "MB", "GB"];
    let value = size, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return unit === 0 ? value + " bytes" : value.toFixed(1) + " " + units[unit];
  }
  function overLimit(size, limit) {
    const shown = humanBytes(size), cap = humanBytes(limit);
    if (shown !== cap) return [shown, cap];
    return [size.toLocaleString("en-US") + " bytes", limit.toLocaleString("en-US") + " bytes"];
  }

  // The formats the server takes, by their first bytes (moderation.validation).
  const SIGNATURES = [[0xff, 0xd8, 0xff], [0x89, 0x50, 0x4e, 0x47], [0x47, 0x49, 0x46, 0x38], [0x42, 0x4d]];
  function isImage(head) {
    if (SIGNATURES.some(sig => sig.every((byte, i) => head[i] === byte))) return true;
    const ascii = String.fromCharCode.apply(null, Array.from(head.slice(0, 12)));
    return ascii.slice(0, 4) === "RIFF" && ascii.slice(8, 12) === "WEBP";
  }
  async function problemOf(file) {
    if (file.size > maxBytes) {
      const [shown, cap] = overLimit(file.size, maxBytes);
      return "Too large: the file is " + shown + "; the limit is " + cap + ".";
    }
    if (file.size === 0) return "The file is empty.";
    const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
    if (!isImage(head)) return "The file is not an image the site takes (JPEG, PNG, WebP, GIF or BMP).";
    return null;
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;  // never innerHTML: file names are hostile
    if (cls) node.className = cls;
    return node;
  }

  function refresh() {
    picked.replaceChildren();
    chosen.forEach((item, index) => {
      const li = el("li");
      const img = el("img");
      img.src = item.url;
      img.alt = "Preview of " + item.file.name;
      li.append(img, el("span", item.file.name, "name"), el("span", humanBytes(item.file.size), "muted"));
      if (item.problem) {
        li.append(el("span", item.problem, "badge bad problem"));
        li.dataset.refused = "true";
      } else {
        const id = "caption-" + index;
        const label = el("label", "Caption for " + item.file.name, "small");
        label.htmlFor = id;
        const caption = el("textarea");
        caption.id = id;
        caption.name = "caption";
        caption.maxLength = 2000;
        caption.rows = 2;
        caption.value = item.caption;
        caption.addEventListener("input", () => { item.caption = caption.value; });
        li.append(label, caption);
      }
      const remove = el("button", "Remove");
      remove.type = "button";
      remove.setAttribute("aria-label", "Remove " + item.file.name);
      remove.addEventListener("click", () => { URL.revokeObjectURL(item.url); chosen.splice(index, 1); refresh(); });
      li.append(remove);
      picked.append(li);
    });
    const ready = chosen.filter(item => !item.problem);
    const total = ready.reduce((sum, item) => sum + item.file.size, 0);
    const refused = chosen.length - ready.length;
    summary.textContent = chosen.length
      ? ready.length + (ready.length === 1 ? " image, " : " images, ") + humanBytes(total) +
        (refused ? "; " + refused + " refused (removed on Post)" : "")
      : "No images chosen.";
    postButton.disabled = ready.length === 0;
  }

  async function add(files) {
    const items = await Promise.all(Array.from(files).map(async file => (
      { file: file, url: URL.createObjectURL(file), caption: "", problem: await problemOf(file) }
    )));
    chosen.push(...items);
    refresh();
  }

  function row(item) {
    const tr = el("tr");
    const thumb = el("td");
    const img = el("img", undefined, "thumb");
    img.src = item.url;
    img.alt = "";
    thumb.append(img);
    const name = el("td");
    name.append(el("span", item.file.name), el("br"), el("small", humanBytes(item.file.size), "muted"));
    const status = el("td", undefined, "status");
    const badge = el("span", "Uploading…", "badge wait");
    badge.dataset.role = "badge";
    const reason = el("p", "", "reason");
    reason.dataset.role = "reason";
    reason.hidden = true;
    const estimate = el("p", "", "reason muted");
    estimate.dataset.role = "estimate";
    estimate.hidden = true;
    status.append(badge, reason, estimate);
    tr.append(thumb, name, status);
    tbody.prepend(tr);
    return tr;
  }

  async function send(item) {
    const tr = row(item);
    const body = new FormData();
    body.append("image", item.file);
    body.append("caption", item.caption);
    let response, data = {};
    try {
      response = await fetch(api, { method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": csrf } });
      data = await response.json().catch(() => ({}));
    } catch (e) {
      response = null;
    }
    if (!response || !response.ok) {
      const badge = tr.querySelector("[data-role=badge]");
      badge.textContent = "Refused";
      badge.className = "badge bad";
      const reason = tr.querySelector("[data-role=reason]");
      reason.textContent = (data.error && data.error.message) || "The upload did not reach the server; try again.";
      reason.hidden = false;
      tr.dataset.status = "refused";
      return;
    }
    tr.dataset.id = data.id;
    window.PostStatus.follow(tr, statusUrl.replace("00000000-0000-0000-0000-000000000000", data.id));
  }

  function post(event) {
    event.preventDefault();
    const batch = chosen.filter(item => !item.problem);
    if (!batch.length) return;
    results.hidden = false;
    chosen.forEach(item => { if (item.problem) URL.revokeObjectURL(item.url); });
    chosen = [];
    refresh();
    batch.forEach(item => send(item));
  }

  form.addEventListener("submit", post);
  input.addEventListener("change", () => { add(input.files); input.value = ""; });
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", event => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
  });
  ["dragenter", "dragover"].forEach(e => zone.addEventListener(e, ev => { ev.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach(e => zone.addEventListener(e, ev => { ev.preventDefault(); zone.classList.remove("over"); }));
  zone.addEventListener("drop", ev => add(ev.dataTransfer.files));
})();
