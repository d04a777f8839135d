/* The work pages (web/workpages.py): the queue (待办) and a report's page.
 *
 * Both are filled from the JSON API; the page gives the words, names and the
 * CSRF token (window.WORK). Every change is a POST with the X-CSRFToken header
 * and `expected`, the status the reader saw: a report someone else moved on
 * answers 409, and the page says so and shows it as it is now.
 *
 * body[data-ready] is "true" once the first load is done; body[data-busy] is
 * "true" while a change is on its way (the browser tests wait on both). */
(function () {
  "use strict";
  var cfg = window.WORK;
  var t = cfg.texts;
  var api = cfg.api;
  var loadedAt = Date.now();
  var categoryNames = {};

  /* --- talking to the API ------------------------------------------------------ */
  function request(url, init) {
    init = Object.assign({}, init || {});
    if (init.body !== undefined && typeof init.body !== "string" && !(init.body instanceof FormData)) {
      init.body = JSON.stringify(init.body);
      init.headers = Object.assign({ "Content-Type": "application/json" }, init.headers);
    }
    if (init.method && init.method !== "GET" && cfg.csrfToken) {
      init.headers = Object.assign({ "X-CSRFToken": cfg.csrfToken }, init.headers);
    }
    return fetch(url, init).then(function (r) {
      if (r.ok) { return r.json().catch(function () { return {}; }); }
      return r.json().catch(function () { return {}; }).then(function (d) {
        var err = new Error(d.error ? d.error.message : url + " → " + r.status);
        err.status = r.status;
        err.type = d.error ? d.error.type : "";
        throw err;
      });
    });
  }
  function post(path, body) { return request(api + path, { method: "POST", body: body || {} }); }
  /* One step of the loop for one report: always with the status the reader saw. */
  function transition(report, target, extra) {
    var body = Object.assign({ status: target, expected: report.status, note: "" }, extra || {});
    return post("/reports/" + report.id + "/transitions", body);
  }

  function say(text, bad) {
    var box = document.getElementById("wk-message");
    box.textContent = text || "";
    box.className = bad ? "bad" : (text ? "good" : "");
  }
  function busy(on) { document.body.dataset.busy = on ? "true" : "false"; }

  /* --- words, names, times ------------------------------------------------------ */
  function fillIn(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, name) { return String(values[name]); });
  }
  function esc(text) {
    return String(text === null || text === undefined ? "" : text).replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[ch];
    });
  }
  function statusName(key) {
    var s = cfg.statuses.filter(function (x) { return x.key === key; })[0];
    return s ? s.name : (key || "");
  }
  function sourceName(key) {
    var s = cfg.sources.filter(function (x) { return x.key === key; })[0];
    return s ? s.name : (key || "");
  }
  function categoryName(code) { return categoryNames[code] || code || ""; }
  function gridName(code) {
    var names = Object.assign({}, cfg.gridNames, cfg.report ? cfg.report.names : {});
    return names[code] || code || "";
  }
  function reportUrl(id) { return cfg.reportPage + id + cfg.langQuery; }
  /* The page's "now" runs on from the server's clock at load time. */
  function nowMs() { return cfg.now + (Date.now() - loadedAt); }

  /* Parts of a moment in the district's zone, whatever the browser's zone. */
  function zoned(iso) {
    var parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: cfg.zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    }).formatToParts(new Date(iso)).forEach(function (p) { parts[p.type] = p.value; });
    return parts;
  }
  function when(iso) {
    if (!iso) { return "—"; }
    var p = zoned(iso);
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
  }
  /* A datetime-local field's value for a moment: the district's wall-clock time. */
  function localInput(iso) {
    if (!iso) { return ""; }
    var p = zoned(iso);
    return p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute;
  }
  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60);
    if (days) { return days + t.days + (hours ? " " + hours + t.hours : ""); }
    if (hours) { return hours + t.hours + " " + (minutes % 60) + t.minutes; }
    return (minutes % 60) + t.minutes;
  }
  /* "剩 2天 3小时" / "超 5小时": the time left to a deadline, or past it. */
  function remaining(deadline) {
    if (!deadline) { return t.noDeadline; }
    var left = Date.parse(deadline) - nowMs();
    return fillIn(left >= 0 ? t.left : t.late, { t: span(left) });
  }
  function badge(warning) {
    if (warning === "overdue") { return " <span class='wk-badge wk-overdue'>" + esc(t.overdue) + "</span>"; }
    if (warning === "nearly") { return " <span class='wk-badge wk-nearly'>" + esc(t.nearly) + "</span>"; }
    return "";
  }
  function deadlineCell(r) {
    return esc(when(r.deadline)) + "<br><small>" + esc(r.status === "closed" ? "" : remaining(r.deadline)) +
      "</small>" + badge(r.warning);
  }

  /* The category tree: names for rows, and the filter's options (children indented). */
  function loadCategories(select) {
    return request(api + "/categories").then(function (tree) {
      var walk = function (nodes, depth) {
        nodes.forEach(function (c) {
          var name = cfg.lang === "en" ? c.en : c.zh;
          categoryNames[c.code] = name;
          if (select) {
            var option = document.createElement("option");
            option.value = c.code;
            option.textContent = "\u3000".repeat(depth) + name;
            select.appendChild(option);
          }
          walk(c.children || [], depth + 1);
        });
      };
      walk(tree.categories || [], 0);
    });
  }

  /* --- the in-app alerts (提醒) ------------------------------------------------- */
  var inbox = [];
  function inboxItems(d) {
    if (Array.isArray(d)) { return d; }
    return d.items || d.notifications || [];
  }
  function loadInbox() {
    return request(api + "/inbox").then(function (d) {
      inbox = inboxItems(d);
      drawInbox();
    }).catch(function (err) { console.info("inbox: " + err.message); });
  }
  function drawInbox() {
    var unread = inbox.filter(function (n) { return !n.read_at; });
    document.getElementById("wk-bell-count").textContent = String(unread.length);
    document.getElementById("wk-bell").classList.toggle("wk-has-unread", unread.length > 0);
    var list = document.getElementById("wk-inbox-list");
    if (!inbox.length) { list.innerHTML = "<p>" + esc(t.inboxEmpty) + "</p>"; return; }
    list.innerHTML = "<button type='button' id='wk-read-all'>" + esc(t.markRead) + "</button><ul>" +
      inbox.map(function (n) {
        var p = typeof n.payload === "string" ? JSON.parse(n.payload) : (n.payload || {});
        var about = p.report || p;  // the notice's brief of its report
        var label = t["kind_" + n.kind] || n.kind;
        var due = p.deadline || about.deadline;
        var what = [about.ticket, about.category ? categoryName(about.category) : "", due ? when(due) : ""]
          .filter(Boolean).join(" · ");
        return "<li class='" + (n.read_at ? "read" : "unread") + " wk-kind-" + esc(n.kind) + "'>" +
          "<a href='" + reportUrl(n.report_id) + "' data-note='" + esc(n.id) + "'><b>" + esc(label) + "</b> #" +
          esc(n.report_id) + "</a> <small>" + esc(what) + " · " + esc(when(n.at)) + "</small></li>";
      }).join("") + "</ul>";
  }
  function markRead(ids) {
    if (!ids.length) { return Promise.resolve(); }
    return post("/inbox/read", { ids: ids }).then(function () {
      inbox.forEach(function (n) { if (ids.indexOf(n.id) >= 0) { n.read_at = n.read_at || new Date().toISOString(); } });
      drawInbox();
    });
  }
  function setUpInbox() {
    var bell = document.getElementById("wk-bell"), list = document.getElementById("wk-inbox-list");
    bell.addEventListener("click", function () {
      list.hidden = !list.hidden;
      bell.setAttribute("aria-expanded", String(!list.hidden));
    });
    list.addEventListener("click", function (e) {
      if (e.target.id === "wk-read-all") {
        markRead(inbox.filter(function (n) { return !n.read_at; }).map(function (n) { return n.id; }))
          .catch(function (err) { say(err.message, true); });
        return;
      }
      var link = e.target.closest("a[data-note]");
      if (!link) { return; }
      e.preventDefault();
      var id = inbox.filter(function (n) { return String(n.id) === link.dataset.note; })[0];
      var go = function () { window.location.href = link.href; };
      (id && !id.read_at ? markRead([id.id]) : Promise.resolve()).then(go, go);
    });
    return loadInbox();
  }

  /* ================================================================================
   * The queue
   * ================================================================================ */
  var BULK = {  // the status all selected share → the step taken for all, and the action it needs
    received: { target: "registered", action: "report.register" },
    registered: { target: "dispatched", action: "report.dispatch" },
    feedback: { target: "verified", action: "report.verify" },
    verified: { target: "closed", action: "report.close" }
  };
  var queue = { limit: 50, offset: 0, total: 0, items: [], checked: {}, results: {} };

  function queueQuery() {
    var q = new URLSearchParams();
    q.set("mine", document.getElementById("wk-all").checked ? "0" : "1");
    [["status", "wk-status"], ["category", "wk-category"], ["grid", "wk-grid"],
     ["source", "wk-source"], ["since", "wk-since"], ["warning", "wk-warning"]].forEach(function (f) {
      var value = document.getElementById(f[1]).value.trim();
      if (value) { q.set(f[0], value); }
    });
    // The field names a day to include: the queue reads a day as the whole of it.
    var until = document.getElementById("wk-until").value;
    if (until) { q.set("until", until); }
    q.set("limit", String(queue.limit));
    q.set("offset", String(queue.offset));
    return q.toString();
  }
  function loadQueue() {
    var body = document.querySelector("#wk-queue tbody");
    body.innerHTML = "<tr><td colspan='9'>" + esc(t.loading) + "</td></tr>";
    return request(api + "/queue?" + queueQuery()).then(function (d) {
      queue.items = d.items || [];
      queue.total = d.total || 0;
      queue.checked = {};
      queue.results = {};
      drawQueue();
    }).catch(function (err) {
      body.innerHTML = "";
      say(err.message, true);
    });
  }
  function rowGrid(r) {
    // The finest level the page names (down to the default one), top first as the hierarchy.
    var codes = r.codes || {};
    var known = cfg.levels.map(function (k) { return codes[k]; })
      .filter(function (c) { return c && cfg.gridNames[c]; });
    var code = known.length ? known[known.length - 1] : r.handler_code;
    return code ? esc(gridName(code)) + " <small><code>" + esc(code) + "</code></small>" : "—";
  }
  function drawQueue() {
    var body = document.querySelector("#wk-queue tbody");
    if (!queue.items.length) {
      body.innerHTML = "<tr><td colspan='9' class='wk-empty'>" + esc(t.empty) + "</td></tr>";
    } else {
      body.innerHTML = queue.items.map(function (r) {
        var result = queue.results[r.id];
        return "<tr data-id='" + r.id + "' data-status='" + esc(r.status) + "' class='" +
          (r.warning ? "wk-row-" + esc(r.warning) : "") + "'>" +
          "<td><input type='checkbox' class='wk-check' aria-label='#" + r.id + "'" +
          (queue.checked[r.id] ? " checked" : "") + "></td>" +
          "<td><a href='" + reportUrl(r.id) + "'>" + esc(r.ticket || "#" + r.id) + "</a>" +
          (r.ticket ? "<br><small>#" + r.id + "</small>" : "") + "</td>" +
          "<td>" + esc(categoryName(r.category)) + "</td><td>" + rowGrid(r) + "</td>" +
          "<td class='wk-status'>" + esc(statusName(r.status)) + "</td>" +
          "<td>" + esc(r.assignee || t.nobody) + "</td><td>" + deadlineCell(r) + "</td>" +
          "<td>" + esc(when(r.received_at)) + "</td>" +
          "<td class='wk-result" + (result ? (result.ok ? " good" : " bad") : "") + "'>" +
          esc(result ? result.text : "") + "</td></tr>";
      }).join("");
    }
    var to = queue.offset + queue.items.length;
    document.getElementById("wk-page").textContent = queue.total
      ? fillIn(t.page, { from: queue.offset + 1, to: to, total: queue.total }) : "";
    document.getElementById("wk-prev").disabled = queue.offset === 0;
    document.getElementById("wk-next").disabled = to >= queue.total;
    document.getElementById("wk-check-all").checked = false;
    drawBulk();
  }
  function selectedItems() {
    return queue.items.filter(function (r) { return queue.checked[r.id]; });
  }
  /* The bulk step the selection allows: all selected share a status with a bulk step the
     reader's role may take. */
  function bulkStep() {
    var picked = selectedItems();
    if (!picked.length) { return null; }
    var status = picked[0].status;
    var same = picked.every(function (r) { return r.status === status; });
    var step = BULK[status];
    return same && step && cfg.me.may.indexOf(step.action) >= 0 ? step : null;
  }
  function drawBulk() {
    var picked = selectedItems(), step = bulkStep();
    document.getElementById("wk-selected").textContent = picked.length
      ? fillIn(t.selected, { n: picked.length }) : "";
    document.querySelectorAll("#wk-bulk button[data-bulk]").forEach(function (b) {
      var on = Boolean(step && step.target === b.dataset.bulk);
      if (b.dataset.bulk === "dispatched") { document.getElementById("wk-bulk-dispatch").hidden = !on; }
      else { b.hidden = !on; }
    });
    document.getElementById("wk-bulk-hint").textContent = picked.length && !step ? t.bulkSameStatus : "";
    if (step && step.target === "dispatched") { loadBulkAssignees(picked[0]); }
  }
  var assigneesFor = null;
  function loadBulkAssignees(report) {
    if (assigneesFor === report.id) { return; }
    assigneesFor = report.id;
    fillAssignees(document.getElementById("wk-bulk-assignee"), report.id);
  }
  function fillAssignees(select, reportId) {
    select.innerHTML = "<option value=''>" + esc(t.pickAssignee) + "</option>";
    return request(api + "/reports/" + reportId + "/assignees").then(function (d) {
      var people = Array.isArray(d) ? d : (d.assignees || d.items || []);
      people.forEach(function (p) {
        var option = document.createElement("option");
        option.value = p.name;
        option.textContent = (p.display_name || p.name) + (p.role ? " · " + (roleName(p.role)) : "");
        select.appendChild(option);
      });
    }).catch(function (err) { say(err.message, true); });
  }
  function roleName(role) {
    var names = { department: ["职能部门", "Department"], grid_worker: ["网格员", "Grid worker"] };
    return names[role] ? names[role][cfg.lang === "en" ? 1 : 0] : role;
  }
  /* One POST per selected report, one after another; each row shows how it went. */
  function runBulk(target) {
    var picked = selectedItems(), extra = {};
    if (target === "dispatched") {
      extra.assignee = document.getElementById("wk-bulk-assignee").value;
      if (!extra.assignee) { say(t.needAssignee, true); return Promise.resolve(); }
      var deadline = document.getElementById("wk-bulk-deadline").value;
      if (deadline) { extra.deadline = deadline; }
    }
    busy(true);
    say(t.working);
    var ok = 0, bad = 0;
    var chain = picked.reduce(function (done, report) {
      return done.then(function () {
        return transition(report, target, extra).then(function (after) {
          ok += 1;
          queue.results[report.id] = { ok: true, text: t.done + " · " + statusName(after.status || target) };
          replaceItem(after);
        }, function (err) {
          bad += 1;
          queue.results[report.id] = { ok: false, text: err.message };
        });
      });
    }, Promise.resolve());
    return chain.then(function () {
      queue.checked = {};
      drawQueue();
      say(fillIn(t.bulkDone, { ok: ok, bad: bad }), bad > 0);
      busy(false);
      loadInbox();
    });
  }
  function replaceItem(after) {
    if (!after || after.id === undefined) { return; }
    queue.items = queue.items.map(function (r) {
      return r.id === after.id ? Object.assign({}, r, after, { warning: after.warning }) : r;
    });
  }
  function setUpQueue() {
    var reload = function () { queue.offset = 0; assigneesFor = null; say(""); loadQueue(); };
    ["wk-all", "wk-status", "wk-category", "wk-grid", "wk-source", "wk-since", "wk-until", "wk-warning"]
      .forEach(function (id) { document.getElementById(id).addEventListener("change", reload); });
    document.getElementById("wk-reset").addEventListener("click", function () {
      document.querySelectorAll("#wk-filters select, #wk-filters input:not([type=checkbox])")
        .forEach(function (f) { f.value = ""; });
      reload();
    });
    document.getElementById("wk-prev").addEventListener("click", function () {
      queue.offset = Math.max(0, queue.offset - queue.limit); loadQueue();
    });
    document.getElementById("wk-next").addEventListener("click", function () {
      queue.offset += queue.limit; loadQueue();
    });
    document.querySelector("#wk-queue tbody").addEventListener("change", function (e) {
      if (!e.target.classList.contains("wk-check")) { return; }
      queue.checked[e.target.closest("tr").dataset.id] = e.target.checked;
      drawBulk();
    });
    document.getElementById("wk-check-all").addEventListener("change", function (e) {
      queue.items.forEach(function (r) { queue.checked[r.id] = e.target.checked; });
      document.querySelectorAll(".wk-check").forEach(function (c) { c.checked = e.target.checked; });
      drawBulk();
    });
    document.querySelectorAll("#wk-bulk button[data-bulk]").forEach(function (b) {
      b.addEventListener("click", function () { runBulk(b.dataset.bulk); });
    });
    return loadCategories(document.getElementById("wk-category")).catch(function () {})
      .then(loadQueue);
  }

  /* ================================================================================
   * A report's page
   * ================================================================================ */
  var STEP_KIND = {  // (from, to) → the form that takes the step
    "received>registered": "register", "registered>dispatched": "dispatch",
    "dispatched>dispatched": "redispatch", "dispatched>in_progress": "handle",
    "in_progress>feedback": "feedback", "feedback>verified": "verify",
    "feedback>in_progress": "return", "verified>closed": "close",
    "received>closed": "reject", "registered>closed": "reject"
  };
  var TARGET = { register: "registered", dispatch: "dispatched", redispatch: "dispatched",
                 handle: "in_progress", feedback: "feedback", verify: "verified",
                 "return": "in_progress", close: "closed", reject: "closed" };
  var NEEDS_NOTE = { "return": true, reject: true };
  var shown = null;  // the report as last loaded

  /* The report JSON's `actions`: target statuses, or objects naming one. */
  function kindsOf(report) {
    // Without the list (an older server), the role's steps from this status stand in.
    var actions = report.actions || (cfg.steps || {})[report.status] || [];
    return actions.map(function (a) {
      var target = typeof a === "string" ? a : (a.status || a.to || a.target);
      return STEP_KIND[report.status + ">" + target] || (a && a.kind) || null;
    }).filter(function (kind, i, all) { return kind && all.indexOf(kind) === i; });
  }

  function loadReport() {
    return request(api + "/reports/" + cfg.report.id).then(function (report) {
      shown = report;
      drawReport(report);
      return report;
    });
  }
  function drawReport(r) {
    document.getElementById("wk-heading").innerHTML = esc(categoryName(r.category)) + " " +
      "<small>" + esc(r.ticket || "") + " #" + r.id + "</small> <span class='wk-status-tag' id='wk-report-status'>" +
      esc(statusName(r.status)) + "</span>" + badge(r.warning);
    document.getElementById("wk-facts").innerHTML = facts(r).map(function (f) {
      return "<dt>" + esc(f[0]) + "</dt><dd>" + f[1] + "</dd>";
    }).join("");
    drawContact(r.contact);
    drawPhotos(r.media || []);
    drawActions(r);
    drawTimeline(r.history || []);
  }
  function facts(r) {
    var rows = [
      [t.ticket, esc(r.ticket || "—")], [t.category, esc(categoryName(r.category)) + " <code>" + esc(r.category) + "</code>"],
      [t.status, esc(statusName(r.status))], [t.source, esc(sourceName(r.source))],
      [t.description, esc(r.description || "—")], [t.reportedAt, esc(when(r.reported_at))],
      [t.receivedAt, esc(when(r.received_at))],
      [t.deadline, r.deadline ? deadlineCell(r) : esc(t.noDeadline)],
      [t.assignee, esc(r.assignee || t.nobody) + (r.assigned_at ? " <small>" + esc(when(r.assigned_at)) + "</small>" : "")]
    ];
    if (r.closed_at) { rows.push([t.closedAt, esc(when(r.closed_at))]); }
    rows.push([t.grids, gridsList(r.codes || {})]);
    if (r.handler_code) { rows.push([t.handler, esc(gridName(r.handler_code)) + " <code>" + esc(r.handler_code) + "</code>"]); }
    if (r.escalations) { rows.push([t.escalations, esc(r.escalations)]); }
    if (r.returns) { rows.push([t.returns, esc(r.returns)]); }
    if (r.rating) { rows.push([t.rating, esc(r.rating) + " / 5 " + esc(r.rating_note || "")]); }
    rows.push([t.location, esc(Number(r.lon).toFixed(6) + ", " + Number(r.lat).toFixed(6))]);
    return rows;
  }
  /* The grid at every level, top first, named as the hierarchy names its levels. */
  function gridsList(codes) {
    return "<ul class='wk-grids'>" + cfg.report.levels.filter(function (lv) { return codes[lv.key]; })
      .map(function (lv) {
        return "<li data-level='" + esc(lv.key) + "'>" + esc(lv.label) + "：" + esc(gridName(codes[lv.key])) +
          " <code>" + esc(codes[lv.key]) + "</code></li>";
      }).join("") + "</ul>";
  }
  function drawContact(contact) {
    var box = document.getElementById("wk-contact");
    if (!contact) { box.textContent = "—"; return; }
    box.innerHTML = Object.keys(contact).filter(function (k) { return contact[k]; }).map(function (k) {
      return "<span class='wk-contact-" + esc(k) + "'>" + esc(contact[k]) + "</span>";
    }).join(" · ") || "—";
  }
  function drawPhotos(media) {
    var box = document.getElementById("wk-photos");
    if (!media.length) { box.textContent = t.noPhotos; return; }
    box.innerHTML = media.map(function (m) {
      return "<figure><a href='" + esc(m.url) + "' class='wk-photo' data-full='" + esc(m.url) + "'>" +
        "<img src='" + esc(m.thumb_url || m.url) + "' alt='" + esc(m.stage) + " " + esc(m.id) + "'></a>" +
        "<figcaption>" + esc(m.stage === "feedback" ? t.act_feedback : t.reportTitle) + "</figcaption></figure>";
    }).join("");
  }
  function setUpLightbox() {
    var box = document.getElementById("wk-lightbox");
    document.getElementById("wk-photos").addEventListener("click", function (e) {
      var link = e.target.closest("a.wk-photo");
      if (!link) { return; }
      e.preventDefault();
      box.querySelector("img").src = link.dataset.full;
      box.hidden = false;
    });
    box.addEventListener("click", function () { box.hidden = true; });
  }

  /* --- the steps the reader may take ------------------------------------------------ */
  function drawActions(r) {
    var kinds = kindsOf(r), box = document.getElementById("wk-action-forms");
    if (!kinds.length) { box.innerHTML = "<p class='hint'>" + esc(t.noActions) + "</p>"; return; }
    box.innerHTML = kinds.map(function (kind) { return actionForm(kind, r); }).join("");
    kinds.forEach(function (kind) {
      if (kind === "dispatch" || kind === "redispatch") {
        fillAssignees(document.getElementById("wk-assignee-" + kind), r.id);
      }
    });
  }
  function field(words, id, html) {
    return "<label for='" + id + "'>" + esc(words) + "</label> " + html;
  }
  function actionForm(kind, r) {
    var parts = [];
    if (kind === "dispatch" || kind === "redispatch") {
      var rule = cfg.report.categoryRule;
      parts.push(field(t.assignTo, "wk-assignee-" + kind,
        "<select id='wk-assignee-" + kind + "' name='assignee'></select>"));
      parts.push(field(t.deadlineInput, "wk-deadline-" + kind, "<input type='datetime-local' id='wk-deadline-" +
        kind + "' name='deadline' value='" + localInput(r.deadline) + "' data-initial='" + localInput(r.deadline) + "'>") +
        " <small class='hint'>" + (rule ? esc(fillIn(t.categoryDefault, { rule: rule.amount + " " + (t["unit_" + rule.unit] || rule.unit) })) + " · " : "") +
        esc(fillIn(t.keepDeadline, { at: when(r.deadline) })) + "</small>");
    }
    if (kind !== "register" && kind !== "handle") {
      // The closing and 不予受理 notes are shown to the reporter on the residents' page.
      var shown = kind === "close" || kind === "reject" ? t.notePublic || t.note : t.note;
      parts.push(field(shown, "wk-note-" + kind, "<textarea id='wk-note-" + kind + "' name='note' rows='2'" +
        (NEEDS_NOTE[kind] ? " required" : "") + "></textarea>"));
    }
    if (kind === "feedback") {
      parts.push(field(t.photosInput, "wk-photos-" + kind, "<input type='file' id='wk-photos-" + kind +
        "' name='photo' accept='image/*' multiple>"));
    }
    return "<form class='wk-act wk-act-" + kind + "' data-kind='" + kind + "' novalidate>" + parts.map(function (p) {
      return "<div>" + p + "</div>";
    }).join("") + "<button type='submit' id='wk-do-" + kind + "'>" + esc(t["act_" + kind]) + "</button></form>";
  }
  function act(form) {
    var kind = form.dataset.kind, report = shown, extra = {};
    var note = form.querySelector("textarea[name=note]");
    extra.note = note ? note.value.trim() : "";
    if (NEEDS_NOTE[kind] && !extra.note) { say(t.noteRequired, true); note.focus(); return Promise.resolve(); }
    if (kind === "dispatch" || kind === "redispatch") {
      extra.assignee = form.querySelector("select[name=assignee]").value;
      if (!extra.assignee) { say(t.needAssignee, true); return Promise.resolve(); }
      var deadline = form.querySelector("input[name=deadline]");
      // Unchanged, the report keeps its deadline (the category's); changed, the typed one
      // goes as the district's wall-clock time.
      if (deadline.value && deadline.value !== deadline.dataset.initial) { extra.deadline = deadline.value; }
    }
    busy(true);
    say(t.working);
    var files = form.querySelector("input[type=file]");
    return upload(report, files ? Array.prototype.slice.call(files.files) : [])
      .then(function () { return transition(report, TARGET[kind], extra); })
      .then(function (after) {
        say(t.done + " · " + t["act_" + kind] + " → " + statusName(after.status));
        return loadReport();
      })
      .catch(function (err) {
        if (err.status === 409 && err.type === "StaleStatusError") {
          say(t.moved + ": " + err.message, true);
          return loadReport();
        }
        say(err.message, true);
      })
      .then(function () { busy(false); loadInbox(); });
  }
  /* Feedback photos go first, one by one; a refused photo stops the step with its message. */
  function upload(report, files) {
    if (!files.length) { return Promise.resolve(); }
    say(t.uploading);
    return files.reduce(function (done, file) {
      return done.then(function () {
        var data = new FormData();
        data.append("photo", file, file.name);
        data.append("stage", "feedback");
        return request(api + "/reports/" + report.id + "/media", { method: "POST", body: data });
      });
    }, Promise.resolve());
  }

  /* --- the history as a timeline ------------------------------------------------------ */
  function historyLabel(h) {
    if (h.action === "transition" && h.from_status === "feedback" && h.to_status === "in_progress") {
      return ["returned", t.h_returned];
    }
    if (h.action === "transition" && h.to_status === "closed" &&
        (h.from_status === "received" || h.from_status === "registered")) {
      return ["rejected", t.h_rejected];
    }
    var key = "h_" + h.action;
    return [h.action, t[key] || (h.to_status ? statusName(h.to_status) : h.action)];
  }
  function historyDetail(h) {
    var data = h.data || {}, out = [];
    if (data.assignee) {
      out.push(fillIn(t.h_dispatchTo, { who: data.assignee, at: data.deadline ? when(data.deadline) : "—" }));
    }
    if (h.action === "escalated" && (data.from || data.to)) {
      out.push(fillIn(t.h_handedUp, { from: gridName(data.from) + " " + (data.from || ""),
                                      to: gridName(data.to) + " " + (data.to || "") }));
    }
    return out.join(" · ");
  }
  function drawTimeline(history) {
    document.getElementById("wk-timeline").innerHTML = history.map(function (h) {
      var label = historyLabel(h), detail = historyDetail(h);
      var move = h.from_status && h.to_status && h.from_status !== h.to_status
        ? esc(statusName(h.from_status)) + " → " + esc(statusName(h.to_status)) : "";
      return "<li class='wk-h wk-h-" + esc(label[0]) + "' data-action='" + esc(h.action) + "' data-to='" +
        esc(h.to_status || "") + "'><time>" + esc(when(h.at)) + "</time> <b>" + esc(label[1]) + "</b> " +
        "<span class='wk-move'>" + move + "</span> <span class='wk-actor'>" + esc(t.h_by) + " " +
        esc(h.actor || t.system) + "</span>" + (detail ? "<div class='wk-detail'>" + esc(detail) + "</div>" : "") +
        (h.note ? "<div class='wk-note'>" + esc(h.note) + "</div>" : "") + "</li>";
    }).join("");
  }

  /* --- the small map: the point and its grid -------------------------------------------- */
  function drawMap(r) {
    if (!window.L) { return Promise.resolve(); }
    var map = L.map("wk-map", { zoomControl: true }).setView([r.lat, r.lon], 16);
    if (cfg.tiles) { L.tileLayer(cfg.tiles, { attribution: cfg.attribution || "" }).addTo(map); }
    var point = L.circleMarker([r.lat, r.lon], { radius: 8, color: "#b2182b", weight: 2, fillOpacity: 0.8 })
      .addTo(map);
    window.workMap = map;
    if (!cfg.report.mapGrid) { return Promise.resolve(); }
    return request(api + "/grids/" + encodeURIComponent(cfg.report.mapGrid)).then(function (feature) {
      var grid = L.geoJSON(feature, { style: { color: "#2166ac", weight: 2, fillOpacity: 0.08 } }).addTo(map);
      map.fitBounds(grid.getBounds().extend(point.getLatLng()), { padding: [10, 10] });
    }).catch(function (err) { console.info("grid: " + err.message); });
  }

  function setUpReport() {
    setUpLightbox();
    document.getElementById("wk-action-forms").addEventListener("submit", function (e) {
      e.preventDefault();
      act(e.target);
    });
    return loadCategories(null).catch(function () {}).then(loadReport).then(drawMap)
      .catch(function (err) { say(err.message, true); });
  }

  /* --- start ------------------------------------------------------------------------------ */
  busy(false);
  var started = document.body.classList.contains("work-queue") ? setUpQueue()
    : document.body.classList.contains("work-report") ? setUpReport() : Promise.resolve();
  Promise.all([started, setUpInbox()]).then(function () { document.body.dataset.ready = "true"; });
  window.workDebug = { queue: queue, shown: function () { return shown; } };
})();
