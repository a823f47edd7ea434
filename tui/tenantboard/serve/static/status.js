"use strict";
// tenantboard's status page. Every value from the server is untrusted text: it goes into
// the page through textContent only, never as HTML.
//
// Built for 100,000 tenants: the snapshot is read once, then the server's event stream
// (api/events) keeps it current; only the rows on screen exist in the page (a virtual
// list: the rows' box is as tall as all of them, the table holds the visible ones and
// moves within it), and the order and the filter are worked out over plain objects, at
// most a few times a second however fast results come.
(function () {
  const params = new URLSearchParams(window.location.search);
  // ?refresh=SECONDS (at least 1; default 5): how soon to ask again when the server
  // cannot be reached.
  const REFRESH_MS = Math.max(1, Number(params.get("refresh")) || 5) * 1000;
  const STALE_MS = 20000;
  // Redraws after results: at most this often (a full pass sends thousands a second).
  const REDRAW_MS = 250;
  // Rows drawn above and below the screen, so a scroll shows drawn rows at once.
  const OVERSCAN = 20;
  const RANK = { CRITICAL: 4, UNKNOWN: 3, WARNING: 2, PENDING: 1, OK: 0 };
  const WORDS = [["CRITICAL", "✖", "critical"], ["UNKNOWN", "?", "unknown"],
    ["WARNING", "▲", "warning"], ["OK", "✔", "ok"], ["PENDING", "·", "not checked yet"]];
  const CELLS = ["state", "name", "ctx", "env", "run", "host", "ver", "up", "checked", "change", "problem", "mark"];
  // The token never lives in the page: /?token=… is answered with this address without it
  // and an HttpOnly cookie, which fetch() and EventSource send on their own.
  const viewport = document.getElementById("viewport");
  const table = document.getElementById("tenants");
  const tbody = table.tBodies[0];
  const filterBox = document.getElementById("filter");
  const attention = document.getElementById("attention");
  const statusLine = document.getElementById("status");
  let entries = []; // every tenant, in the list's order: {data, position, rank, search, needsAttention}
  const byKey = new Map();
  let shown = []; // the entries that pass the filter, worst first
  const pool = []; // the table's rows: {tr, cells, entry, rev}
  let rowStep = 0; // pixels from one row to the next, measured
  let clockOffset = 0; // server time minus this browser's time
  let lastHeard = 0; // when the server last answered (snapshot, event, stream opened)
  let events = null;
  let loading = false;
  let viewDirty = false;
  let redrawTimer = 0;

  function text(el, value) {
    const none = value === null || value === undefined || value === "";
    const shownText = none ? "-" : String(value);
    if (el.textContent !== shownText) el.textContent = shownText;
    if (el.tagName === "TD") {
      el.classList.toggle("none", none);
      // rows are one line: a cell cut short shows its whole text on hover (as text)
      const whole = none ? "" : shownText;
      if (el.title !== whole) el.title = whole;
    }
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

  // -- the model: plain objects, one per tenant --------------------------------------------

  function entryFor(t, position) {
    return {
      data: t,
      position,
      rank: RANK[t.severity] || 0,
      search: [t.context_id, t.label, t.env, t.endpoint_host, t.state, t.bucket,
        t.error ? t.error.kind : ""].join(" ").toLowerCase(),
      // As the board: muted or acknowledged is someone's already.
      needsAttention: !t.marks && (t.severity !== "OK" && t.severity !== "PENDING" || !!t.running_mismatch),
    };
  }

  function load(snapshot) {
    clockOffset = Date.parse(snapshot.generated_at) - Date.now();
    entries = snapshot.tenants.map(entryFor);
    byKey.clear();
    for (const entry of entries) byKey.set(entry.data.key, entry);
    renderFileError(snapshot);
    renderOutage(snapshot.outage);
    viewDirty = true;
    redraw();
  }

  function applyResult(t) {
    const entry = byKey.get(t.key);
    if (!entry || t.rev < entry.data.rev) return; // not listed (a reset follows), or older
    const updated = entryFor(t, entry.position);
    if (updated.rank !== entry.rank || updated.search !== entry.search ||
        updated.needsAttention !== entry.needsAttention) viewDirty = true;
    Object.assign(entry, updated);
    scheduleRedraw();
  }

  // -- what is shown: the filter and the order, then the rows on screen ---------------------

  function computeView() {
    const needle = filterBox.value.trim().toLowerCase();
    const onlyAttention = attention.checked;
    const byRank = [[], [], [], [], []];
    const counts = { CRITICAL: 0, UNKNOWN: 0, WARNING: 0, OK: 0, PENDING: 0 };
    for (const entry of entries) {
      counts[entry.data.severity] = (counts[entry.data.severity] || 0) + 1;
      if (needle && !entry.search.includes(needle)) continue;
      if (onlyAttention && !entry.needsAttention) continue;
      byRank[entry.rank].push(entry);
    }
    shown = byRank[4].concat(byRank[3], byRank[2], byRank[1], byRank[0]);
    renderSummary(counts);
    const total = entries.length;
    text(document.getElementById("shown"), shown.length === total ? total + " tenants" : shown.length + " of " + total + " tenants");
    document.getElementById("empty").hidden = shown.length !== 0 || total === 0;
    const hash = needle ? "#q=" + encodeURIComponent(filterBox.value.trim()) : "";
    if (window.location.hash !== hash) history.replaceState(null, "", hash || window.location.pathname + window.location.search);
  }

  function makeRow() {
    const tr = document.createElement("tr");
    const cells = {};
    for (const name of CELLS) {
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
    return { tr, cells, entry: null, rev: -1 };
  }

  function fill(row, entry) {
    const c = row.cells;
    const t = entry.data;
    row.tr.className = "sev-" + t.severity;
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
    text(c.problem, t.during_outage ? "not checked: the server cannot reach SuperOffice"
      : t.error ? t.error.kind + ": " + t.error.message
      : t.running_mismatch ? "IsRunning disagrees with State" : "");
    text(c.mark, markText(t.marks));
    text(c.checked, ago(t.checked_at));
    text(c.change, ago(t.last_change));
    row.entry = entry;
    row.rev = t.rev;
  }

  function headerHeight() {
    return table.tHead && table.tHead.offsetParent !== null ? table.tHead.offsetHeight : 0;
  }

  // The rows on screen (and a few around them) drawn into the table, which is moved to
  // where they are in the box as tall as every row.
  function renderRows() {
    const count = shown.length;
    const step = rowStep || 40;
    const top = viewport.getBoundingClientRect().top + window.scrollY + headerHeight();
    const visible = Math.ceil(window.innerHeight / step) + 2 * OVERSCAN;
    // (after a filter the list may be shorter than where the page is scrolled to)
    const below = Math.floor((window.scrollY - top) / step) - OVERSCAN;
    const first = Math.max(0, Math.min(below, count - visible));
    const last = Math.min(count, first + visible);
    while (pool.length < last - first) pool.push(makeRow());
    const wanted = last - first;
    for (let index = 0; index < wanted; index++) {
      const row = pool[index];
      const entry = shown[first + index];
      if (row.entry !== entry || row.rev !== entry.data.rev) fill(row, entry);
      if (tbody.children[index] !== row.tr) tbody.insertBefore(row.tr, tbody.children[index] || null);
    }
    while (tbody.children.length > wanted) tbody.lastChild.remove();
    for (let index = wanted; index < pool.length; index++) pool[index].entry = null;
    if (wanted >= 2) {
      const measured = tbody.children[1].offsetTop - tbody.children[0].offsetTop;
      if (measured > 0 && Math.abs(measured - rowStep) > 0.5) {
        rowStep = measured;
        return renderRows(); // the first guess was off: place them again
      }
    }
    table.style.top = first * step + "px";
    viewport.style.height = headerHeight() + count * step + "px";
  }

  function redraw() {
    window.clearTimeout(redrawTimer);
    redrawTimer = 0;
    if (viewDirty) computeView();
    viewDirty = false;
    renderRows();
  }

  function scheduleRedraw() {
    if (!redrawTimer) redrawTimer = window.setTimeout(redraw, REDRAW_MS);
  }

  function renderSummary(counts) {
    const list = document.getElementById("summary");
    const items = [];
    for (const [severity, glyph, label] of WORDS) {
      const count = counts[severity] || 0;
      if (!count && severity !== "OK") continue;
      const li = document.createElement("li");
      li.className = "sev-" + severity;
      li.textContent = glyph + " " + count + " " + label;
      items.push(li);
    }
    list.replaceChildren(...items);
  }

  function renderFileError(snapshot) {
    const fileError = document.getElementById("file-error");
    fileError.hidden = !snapshot.tenant_file_error;
    text(fileError, snapshot.tenant_file_error ? "The tenant file cannot be used; showing the list it had. " + snapshot.tenant_file_error : "");
  }

  // The server's own outage (it cannot reach SuperOffice): the rows show what was last
  // known, and failed checks in it are not the tenants' failures.
  function renderOutage(outage) {
    const banner = document.getElementById("outage");
    const open = !!outage && !outage.ended;
    banner.hidden = !open;
    text(banner, open ? "The server cannot reach SuperOffice since " + when(outage.since) + ": " +
      outage.reason + ". The rows show what was last known; failed checks are not the tenants'." : "");
  }

  function updateTimes() {
    for (const row of pool) {
      if (!row.entry) continue;
      text(row.cells.checked, ago(row.entry.data.checked_at));
      text(row.cells.change, ago(row.entry.data.last_change));
    }
    const age = Date.now() - lastHeard;
    const open = events && events.readyState === EventSource.OPEN;
    if (lastHeard && !open && age > STALE_MS) {
      statusLine.classList.add("stale");
      text(statusLine, "no answer from the server for " + Math.round(age / 1000) + "s: the page may be out of date");
    }
  }

  function heard() {
    lastHeard = Date.now();
    statusLine.classList.remove("stale");
    text(statusLine, "updated " + clock(new Date(), true));
  }

  // -- the server: the snapshot once, then the event stream ---------------------------------

  async function loadSnapshot() {
    if (loading) return;
    loading = true;
    try {
      const response = await fetch("api/snapshot", { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" });
      if (response.status !== 200) {
        throw new Error(response.status === 401 ? "the server asks for a token: open this page as /?token=TOKEN" : "HTTP " + response.status);
      }
      const snapshot = await response.json();
      load(snapshot);
      heard();
      follow(snapshot.seq);
    } catch (error) {
      statusLine.classList.add("stale");
      text(statusLine, "cannot reach the server: " + error.message);
      window.setTimeout(loadSnapshot, REFRESH_MS);
    } finally {
      loading = false;
    }
  }

  // Events after the snapshot's seq; the browser reconnects on its own (with the last
  // event's id), and the server replays what was missed or says reset.
  function follow(seq) {
    if (events) events.close();
    events = new EventSource("api/events?last_event_id=" + encodeURIComponent(seq));
    events.addEventListener("open", heard);
    events.addEventListener("result", (event) => {
      heard();
      applyResult(JSON.parse(event.data));
    });
    events.addEventListener("outage", (event) => {
      heard();
      renderOutage(JSON.parse(event.data));
    });
    events.addEventListener("reset", () => {
      events.close();
      events = null;
      loadSnapshot();
    });
    events.addEventListener("error", () => {
      if (events && events.readyState === EventSource.CLOSED) {
        events = null;
        window.setTimeout(loadSnapshot, REFRESH_MS);
      }
    });
  }

  let scrolling = false;
  function onScroll() {
    if (scrolling) return;
    scrolling = true;
    window.requestAnimationFrame(() => {
      scrolling = false;
      renderRows();
    });
  }

  function refilter() {
    viewDirty = true;
    redraw();
  }

  const initial = window.location.hash.match(/^#q=(.*)$/);
  if (initial) filterBox.value = decodeURIComponent(initial[1]);
  filterBox.addEventListener("input", refilter);
  attention.addEventListener("change", refilter);
  window.addEventListener("scroll", onScroll, { passive: true });
  window.addEventListener("resize", () => { rowStep = 0; renderRows(); });
  window.setInterval(updateTimes, 1000);
  computeView();
  loadSnapshot();
})();
