"use strict";
// Draws the report from the embedded document, a page at a time: at most TESTS_PAGE test
// rows, LANES_PAGE timeline lanes, ROWS_PAGE table rows, and per lane at most MAX_MARKS
// marks (denser uses are aggregated into bins), so the DOM stays small on big runs.
(function () {
  const TESTS_PAGE = 50, LANES_PAGE = 40, ROWS_PAGE = 50, MAX_MARKS = 120;
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#ad494a", "#637939"];
  const SVG = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("gcpfakes-data").textContent);
  const state = { filter: "", outcome: "", page: 0, test: null, client: null,
    lanePage: 0, clientPage: 0, requestPage: 0 };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  function pager(nav, total, size, page, go) {
    nav.replaceChildren();
    const pages = Math.ceil(total / size);
    if (pages <= 1) return;
    const prev = el("button", { type: "button" }, "‹ previous");
    prev.disabled = page === 0;
    prev.onclick = () => go(page - 1);
    const next = el("button", { type: "button" }, "next ›");
    next.disabled = page >= pages - 1;
    next.onclick = () => go(page + 1);
    const first = page * size + 1, last = Math.min(total, (page + 1) * size);
    nav.append(prev, el("span", {}, `${first}–${last} of ${total}`), next);
  }
  // Rows and legend keys act on Enter and Space as on a click.
  function clickable(node, action) {
    node.setAttribute("tabindex", "0");
    node.onclick = action;
    node.onkeydown = (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); action(); }
    };
  }
  function shorten(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }
  function count(n, noun) { return `${n} ${noun}${n === 1 ? "" : "s"}`; }
  function end(use) { return use.end_seq === null ? use.seq : use.end_seq; }

  // -- tests ---------------------------------------------------------------------------
  function visibleTests() {
    const text = state.filter.toLowerCase();
    return data.tests.filter((t) => {
      if (text && !t.nodeid.toLowerCase().includes(text)) return false;
      if (state.outcome === "flagged") return t.flagged.length > 0;
      if (state.outcome === "usage") return t.usage !== null;
      return !state.outcome || t.outcome === state.outcome;
    });
  }
  function renderTests() {
    const tests = visibleTests();
    const pages = Math.max(1, Math.ceil(tests.length / TESTS_PAGE));
    state.page = Math.min(state.page, pages - 1);
    const body = $("tests").tBodies[0];
    body.replaceChildren();
    for (const test of tests.slice(state.page * TESTS_PAGE, (state.page + 1) * TESTS_PAGE)) {
      const u = test.usage;
      const row = el("tr", { "data-nodeid": test.nodeid });
      if (test === state.test) row.className = "selected";
      row.append(el("td", { class: `verdict ${test.outcome}` }, test.outcome),
        el("td", { class: "name" }, test.nodeid + (test.flagged.length ? " ⚑" : "")),
        el("td", { class: "num" }, u ? u.clients.length : "–"),
        el("td", { class: "num" }, u ? u.requests.length : "–"),
        el("td", { class: "num" }, u ? u.uses.length : "–"));
      if (test.flagged.length) row.cells[1].classList.add("flag");
      clickable(row, () => select(test));
      body.append(row);
    }
    pager($("tests-pager"), tests.length, TESTS_PAGE, state.page,
      (p) => { state.page = p; renderTests(); });
  }

  // -- one test ------------------------------------------------------------------------
  function select(test) {
    state.test = test;
    state.client = null;
    state.lanePage = state.clientPage = state.requestPage = 0;
    renderTests();
    renderDetail();
  }
  function colours(usage) {
    const map = new Map();
    usage.clients.forEach((c, i) => map.set(c.serial, PALETTE[i % PALETTE.length]));
    return map;
  }
  function renderDetail() {
    const test = state.test;
    $("detail-title").textContent = test ? test.nodeid : "No test selected";
    for (const id of ["legend", "timeline", "lanes-pager", "clients-pager", "requests-pager"])
      $(id).replaceChildren();
    $("clients").tBodies[0].replaceChildren();
    $("requests").tBodies[0].replaceChildren();
    if (!test) return;
    const usage = test.usage;
    let note = `Outcome: ${test.outcome}. `;
    if (!usage) note += "This test used no GCP fakes.";
    else {
      note += `${count(usage.clients.length, "client")}, ` +
        `${count(usage.requests.length, "request")}, ${count(usage.uses.length, "use")}.`;
      if (test.flagged.length) note += ` Flagged: ${test.flagged.map((s) =>
        usage.clients.find((c) => c.serial === s).label).join(", ")} in use by concurrent ` +
        "requests; their overlapping uses are outlined in red.";
    }
    $("detail-note").textContent = note;
    if (!usage) return;
    const colour = colours(usage);
    renderLegend(usage, colour);
    renderTimeline(test, colour);
    renderClients(test, colour);
    renderRequests(usage);
  }
  function focusClient(serial) {
    state.client = state.client === serial ? null : serial;
    applyFocus();
  }
  function applyFocus() {
    const chart = document.querySelector("#timeline svg");
    if (chart) {
      chart.classList.toggle("focus", state.client !== null);
      for (const mark of chart.querySelectorAll(".mark")) {
        const clients = mark.getAttribute("data-clients").split(" ").map(Number);
        mark.classList.toggle("hl", clients.includes(state.client));
      }
    }
    for (const node of document.querySelectorAll("[data-client]"))
      node.classList.toggle("active", Number(node.getAttribute("data-client")) === state.client);
  }
  function renderLegend(usage, colour) {
    const legend = $("legend");
    for (const c of usage.clients.slice(0, 24)) {
      const key = el("span", { class: "client-key", "data-client": c.serial, role: "button",
        title: "highlight this client's uses" });
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = colour.get(c.serial);
      key.append(swatch, document.createTextNode(c.label));
      clickable(key, () => focusClient(c.serial));
      legend.append(key);
    }
    legend.append(el("span", { class: "hint" }, "click a client to highlight its uses"));
    if (usage.clients.length > 24)
      legend.append(el("span", {}, `… and ${usage.clients.length - 24} more (see Clients)`));
  }

  function lanesOf(usage) {
    const pids = new Set([...usage.requests.map((r) => r.pid), ...usage.uses.map((u) => u.pid)]);
    const many = pids.size > 1;
    const lanes = new Map();
    for (const r of usage.requests) {
      lanes.set(`r${r.serial}`, { label: r.label || "(request)",
        sub: `#${r.serial} ${shorten(r.thread, 30)}${many ? ` pid ${r.pid}` : ""}`,
        start: r.start_seq, end: r.end_seq, uses: [] });
    }
    for (const u of usage.uses) {
      const key = u.request === null ? `t${u.pid}:${u.thread}` : `r${u.request}`;
      if (!lanes.has(key)) {
        // A use outside any request gets a lane per thread; a request the recording does
        // not hold (never seen starting) keeps its number.
        const label = u.request === null ? "outside any request" : `request #${u.request}`;
        lanes.set(key, { label, sub: `${shorten(u.thread, 30)}${many ? ` pid ${u.pid}` : ""}`,
          start: null, end: null, uses: [] });
      }
      lanes.get(key).uses.push(u);
    }
    return [...lanes.values()];
  }
  function renderTimeline(test, colour) {
    const usage = test.usage;
    const lanes = lanesOf(usage);
    if (!lanes.length) {
      $("timeline").append(el("p", {}, "No requests and no uses were recorded."));
      return;
    }
    // The page's lanes set the scale: a page of 40 out of 500 requests fills the width.
    const shown = lanes.slice(state.lanePage * LANES_PAGE, (state.lanePage + 1) * LANES_PAGE);
    let t0 = Infinity, t1 = -Infinity;
    for (const lane of shown) {
      if (lane.start !== null) { t0 = Math.min(t0, lane.start); t1 = Math.max(t1, lane.start); }
      if (lane.end !== null) t1 = Math.max(t1, lane.end);
      for (const u of lane.uses) { t0 = Math.min(t0, u.seq); t1 = Math.max(t1, end(u)); }
    }
    if (t1 <= t0) t1 = t0 + 1;
    const LABEL = 230, W = 700, LANE = 28, TOP = 18;
    const x = (t) => LABEL + ((t - t0) / (t1 - t0)) * W;
    const overlapping = new Set(test.overlapping);
    const height = TOP + shown.length * LANE + 4;
    const chart = svg("svg", { viewBox: `0 0 ${LABEL + W + 10} ${height}`, role: "img",
      "aria-label": `timeline of ${lanes.length} lanes` });
    const axis = svg("text", { x: LABEL, y: 11, class: "axis" });
    axis.textContent = `logical time ${t0} → ${t1}`;
    chart.append(axis);
    shown.forEach((lane, i) => {
      const y = TOP + i * LANE;
      const group = svg("g", { class: "lane", transform: `translate(0 ${y})` });
      const label = svg("text", { x: 4, y: 10, class: "lane-label" });
      label.textContent = shorten(lane.label, 34);
      const sub = svg("tspan", { x: 4, dy: 12, class: "sub" });
      sub.textContent = lane.sub;  // the thread name is shortened, the pid never
      label.append(sub);
      group.append(label, svg("line", { x1: 0, x2: LABEL + W, y1: LANE - 1, y2: LANE - 1,
        class: "lane-sep" }));
      if (lane.start !== null) {
        const stop = lane.end === null ? t1 : lane.end;
        group.append(svg("rect", { x: x(lane.start), y: 4, height: LANE - 8,
          width: Math.max(1, x(stop) - x(lane.start)),
          class: lane.end === null ? "life running" : "life" }));
      }
      for (const mark of marksOf(lane.uses, x, LABEL, W)) {
        const clients = [...mark.clients.keys()];
        const main = clients.reduce((a, b) => (mark.clients.get(b) > mark.clients.get(a) ? b : a));
        const rect = svg("rect", { x: mark.x0, y: 8, width: Math.max(3, mark.x1 - mark.x0),
          height: LANE - 16, fill: colour.get(main) || "#888",
          class: mark.uses.some((u) => overlapping.has(u.seq)) ? "mark overlap" : "mark",
          "data-clients": clients.join(" "), "data-lane": String(i) });
        rect.gcpUses = mark.uses;
        group.append(rect);
      }
      chart.append(group);
    });
    chart.addEventListener("mousemove", tooltip);
    chart.addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
    chart.addEventListener("click", (event) => {
      const uses = event.target.gcpUses;
      if (uses) focusClient(uses[0].client);
    });
    $("timeline").append(chart);
    pager($("lanes-pager"), lanes.length, LANES_PAGE, state.lanePage,
      (p) => { state.lanePage = p; $("timeline").replaceChildren(); renderTimeline(test, colour);
        applyFocus(); });
    applyFocus();
  }
  // One mark per use while a lane has few; past MAX_MARKS, one per pixel bin of uses.
  function marksOf(uses, x, left, width) {
    if (uses.length <= MAX_MARKS) {
      return uses.map((u) => ({ x0: x(u.seq), x1: x(end(u)), uses: [u],
        clients: new Map([[u.client, 1]]) }));
    }
    const bin = width / MAX_MARKS;
    const bins = new Map();
    for (const u of uses) {
      const k = Math.min(MAX_MARKS - 1, Math.floor((x(u.seq) - left) / bin));
      let mark = bins.get(k);
      if (!mark) bins.set(k, mark = { x0: x(u.seq), x1: x(end(u)), uses: [], clients: new Map() });
      mark.x0 = Math.min(mark.x0, x(u.seq));
      mark.x1 = Math.max(mark.x1, Math.min(x(end(u)), mark.x0 + bin));
      mark.uses.push(u);
      mark.clients.set(u.client, (mark.clients.get(u.client) || 0) + 1);
    }
    return [...bins.values()];
  }
  function tooltip(event) {
    const tip = $("tooltip");
    const uses = event.target.gcpUses;
    if (!uses) { tip.hidden = true; return; }
    const usage = state.test.usage;
    const label = (serial) => (usage.clients.find((c) => c.serial === serial) || {}).label;
    const lines = uses.slice(0, 6).map((u) =>
      `${label(u.client)}.${u.method}  at ${u.site.display}  [${u.seq}–${end(u)}]  ${u.thread}`);
    if (uses.length > 6) lines.push(`… and ${uses.length - 6} more uses`);
    tip.textContent = lines.join("\n");
    tip.style.left = `${event.clientX + 12}px`;
    tip.style.top = `${event.clientY + 12}px`;
    tip.hidden = false;
  }

  // -- tables --------------------------------------------------------------------------
  function renderClients(test, colour) {
    const usage = test.usage;
    const counts = new Map(), verdicts = new Map();
    for (const u of usage.uses) counts.set(u.client, (counts.get(u.client) || 0) + 1);
    for (const f of usage.findings) {
      if (!verdicts.has(f.client)) verdicts.set(f.client, []);
      if (!verdicts.get(f.client).includes(f.kind)) verdicts.get(f.client).push(f.kind);
    }
    const body = $("clients").tBodies[0];
    body.replaceChildren();
    for (const c of usage.clients.slice(state.clientPage * ROWS_PAGE, (state.clientPage + 1) * ROWS_PAGE)) {
      const row = el("tr", { class: "client", "data-client": c.serial, title: "highlight its uses" });
      const name = el("td");
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = colour.get(c.serial);
      name.append(swatch, document.createTextNode(c.label));
      const verdict = (verdicts.get(c.serial) || ["ok"]).join(", ");
      row.append(name, el("td", {}, c.class_name), el("td", {}, c.created_at.display),
        el("td", {}, c.created_thread), el("td", { class: "num" }, c.pid),
        el("td", {}, c.closed_seq === null ? "no" : `yes, at ${c.closed_at ? c.closed_at.display : c.closed_seq}`),
        el("td", { class: "num" }, counts.get(c.serial) || 0),
        el("td", { class: verdict === "ok" ? "" : "flag" }, verdict));
      clickable(row, () => focusClient(c.serial));
      body.append(row);
    }
    pager($("clients-pager"), usage.clients.length, ROWS_PAGE, state.clientPage,
      (p) => { state.clientPage = p; renderClients(test, colour); applyFocus(); });
  }
  function renderRequests(usage) {
    const counts = new Map(), clients = new Map();
    for (const u of usage.uses) {
      if (u.request === null) continue;
      counts.set(u.request, (counts.get(u.request) || 0) + 1);
      if (!clients.has(u.request)) clients.set(u.request, new Set());
      clients.get(u.request).add(u.client);
    }
    const body = $("requests").tBodies[0];
    body.replaceChildren();
    for (const r of usage.requests.slice(state.requestPage * ROWS_PAGE, (state.requestPage + 1) * ROWS_PAGE)) {
      const used = [...(clients.get(r.serial) || [])].map((s) => `#${s}`).join(" ");
      body.append(el("tr", {}, undefined));
      body.lastChild.append(el("td", { class: "num" }, r.serial), el("td", {}, r.label),
        el("td", {}, r.thread), el("td", { class: "num" }, r.pid),
        el("td", { class: "num" }, r.start_seq),
        el("td", { class: "num" }, r.end_seq === null ? "running" : r.end_seq),
        el("td", { class: "num" }, counts.get(r.serial) || 0), el("td", {}, used));
    }
    pager($("requests-pager"), usage.requests.length, ROWS_PAGE, state.requestPage,
      (p) => { state.requestPage = p; renderRequests(usage); });
  }

  // -- start ---------------------------------------------------------------------------
  $("test-filter").addEventListener("input", (e) => { state.filter = e.target.value; state.page = 0; renderTests(); });
  $("test-outcome").addEventListener("change", (e) => { state.outcome = e.target.value; state.page = 0; renderTests(); });
  const first = data.tests.find((t) => t.flagged.length) ||
    data.tests.find((t) => t.usage && t.outcome !== "passed") ||
    data.tests.find((t) => t.usage) || data.tests[0] || null;
  if (first) {
    // Open on the page that holds the first test worth a look.
    state.page = Math.floor(data.tests.indexOf(first) / TESTS_PAGE);
    select(first);
  } else renderTests();
  document.body.setAttribute("data-ready", "true");
})();
