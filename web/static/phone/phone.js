/* The grid worker's phone page (web/phone.py): my tasks, report a matter, feedback, patrol.
 *
 * Every action goes into the outbox first (IndexedDB, an id made here with
 * crypto.randomUUID()), shows as 待发送, and is sent when the network is there: on the
 * `online` event, on page load, after each action and every half minute. The server stores
 * each once whatever the number of sends: reports by external_id, steps by client_id, photos
 * by digest, check-ins by id, tracks by digest. An answer of 4xx (the report moved on, a
 * refused value) marks the action failed with the server's message and it is not sent again;
 * no network, or a busy server, leaves it waiting.
 */
(function () {
  "use strict";

  const cfg = JSON.parse(document.getElementById("ph-config").textContent);
  const t = cfg.texts;
  const $ = (id) => document.getElementById(id);
  const state = {
    tasks: [], categories: {}, position: null, photos: [], feedbackPhotos: [],
    recording: null, watch: null, flushing: null, again: false, signedOut: false, seq: 0,
    sent: false,
  };

  // --- IndexedDB: the outbox, the track being recorded, copies of what was read ------------

  const DB_NAME = "geogrid-phone:" + cfg.user.name;
  let dbPromise = null;

  function db() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const opening = indexedDB.open(DB_NAME, 1);
        opening.onupgradeneeded = () => {
          const base = opening.result;
          base.createObjectStore("outbox", { keyPath: "id" });
          base.createObjectStore("recording", { keyPath: "id" });
          base.createObjectStore("kept", { keyPath: "key" });
        };
        opening.onsuccess = () => resolve(opening.result);
        opening.onerror = () => reject(opening.error);
      });
    }
    return dbPromise;
  }

  async function run(store, mode, work) {
    const base = await db();
    return new Promise((resolve, reject) => {
      const tx = base.transaction(store, mode);
      const request = work(tx.objectStore(store));
      tx.oncomplete = () => resolve(request ? request.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  const put = (store, value) => run(store, "readwrite", (s) => s.put(value));
  const get = (store, key) => run(store, "readonly", (s) => s.get(key));
  const all = (store) => run(store, "readonly", (s) => s.getAll());
  const remove = (store, key) => run(store, "readwrite", (s) => s.delete(key));

  async function keep(key, value) { await put("kept", { key, value }); }
  async function kept(key) { const found = await get("kept", key); return found && found.value; }

  // --- the outbox ----------------------------------------------------------------------------

  /** Put an action in the outbox, then try to send everything waiting. */
  async function enqueue(kind, fields) {
    const item = Object.assign({
      id: fields.id || crypto.randomUUID(), kind, state: "pending", message: "",
      created: new Date().toISOString(), seq: Date.now() * 1000 + (state.seq++ % 1000),
    }, fields);
    await put("outbox", item);
    await renderOutbox();
    flush();
    return item;
  }

  async function outbox() {
    return (await all("outbox")).sort((a, b) => a.seq - b.seq);
  }

  /** Send what waits, oldest first; one flush at a time (a call meanwhile runs it again). */
  function flush() {
    if (state.flushing) { state.again = true; return state.flushing; }
    document.body.dataset.flushing = "true";
    state.flushing = (async () => {
      do {
        state.again = false;
        const waiting = (await outbox()).filter((i) => i.state === "pending" || i.state === "sending");
        for (const item of waiting) {
          const outcome = await sendOne(item);
          state.sent = state.sent || outcome === "done";
          await renderOutbox();
          if (outcome === "stop") { break; }
        }
      } while (state.again);
    })().catch((error) => say(String(error), true)).finally(async () => {
      state.flushing = null;
      document.body.dataset.flushing = "false";
      await renderOutbox();
      if (state.sent && !state.signedOut) { state.sent = false; loadTasks(); }
    });
    return state.flushing;
  }

  /** Send one action: "done", "failed", "wait" (its report is not stored yet) or "stop". */
  async function sendOne(item) {
    const request = await requestOf(item);
    if (request.wait) { return "wait"; }
    if (request.failed) { return finish(item, "failed", request.failed); }
    let response;
    try {
      response = await send(request);
      if (response.status === 400 && (await errorOf(response.clone())).includes("CSRF")) {
        await renewToken();
        response = await send(request);
      }
    } catch (error) {  // no network: it waits for the next chance
      await finish(item, "pending", t.retryLater);
      return "stop";
    }
    if (response.ok) {
      const body = await response.json().catch(() => ({}));
      return finish(item, "done", "", item.kind === "report" ? { serverId: body.id, ticket: body.ticket } : {});
    }
    if (response.status === 401 || response.status === 400 && (await errorOf(response.clone())).includes("CSRF")) {
      state.signedOut = true;
      showSignIn();
      await finish(item, "pending", t.signInAgain);
      return "stop";
    }
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      await finish(item, "pending", await errorOf(response));
      return "stop";
    }
    return finish(item, "failed", await errorOf(response));  // refused: sending again would not help
  }

  async function finish(item, to, message, extra) {
    Object.assign(item, extra || {}, { state: to, message, tried: new Date().toISOString() });
    await put("outbox", item);
    return to;
  }

  /** The HTTP request of an action: {method, url, body, type}, or {wait} / {failed}. */
  async function requestOf(item) {
    if (item.kind === "report") {
      return { url: cfg.api.reports, body: JSON.stringify(item.body), type: "application/json" };
    }
    if (item.kind === "media") {
      const reportId = await reportIdOf(item);
      if (reportId.wait || reportId.failed) { return reportId; }
      const form = new FormData();
      form.append("photo", item.blob, item.name || "photo.jpg");
      form.append("stage", item.stage);
      return { url: `${cfg.api.reports}/${reportId.id}/media?stage=${item.stage}`, body: form };
    }
    if (item.kind === "transition") {
      const reportId = await reportIdOf(item);
      if (reportId.wait || reportId.failed) { return reportId; }
      return { url: `${cfg.api.reports}/${reportId.id}/transitions`, body: JSON.stringify(item.body),
               type: "application/json" };
    }
    if (item.kind === "checkin") {
      return { url: cfg.api.checkins, body: JSON.stringify(item.body), type: "application/json" };
    }
    return { url: cfg.api.tracks, body: item.gpx, type: "application/gpx+xml" };
  }

  /** The stored report an action is about: known, or its own report's from the outbox. */
  async function reportIdOf(item) {
    if (item.reportId) { return { id: item.reportId }; }
    const parent = await get("outbox", item.parent);
    if (!parent || parent.state === "failed") { return { failed: t.reportFirst }; }
    if (parent.state !== "done") { return { wait: true }; }
    return { id: parent.serverId };
  }

  function send(request) {
    const headers = { "X-CSRFToken": cfg.csrfToken, Accept: "application/json" };
    if (request.type) { headers["Content-Type"] = request.type; }
    return fetch(request.url, { method: "POST", headers, body: request.body,
                                credentials: "same-origin", cache: "no-store" });
  }

  async function errorOf(response) {
    try {
      const body = await response.json();
      return (body.error && body.error.message) || response.statusText || String(response.status);
    } catch (error) {
      return `${response.status} ${response.statusText}`;
    }
  }

  /** A fresh CSRF token from a fresh copy of the page (the kept one may be older). */
  async function renewToken() {
    const response = await fetch(cfg.scope, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok || response.redirected) { return; }
    const html = await response.text();
    const found = new DOMParser().parseFromString(html, "text/html").getElementById("ph-config");
    if (found) { cfg.csrfToken = JSON.parse(found.textContent).csrfToken; }
  }

  function showSignIn() {
    say(t.signInAgain, true);
    const link = document.createElement("a");
    link.href = cfg.login;
    link.textContent = " " + t.signIn;
    $("ph-message").append(link);
  }

  async function renderOutbox() {
    const items = await outbox();
    const waiting = items.filter((i) => i.state === "pending" || i.state === "sending");
    document.body.dataset.pending = String(waiting.length);
    document.body.dataset.failed = String(items.filter((i) => i.state === "failed").length);
    $("ph-pending").textContent = waiting.length ? String(waiting.length) : "";
    const list = $("ph-outbox-list");
    list.replaceChildren(...items.slice().reverse().map(outboxRow));
    if (!items.length) { list.append(element("li", "note", t.nothingPending)); }
    renderCheckins(items);
  }

  function outboxRow(item) {
    const row = element("li");
    row.dataset.id = item.id;
    row.dataset.kind = item.kind;
    row.dataset.state = item.state;
    const badge = item.state === "done" ? "done" : item.state === "failed" ? "failed" : "pending";
    row.append(element("b", "", t["kind_" + item.kind] + " "),
               element("span", "badge " + badge, t["state_" + item.state]), " ",
               element("span", "", item.label || ""),
               element("div", "meta", when(item.created) + (item.ticket ? " · " + item.ticket : "")));
    if (item.message && item.state !== "done") { row.append(element("div", "meta", item.message)); }
    return row;
  }

  // --- my tasks --------------------------------------------------------------------------------

  async function loadTasks() {
    let items = null;
    try {
      const response = await fetch(cfg.api.queue, { credentials: "same-origin" });
      if (response.status === 401) { state.signedOut = true; showSignIn(); }
      if (response.ok) { items = (await response.json()).items || []; await keep("tasks", items); }
    } catch (error) { /* offline without a service worker's copy: the page's own below */ }
    $("ph-tasks-note").textContent = items ? "" : t.cachedTasks;
    state.tasks = items || (await kept("tasks")) || [];
    await renderTasks();
  }

  /** The status a report will have once the steps waiting in the outbox are sent. */
  function localStatus(report, items) {
    const steps = items.filter((i) => i.kind === "transition" && i.reportId === report.id
                                      && i.state !== "failed" && i.state !== "done");
    return steps.length ? steps[steps.length - 1].body.status : report.status;
  }

  async function renderTasks() {
    const items = await outbox();
    const list = $("ph-task-list");
    list.replaceChildren(...state.tasks.map((report) => {
      const row = element("li", "task");
      row.dataset.id = report.id;
      const status = localStatus(report, items);
      row.append(element("b", "", `#${report.id} ${categoryName(report.category)} `));
      if (report.warning) { row.append(element("span", "badge " + report.warning, t[report.warning])); }
      if (status !== report.status) { row.append(" ", element("span", "badge pending", t.state_pending)); }
      row.append(element("div", "", (report.description || "").slice(0, 80)),
                 element("div", "meta", `${cfg.statuses[status] || status} · ${t.deadline} ${when(report.deadline)}`));
      row.addEventListener("click", () => openTask(report.id));
      return row;
    }));
    if (!state.tasks.length) { list.append(element("li", "note", t.noTasks)); }
    document.body.dataset.tasks = String(state.tasks.length);
  }

  async function openTask(id) {
    let report = state.tasks.find((r) => r.id === id) || null;
    let fresh = null;
    try {
      const response = await fetch(`${cfg.api.reports}/${id}`, { credentials: "same-origin" });
      if (response.ok) { fresh = await response.json(); await keep("report:" + id, fresh); }
    } catch (error) { /* offline without a service worker's copy: the page's own below */ }
    report = fresh || (await kept("report:" + id)) || report;
    if (report) { await renderTask(report.properties || report); }
  }

  async function renderTask(report) {
    const box = $("ph-task");
    const status = localStatus(report, await outbox());
    const facts = element("dl");
    for (const [name, value] of [[t.category, categoryName(report.category)],
                                 [t.status, cfg.statuses[status] || status],
                                 [t.received, when(report.received_at)],
                                 [t.deadline, when(report.deadline)],
                                 [t.description, report.description || "—"]]) {
      facts.append(element("dt", "", name), element("dd", "", value));
    }
    const back = button(t.back, () => { box.hidden = true; $("ph-task-list").hidden = false; });
    box.replaceChildren(back, element("h3", "", `#${report.id} ${categoryName(report.category)}`), facts);
    box.dataset.id = report.id;
    box.dataset.status = status;
    const photos = (report.media || []).map((m) => {
      const img = element("img");
      img.src = m.thumb_url || m.url;
      img.alt = t.photos;
      return img;
    });
    if (photos.length) { box.append(element("h4", "", t.photos), listOf("thumbs", photos)); }
    box.append(...actionsFor(report, status));
    if ((report.history || []).length) {
      box.append(element("h4", "", t.history), listOf("list", report.history.map((h) => element("div", "meta",
        `${when(h.at)} · ${cfg.statuses[h.to_status] || h.to_status || h.action}${h.note ? " · " + h.note : ""}`))));
    }
    box.hidden = false;
    $("ph-task-list").hidden = true;
  }

  /** The steps a grid worker takes on a task: start handling it, then report back. */
  function actionsFor(report, status) {
    if (status === "dispatched") {
      return [button(t.start, () => step(report, "in_progress", "dispatched", ""), "primary", "ph-start")];
    }
    if (status !== "in_progress") { return []; }
    const form = element("form");
    form.id = "ph-feedback-form";
    const note = element("textarea");
    note.id = "ph-feedback-note";
    note.rows = 3;
    note.maxLength = 2000;
    const noteLabel = element("label", "", t.feedbackNote);
    noteLabel.append(note);
    const { label, thumbs } = photoInput("ph-feedback-photos", state.feedbackPhotos = []);
    document.body.dataset.photos = "0";
    const submit = element("button", "", t.feedback);
    submit.type = "submit";
    form.append(noteLabel, label, thumbs, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!note.value.trim()) { say(t.needNote, true); return; }
      for (const photo of state.feedbackPhotos) {
        await enqueue("media", { reportId: report.id, stage: "feedback", blob: photo.blob,
                                 name: photo.name, label: `#${report.id}` });
      }
      state.feedbackPhotos = [];
      await step(report, "feedback", "in_progress", note.value.trim());
    });
    return [form];
  }

  async function step(report, status, expected, note) {
    const id = crypto.randomUUID();
    await enqueue("transition", { id, reportId: report.id, label: `#${report.id} → ${cfg.statuses[status]}`,
                                  body: { status, expected, note, client_id: id } });
    say(t.queued);
    await renderTask(report);
    await renderTasks();
  }

  // --- report a matter ------------------------------------------------------------------------

  async function loadCategories() {
    let tree = null;
    try {
      const response = await fetch(cfg.api.categories, { credentials: "same-origin" });
      if (response.ok) { tree = await response.json(); await keep("categories", tree); }
    } catch (error) { /* offline: the copy kept below */ }
    tree = tree || (await kept("categories"));
    if (!tree) { return; }
    const select = $("ph-category");
    const walk = (nodes, depth, path) => nodes.forEach((node) => {
      const name = cfg.lang === "zh" ? node.zh : node.en;
      state.categories[node.code] = path ? `${path} / ${name}` : name;
      const option = element("option", "", "\u3000".repeat(depth) + name);
      option.value = node.code;
      select.append(option);
      walk(node.children || [], depth + 1, state.categories[node.code]);
    });
    select.replaceChildren(select.options[0]);
    walk(tree.categories || [], 0, "");
  }

  function categoryName(code) { return state.categories[code] || code || ""; }

  function locate() {
    $("ph-position").textContent = t.locating;
    if (!navigator.geolocation) { $("ph-position").textContent = t.noPosition; return Promise.resolve(null); }
    return new Promise((resolve) => {
      navigator.geolocation.getCurrentPosition((found) => {
        state.position = { lon: found.coords.longitude, lat: found.coords.latitude,
                           accuracy: found.coords.accuracy };
        $("ph-position").textContent = `${state.position.lon.toFixed(6)}, ${state.position.lat.toFixed(6)}`
          + (found.coords.accuracy ? ` (${t.accuracy.replace("{m}", Math.round(found.coords.accuracy))})` : "");
        resolve(state.position);
      }, () => { $("ph-position").textContent = t.noPosition; resolve(null); },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
    });
  }

  async function submitReport(event) {
    event.preventDefault();
    const category = $("ph-category").value;
    if (!category) { say(t.needCategory, true); return; }
    if (!state.position) { say(t.needPosition, true); locate(); return; }
    const id = crypto.randomUUID();
    const body = { category, description: $("ph-description").value.trim(), lon: state.position.lon,
                   lat: state.position.lat, crs: "WGS-84", source: "grid_worker", external_id: id,
                   reported_at: new Date().toISOString() };
    await enqueue("report", { id, body, label: categoryName(category) });
    for (const photo of state.photos) {
      await enqueue("media", { parent: id, stage: "report", blob: photo.blob, name: photo.name,
                               label: categoryName(category) });
    }
    state.photos.length = 0;
    document.body.dataset.photos = "0";
    $("ph-report-thumbs").replaceChildren();
    $("ph-report-form").reset();
    say(t.queued);
  }

  /** A file input whose photos are shrunk on the phone and shown as thumbnails. */
  function photoInput(id, photos) {
    const label = element("label", "photo", t.addPhotos);
    const input = element("input");
    Object.assign(input, { id, type: "file", accept: "image/*", multiple: true });
    input.setAttribute("capture", "environment");
    label.append(input);
    const thumbs = element("ul", "thumbs");
    watchPhotos(input, thumbs, photos);
    return { label, thumbs };
  }

  function watchPhotos(input, thumbs, photos) {
    input.addEventListener("change", async () => {
      for (const file of input.files) {
        if (photos.length >= cfg.maxPhotos) { say(t.photoTooMany.replace("{n}", cfg.maxPhotos), true); break; }
        try {
          const blob = await shrink(file);
          photos.push({ blob, name: file.name.replace(/\.[^.]*$/, "") + ".jpg" });
          const img = element("img");
          img.src = URL.createObjectURL(blob);
          thumbs.append(listOf("", [img]).firstChild);
        } catch (error) {
          say(`${file.name}: ${error.message || error}`, true);
        }
      }
      input.value = "";
      document.body.dataset.photos = String(photos.length);
    });
  }

  /** The photo as a JPEG whose longer side is at most cfg.photoMaxSide: small uploads. */
  async function shrink(file) {
    const picture = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, cfg.photoMaxSide / Math.max(picture.width, picture.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(picture.width * scale));
    canvas.height = Math.max(1, Math.round(picture.height * scale));
    canvas.getContext("2d").drawImage(picture, 0, 0, canvas.width, canvas.height);
    picture.close();
    return new Promise((resolve, reject) => canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error("JPEG"))), "image/jpeg", 0.85));
  }

  // --- patrol: check in, record a track ------------------------------------------------------

  async function checkIn() {
    const place = await locate();
    const id = crypto.randomUUID();
    const body = { id, at: new Date().toISOString(), crs: "WGS-84",
                   lon: place ? place.lon : null, lat: place ? place.lat : null,
                   note: $("ph-checkin-note").value.trim() };
    await enqueue("checkin", { id, body, label: when(body.at) });
    $("ph-checkin-note").value = "";
    say(t.checkedIn);
  }

  function renderCheckins(items) {
    const today = new Date().toDateString();
    const rows = items.filter((i) => i.kind === "checkin" && new Date(i.created).toDateString() === today)
      .reverse().map((i) => element("li", "", `${t.checkedIn} ${when(i.body.at)} · ${t["state_" + i.state]}`));
    $("ph-checkins").replaceChildren(...rows);
  }

  async function startTrack() {
    state.recording = { id: crypto.randomUUID(), started: new Date().toISOString(), points: [] };
    await put("recording", state.recording);
    watchTrack();
  }

  function watchTrack() {
    $("ph-track").textContent = t.trackStop;
    document.body.dataset.recording = "true";
    showTrack();
    state.watch = navigator.geolocation.watchPosition(async (found) => {
      const points = state.recording.points;
      const point = { t: new Date().toISOString(), lon: found.coords.longitude, lat: found.coords.latitude };
      const last = points[points.length - 1];
      if (last && last.lon === point.lon && last.lat === point.lat) { return; }  // standing still
      points.push(point);
      await put("recording", state.recording);
      showTrack();
    }, () => {}, { enableHighAccuracy: true, maximumAge: 0 });
  }

  function showTrack() {
    const points = state.recording.points;
    const minutes = Math.round((Date.now() - Date.parse(state.recording.started)) / 60000);
    $("ph-track-status").textContent = t.recording.replace("{n}", points.length).replace("{min}", minutes);
    document.body.dataset.trackPoints = String(points.length);
  }

  async function stopTrack() {
    navigator.geolocation.clearWatch(state.watch);
    const recording = state.recording;
    state.recording = null;
    await remove("recording", recording.id);
    $("ph-track").textContent = t.trackStart;
    document.body.dataset.recording = "false";
    if (!recording.points.length) { $("ph-track-status").textContent = t.trackEmpty; return; }
    const name = t.trackName.replace("{when}", when(recording.started));
    await enqueue("track", { id: recording.id, gpx: gpx(name, recording.points), label: name,
                             points: recording.points.length });
    $("ph-track-status").textContent = t.trackSaved.replace("{n}", recording.points.length);
  }

  function gpx(name, points) {
    const escape = (text) => text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
    const rows = points.map((p) => `<trkpt lat="${p.lat}" lon="${p.lon}"><time>${p.t}</time></trkpt>`);
    return '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="geogrid phone" '
      + 'xmlns="http://www.topografix.com/GPX/1/1">'
      + `<trk><name>${escape(name)}</name><trkseg>${rows.join("")}</trkseg></trk></gpx>`;
  }

  // --- small helpers ------------------------------------------------------------------------

  function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className) { made.className = className; }
    if (text !== undefined) { made.textContent = text; }
    return made;
  }

  function button(text, onClick, className, id) {
    const made = element("button", className, text);
    made.type = "button";
    if (id) { made.id = id; }
    made.addEventListener("click", onClick);
    return made;
  }

  function listOf(className, children) {
    const list = element("ul", className);
    list.append(...children.map((child) => { const li = element("li"); li.append(child); return li; }));
    return list;
  }

  function when(iso) {
    if (!iso) { return "—"; }
    return new Date(iso).toLocaleString(cfg.lang === "zh" ? "zh-CN" : "en-GB", {
      timeZone: cfg.zone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }

  function say(text, isError) {
    $("ph-message").textContent = text;
    $("ph-message").className = isError ? "error" : "";
  }

  function showTab(name) {
    for (const section of document.querySelectorAll("main > section")) {
      section.hidden = section.dataset.tab !== name;
    }
    for (const tab of document.querySelectorAll("nav button")) {
      if (tab.dataset.show === name) { tab.setAttribute("aria-current", "page"); } else { tab.removeAttribute("aria-current"); }
    }
    if (name === "report" && !state.position) { locate(); }
  }

  function showNetwork() {
    document.body.dataset.online = String(navigator.onLine);
    $("ph-net").hidden = navigator.onLine;
  }

  /** Cached reads of another account (a shared phone) are dropped when someone else signs in. */
  async function forgetOtherUsers() {
    if (localStorage.getItem("phone-user") !== cfg.user.name && "caches" in window) {
      await caches.delete("phone-data");
    }
    localStorage.setItem("phone-user", cfg.user.name);
  }

  // --- start ---------------------------------------------------------------------------------

  async function start() {
    for (const tab of document.querySelectorAll("nav button")) {
      tab.addEventListener("click", () => showTab(tab.dataset.show));
    }
    $("ph-refresh").addEventListener("click", loadTasks);
    $("ph-locate").addEventListener("click", locate);
    $("ph-report-form").addEventListener("submit", submitReport);
    watchPhotos($("ph-report-photos"), $("ph-report-thumbs"), state.photos);
    $("ph-checkin").addEventListener("click", checkIn);
    $("ph-track").addEventListener("click", () => (state.recording ? stopTrack() : startTrack()));
    $("ph-send-now").addEventListener("click", () => { state.signedOut = false; flush(); });
    $("ph-clear").addEventListener("click", async () => {
      for (const item of await outbox()) { if (item.state === "done") { await remove("outbox", item.id); } }
      await renderOutbox();
    });
    window.addEventListener("online", () => { showNetwork(); flush(); });
    window.addEventListener("offline", showNetwork);
    showNetwork();
    await forgetOtherUsers();
    const recording = (await all("recording"))[0];
    if (recording) { state.recording = recording; watchTrack(); }
    await loadCategories();
    await renderOutbox();
    await loadTasks();
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register(cfg.sw, { scope: cfg.scope }).catch(() => {});
    }
    setInterval(() => { if (navigator.onLine) { flush(); } }, 30000);
    document.body.dataset.ready = "true";
    flush();
  }

  // For the browser tests: the outbox as stored, a flush to wait for, and a replay of every
  // action already sent (the server must keep each once).
  window.phoneDebug = {
    outbox, flush,
    async replay() {
      for (const item of await outbox()) { item.state = "pending"; await put("outbox", item); }
      return flush();
    },
  };

  start();
}());
