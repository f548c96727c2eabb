// Upload page: several files at once, drag and drop, each row's status live
// until its verdict. Talks to the same REST API partners use (session auth).
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = document.getElementById("files");
  const zone = document.getElementById("dropzone");
  const tbody = document.querySelector("#rows tbody");
  const api = form.dataset.api;
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const SETTLED = { approved: "Approved", rejected: "Rejected", in_review: "Held for review", failed: "Failed" };

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;  // never innerHTML: file names are hostile
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function show(row, upload) {
    const status = row.querySelector(".status");
    status.textContent = SETTLED[upload.status] || (upload.status === "processing" ? "Checking…" : "Queued…");
    status.dataset.status = upload.status;
    row.querySelector(".tags").textContent = (upload.tags || []).slice(0, 3)
      .map(t => t.label + " " + Math.round(t.score * 100) + "%").join(", ");
    row.querySelector(".categories").textContent = (upload.categories || [])
      .map(c => c.name + " " + Math.round(c.score * 100) + "%").join(", ");
  }

  async function poll(row, id) {
    for (let i = 0; i < 600; i++) {
      const response = await fetch(api + id + "/", { credentials: "same-origin" });
      if (response.ok) {
        const upload = await response.json();
        show(row, upload);
        if (SETTLED[upload.status]) return;
      }
      await new Promise(r => setTimeout(r, Math.min(250 * (i + 1), 2000)));
    }
  }

  async function send(file) {
    const row = document.createElement("tr");
    cell(row, file.name, "filename");
    const status = cell(row, "Uploading…", "status");
    cell(row, "", "categories");
    cell(row, "", "tags");
    tbody.prepend(row);
    const body = new FormData();
    body.append("image", file);
    body.append("caption", document.getElementById("caption").value);
    const response = await fetch(api, {
      method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": csrf },
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      status.textContent = "Refused: " + ((data.error && data.error.message) || response.status);
      status.dataset.status = "refused";
      return;
    }
    row.dataset.id = data.id;
    show(row, data);
    poll(row, data.id);
  }

  function sendAll(files) { Array.from(files).forEach(send); }
  input.addEventListener("change", () => { sendAll(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(e => zone.addEventListener(e, ev => { ev.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach(e => zone.addEventListener(e, ev => { ev.preventDefault(); zone.classList.remove("over"); }));
  zone.addEventListener("drop", ev => sendAll(ev.dataTransfer.files));
})();
