"use strict";
// tenantboard's status page. Every value from the server is untrusted text: it goes into
// the page through textContent only, never as HTML.
(function () {
  const params = new URLSearchParams(window.location.search);
  // ?refresh=SECONDS (at least 1; default 5).
  const REFRESH_MS = Math.max(1, Number(params.get("refresh")) || 5) * 1000;
  const STALE_MS = Math.max(20000, 4 * REFRESH_MS);
  const RANK = { CRITICAL: 4, UNKNOWN: 3, WARNING: 2, PENDING: 1, OK: 0 };
  const WORDS = [["CRITICAL", "✖", "critical"], ["UNKNOWN", "?", "unknown"],
    ["WARNING", "▲", "warning"], ["OK", "✔", "ok"], ["PENDING", "·", "not checked yet"]];
  // The token never lives in the page: /?token=… is answered with this address without it
  // and an HttpOnly cookie, which fetch() sends on its own.
  const tbody = document.querySelector("#tenants tbody");
  const filterBox = document.getElementById("filter");
  const attention = document.getElementById("attention");
  const statusLine = document.getElementById("status");
  const rows = new Map(); // key -> {tr, cells, data, position}
  let etag = null;
  let lastGood = 0;
  let clockOffset = 0; // server time minus this browser's time
  let orderKey = "";

  function text(el, value) {
    const none = value === null || value === undefined || value === "";
    const shown = none ? "-" : String(value);
    if (el.textContent !== shown) el.textContent = shown;
    if (el.tagName === "TD") el.classList.toggle("none", none);
  }

  // Times on a 24-hour clock, as everywhere else in tenantboard, in this browser's zone.
  function pad(n) { return String(n).padStart(2, "0"); }

  function clock(date, withSeconds) {
    return pad(date.getHours()) + ":" + pad(date.getMinutes()) + (withSeconds ? ":" + pad(date.getSeconds()) : "");
  }

  function when(iso) {
    const date = new Date(iso);
    const today = new Date(Date.now() + clockOffset);
    const sameDay = date.toDateString() === today.toDateString();
    const day = date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate());
    return (sameDay ? "" : day + " ") + clock(date, false);
  }

  // As the board's Up 24h column: floored, never "100%" while anything was down.
  function uptime(share) {
    if (share === null || share === undefined) return "";
    return share >= 1 ? "100%" : (Math.floor(share * 1000) / 10).toFixed(1) + "%";
  }

  // As the board says it: "muted by ana until 14:30", "acknowledged by bo until its state changes".
  function markText(marks) {
    if (!marks) return "";
    const parts = [];
    for (const [kind, glyph, word] of [["muted", "⊘", "muted"], ["acknowledged", "✓", "acknowledged"]]) {
      const mark = marks[kind];
      if (!mark) continue;
      const until = mark.until ? "until " + when(mark.until) : "until its state changes";
      parts.push(glyph + " " + word + " by " + mark.by + " " + until);
    }
    return parts.join("; ");
  }

  function ago(iso) {
    if (!iso) return "-";
    const seconds = Math.max(0, (Date.now() + clockOffset - Date.parse(iso)) / 1000);
    if (seconds < 5) return "just now";
    if (seconds < 60) return Math.floor(seconds / 5) * 5 + "s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m ago";
    if (seconds < 86400) {
      const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
      return h + "h" + (m ? String(m).padStart(2, "0") + "m" : "") + " ago";
    }
    return Math.floor(seconds / 86400) + "d ago";
  }

  function makeRow() {
    const tr = document.createElement("tr");
    const cells = {};
    for (const name of ["state", "name", "ctx", "env", "run", "host", "ver", "up", "checked", "change", "problem", "mark"]) {
      const td = document.createElement("td");
      td.className = "c-" + name;
      tr.appendChild(td);
      cells[name] = td;
    }
    const glyph = document.createElement("span");
    glyph.className = "glyph";
    glyph.setAttribute("aria-hidden", "true");
    const word = document.createElement("span");
    cells.state.append(glyph, word);
    cells.glyph = glyph;
    cells.word = word;
    return { tr, cells, data: null, rev: -1, search: "" };
  }

  function fill(entry, t) {
    const c = entry.cells;
    entry.tr.className = "sev-" + t.severity;
    text(c.glyph, t.glyph);
    let word = t.state || (t.severity === "PENDING" ? "not checked yet" : "unknown");
    if (t.error) word = t.state ? t.state + " (last known)" : "check failed";
    text(c.word, word);
    text(c.name, t.label || t.context_id);
    text(c.ctx, t.context_id);
    text(c.env, t.env);
    text(c.run, t.is_running === null ? "-" : (t.is_running ? "yes" : "no") + (t.running_mismatch ? " !" : ""));
    c.run.classList.toggle("mismatch", !!t.running_mismatch);
    text(c.host, t.endpoint_host);
    text(c.ver, t.version);
    text(c.up, uptime(t.uptime_24h));
    // The board's words for the same problems (widgets/table.py: row_cells).
    text(c.problem, t.error ? t.error.kind + ": " + t.error.message
      : t.running_mismatch ? "IsRunning disagrees with State" : "");
    text(c.mark, markText(t.marks));
    entry.search = [t.context_id, t.label, t.env, t.endpoint_host, t.state, t.bucket,
      t.error ? t.error.kind : ""].join(" ").toLowerCase();
    // As the board: muted or acknowledged is someone's already.
    entry.needsAttention = !t.marks && (t.severity !== "OK" && t.severity !== "PENDING" || !!t.running_mismatch);
  }

  function updateTimes() {
    for (const entry of rows.values()) {
      text(entry.cells.checked, ago(entry.data.checked_at));
      text(entry.cells.change, ago(entry.data.last_change));
    }
    const age = Date.now() - lastGood;
    if (lastGood && age > STALE_MS) {
      statusLine.classList.add("stale");
      text(statusLine, "no answer from the server for " + Math.round(age / 1000) + "s: the page may be out of date");
    }
  }

  function applyFilter() {
    const needle = filterBox.value.trim().toLowerCase();
    let shown = 0;
    for (const entry of rows.values()) {
      const visible = (!needle || entry.search.includes(needle)) && (!attention.checked || entry.needsAttention);
      if (entry.tr.hidden === visible) entry.tr.hidden = !visible;
      if (visible) shown += 1;
    }
    text(document.getElementById("shown"), shown === rows.size ? rows.size + " tenants" : shown + " of " + rows.size + " tenants");
    document.getElementById("empty").hidden = shown !== 0 || rows.size === 0;
    const hash = needle ? "#q=" + encodeURIComponent(filterBox.value.trim()) : "";
    if (window.location.hash !== hash) history.replaceState(null, "", hash || window.location.pathname + window.location.search);
  }

  function renderSummary(snapshot) {
    const list = document.getElementById("summary");
    const items = [];
    for (const [severity, glyph, label] of WORDS) {
      const count = snapshot.severities[label === "not checked yet" ? "pending" : label] || 0;
      if (!count && severity !== "OK") continue;
      const li = document.createElement("li");
      li.className = "sev-" + severity;
      li.textContent = glyph + " " + count + " " + label;
      items.push(li);
    }
    list.replaceChildren(...items);
    const fileError = document.getElementById("file-error");
    fileError.hidden = !snapshot.tenant_file_error;
    text(fileError, snapshot.tenant_file_error ? "The tenant file cannot be used; showing the list it had. " + snapshot.tenant_file_error : "");
  }

  function render(snapshot) {
    const seen = new Set();
    snapshot.tenants.forEach((t, position) => {
      seen.add(t.key);
      let entry = rows.get(t.key);
      if (!entry) {
        entry = makeRow();
        rows.set(t.key, entry);
      }
      entry.position = position;
      if (entry.rev !== t.rev) {
        fill(entry, t);
        entry.rev = t.rev;
      }
      entry.data = t;
    });
    for (const [key, entry] of rows) {
      if (!seen.has(key)) {
        entry.tr.remove();
        rows.delete(key);
      }
    }
    const ordered = [...rows.values()].sort((a, b) =>
      (RANK[b.data.severity] - RANK[a.data.severity]) || (a.position - b.position));
    const key = ordered.map((e) => e.data.key + "|" + e.data.severity).join("\n");
    if (key !== orderKey) {
      tbody.replaceChildren(...ordered.map((e) => e.tr));
      orderKey = key;
    }
    renderSummary(snapshot);
    applyFilter();
  }

  async function poll() {
    try {
      const headers = { Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const response = await fetch("api/snapshot", { headers, cache: "no-store", credentials: "same-origin" });
      if (response.status === 200) {
        etag = response.headers.get("ETag");
        const snapshot = await response.json();
        clockOffset = Date.parse(snapshot.generated_at) - Date.now();
        render(snapshot);
      } else if (response.status !== 304) {
        throw new Error(response.status === 401 ? "the server asks for a token: open this page as /?token=TOKEN" : "HTTP " + response.status);
      }
      lastGood = Date.now();
      statusLine.classList.remove("stale");
      text(statusLine, "updated " + clock(new Date(), true));
    } catch (error) {
      statusLine.classList.add("stale");
      text(statusLine, "cannot reach the server: " + error.message);
    }
    updateTimes();
    window.setTimeout(poll, REFRESH_MS);
  }

  const initial = window.location.hash.match(/^#q=(.*)$/);
  if (initial) filterBox.value = decodeURIComponent(initial[1]);
  filterBox.addEventListener("input", applyFilter);
  attention.addEventListener("change", applyFilter);
  window.setInterval(updateTimes, 1000);
  poll();
})();
