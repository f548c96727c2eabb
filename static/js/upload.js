// Upload page: pick or drop images (nothing is sent yet), see their thumbnails
// and sizes, type a caption, press Post. Each posted image then follows its
// live status (js/post_status.js). Talks to the same REST API partners use
// (session auth).
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
  let chosen = [];  // {file, url}

  function humanBytes(size) {
    const units = ["bytes", "KB", "MB", "GB"];
    let value = size, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return unit === 0 ? value + " bytes" : value.toFixed(1) + " " + units[unit];
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
      if (item.file.size > maxBytes) li.append(el("span", "Too large: the limit is " + humanBytes(maxBytes) + ".", "badge bad"));
      const remove = el("button", "Remove");
      remove.type = "button";
      remove.setAttribute("aria-label", "Remove " + item.file.name);
      remove.addEventListener("click", () => { URL.revokeObjectURL(item.url); chosen.splice(index, 1); refresh(); });
      li.append(remove);
      picked.append(li);
    });
    const total = chosen.reduce((sum, item) => sum + item.file.size, 0);
    summary.textContent = chosen.length
      ? chosen.length + (chosen.length === 1 ? " image, " : " images, ") + humanBytes(total)
      : "No images chosen.";
    postButton.disabled = chosen.length === 0;
  }

  function add(files) {
    Array.from(files).forEach(file => chosen.push({ file: file, url: URL.createObjectURL(file) }));
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

  async function send(item, caption) {
    const tr = row(item);
    const body = new FormData();
    body.append("image", item.file);
    body.append("caption", caption);
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
    if (!chosen.length) return;
    const caption = document.getElementById("caption").value;
    results.hidden = false;
    const batch = chosen;
    chosen = [];
    refresh();
    batch.forEach(item => send(item, caption));
    document.getElementById("caption").value = "";
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
