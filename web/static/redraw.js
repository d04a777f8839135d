/* The planner's redraw studio (web/redraw.py serves the page and its API).
 *
 * A draft regroups the units of one parent into grids. The page holds the units'
 * shapes and the draft's assignment; each edit is one POST carrying the draft's
 * version, whose answer names only the units that changed, the touched grids'
 * metrics, the summary and the warnings. A 409 means someone else saved first:
 * the page reloads the draft and says so.
 *
 * Mouse: with the brush, press and drag over units to paint them into the
 * selected grid; a click (no drag) selects the clicked unit's grid. Shift-drag:
 * a rectangle; Alt- or Ctrl-drag: a lasso (units whose inside point falls in it).
 * Ctrl+Z / Ctrl+Y undo and redo. Settings come from window.REDRAW. */
(function () {
  "use strict";
  var cfg = window.REDRAW;
  var t = cfg.texts;
  var api = cfg.api;
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#e7ba52", "#637939", "#ad494a",
                 "#6b6ecf", "#31a354", "#e6550d", "#3182bd", "#a55194", "#8ca252"];
  var state = {
    draft: null, version: 0, assignment: {}, grids: [], gridOf: {}, metrics: {}, summary: {},
    warnings: [], gate: [], history: {}, selected: null, checked: {}, tool: "brush", units: {}
  };
  var colours = {}, nextColour = 0;
  var queue = Promise.resolve();  // edits go one after another, each with the last version
  window.redrawTimings = [];      // ms from mouse-up to an updated panel (bench, tests)

  /* --- talking to the API ---------------------------------------------------------- */
  function request(url, init) {
    init = init || {};
    if (init.body !== undefined && typeof init.body !== "string") {
      init.body = JSON.stringify(init.body);
      init.headers = Object.assign({ "Content-Type": "application/json" }, init.headers);
    }
    if (init.method && init.method !== "GET" && cfg.csrfToken) {
      init.headers = Object.assign({ "X-CSRFToken": cfg.csrfToken }, init.headers);
    }
    return fetch(url, init).then(function (r) {
      if (r.ok) { return r.json(); }
      return r.json().catch(function () { return {}; }).then(function (d) {
        var err = new Error(d.error ? d.error.message : url + " → " + r.status);
        err.status = r.status;
        err.type = d.error ? d.error.type : "";
        throw err;
      });
    });
  }
  function post(path, body) {
    return request(api + path, { method: "POST", body: body || {} });
  }
  function draftPath(suffix) { return "/drafts/" + state.draft.id + (suffix || ""); }

  /* A change to the draft: queued, sent with the current version; 409 → reload. */
  function change(path, body, started) {
    queue = queue.then(function () {
      body = Object.assign({ version: state.version }, body);
      busy(true);
      return post(draftPath(path), body).then(function (d) {
        applyChange(d);
        say(d.note || "");
        if (started) { timing(started); }
        return d;
      }).catch(failed).then(function (d) { busy(false); return d; });
    });
    return queue;
  }
  function failed(err) {
    if (err.status === 409 && err.type === "DraftConflictError") {
      return openDraft(state.draft.id).then(function () { say(t.conflict, true); });
    }
    painted = [];
    restyleAll();  // a refused stroke: back to what the server holds
    say(err.message, true);
  }
  function say(text, bad) {
    var box = document.getElementById("rd-message");
    box.textContent = text || "";
    box.className = bad ? "bad" : "";
  }
  function busy(on) { document.body.setAttribute("data-busy", on ? "true" : "false"); }
  function timing(started) {
    // The panel is in the DOM now; the next frame puts it on screen.
    window.redrawTimings.push(performance.now() - started);
  }

  /* --- the map ------------------------------------------------------------------------ */
  var map = L.map("rd-map", { boxZoom: false, preferCanvas: true, zoomSnap: 0.25 });
  if (cfg.tiles) { L.tileLayer(cfg.tiles, { attribution: cfg.attribution || "" }).addTo(map); }
  map.setView([cfg.view[1], cfg.view[0]], 13);
  var unitsLayer = L.geoJSON(null, { style: unitStyle });
  unitsLayer.addTo(map);
  var layerOf = {};
  var index = null;  // unit shapes for hit tests: a bucket grid over bounding boxes
  var outline = L.layerGroup().addTo(map);

  function colourOf(key) {
    if (!(key in colours)) { colours[key] = PALETTE[nextColour++ % PALETTE.length]; }
    return colours[key];
  }
  function unitStyle(feature) {
    var key = state.assignment[feature.id];
    var grid = state.gridOf[key] || {};
    var chosen = key === state.selected;
    return {
      fillColor: key ? colourOf(key) : "#ffffff", fillOpacity: chosen ? 0.75 : 0.55,
      color: grid.locked ? "#000000" : "#ffffff", weight: grid.locked ? 2.5 : 0.8,
      dashArray: grid.locked ? "4 3" : null, opacity: 1
    };
  }
  function restyle(code) { if (layerOf[code]) { layerOf[code].setStyle(unitStyle(layerOf[code].feature)); } }
  function restyleAll() { Object.keys(layerOf).forEach(restyle); }
  function paint(code, key) {
    var layer = layerOf[code];
    if (layer) { layer.setStyle({ fillColor: colourOf(key), fillOpacity: 0.8 }); }
    painted.push(code);
  }

  function buildIndex(features) {
    var w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
    var items = features.map(function (f) {
      var polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
      var b = [Infinity, Infinity, -Infinity, -Infinity];
      polys.forEach(function (rings) {
        rings[0].forEach(function (p) {
          b[0] = Math.min(b[0], p[0]); b[1] = Math.min(b[1], p[1]);
          b[2] = Math.max(b[2], p[0]); b[3] = Math.max(b[3], p[1]);
        });
      });
      w = Math.min(w, b[0]); s = Math.min(s, b[1]); e = Math.max(e, b[2]); n = Math.max(n, b[3]);
      return { code: f.id, polys: polys, box: b, point: f.properties.point };
    });
    var size = 48, cells = {};
    var dx = (e - w) / size || 1, dy = (n - s) / size || 1;
    var cellOf = function (x, y) {
      return [Math.min(size - 1, Math.max(0, Math.floor((x - w) / dx))),
              Math.min(size - 1, Math.max(0, Math.floor((y - s) / dy)))];
    };
    items.forEach(function (item) {
      var lo = cellOf(item.box[0], item.box[1]), hi = cellOf(item.box[2], item.box[3]);
      for (var i = lo[0]; i <= hi[0]; i++) {
        for (var j = lo[1]; j <= hi[1]; j++) { (cells[i + "," + j] = cells[i + "," + j] || []).push(item); }
      }
    });
    return { items: items, cells: cells, cellOf: cellOf, bounds: [w, s, e, n] };
  }
  function insideRings(rings, x, y) {
    var inside = false;
    rings.forEach(function (ring) {
      for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
        if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { inside = !inside; }
      }
    });
    return inside;
  }
  function unitAt(latlng) {
    if (!index) { return null; }
    var x = latlng.lng, y = latlng.lat, c = index.cellOf(x, y);
    var found = (index.cells[c[0] + "," + c[1]] || []).filter(function (item) {
      var b = item.box;
      return x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3] &&
        item.polys.some(function (rings) { return insideRings(rings, x, y); });
    });
    return found.length ? found[0].code : null;
  }

  /* --- the mouse: brush, rectangle, lasso, click ----------------------------------- */
  var stroke = null;
  var painted = [];  // units painted on the page while their edit is on its way
  var NEW = "\u0000new";  // the brush of a grid not made yet: the stroke makes it
  var container = map.getContainer();
  container.addEventListener("mousedown", function (e) {
    if (e.button !== 0 || !state.draft || e.target.closest(".leaflet-control")) { return; }
    var mode = e.shiftKey ? "box" : (e.altKey || e.ctrlKey || e.metaKey) ? "lasso"
      : state.tool === "brush" ? "brush" : null;
    if (!mode) { return; }
    e.preventDefault();
    e.stopPropagation();
    map.dragging.disable();
    var at = map.mouseEventToLatLng(e);
    stroke = { mode: mode, start: [e.clientX, e.clientY], last: at, moved: false,
               units: [], seen: {}, path: [at], shape: null, first: unitAt(at) };
    if (mode === "brush") { touch(stroke.first); }
  }, true);
  document.addEventListener("mousemove", function (e) {
    if (!stroke) { return; }
    var at = map.mouseEventToLatLng(e);
    if (!stroke.moved && Math.abs(e.clientX - stroke.start[0]) + Math.abs(e.clientY - stroke.start[1]) > 3) {
      stroke.moved = true;
    }
    if (stroke.mode === "brush") {
      // A fast stroke skips over units between two events: sample the segment.
      var a = map.latLngToContainerPoint(stroke.last), b = map.latLngToContainerPoint(at);
      var steps = Math.max(1, Math.ceil(a.distanceTo(b) / 4));
      for (var i = 1; i <= steps; i++) {
        touch(unitAt(map.containerPointToLatLng(a.add(b.subtract(a).multiplyBy(i / steps)))));
      }
    } else {
      stroke.path.push(at);
      drawShape();
    }
    stroke.last = at;
  });
  document.addEventListener("mouseup", function () {
    if (!stroke) { return; }
    var done = stroke, started = performance.now();
    stroke = null;
    if (state.tool === "brush") { map.dragging.disable(); } else { map.dragging.enable(); }
    if (done.shape) { map.removeLayer(done.shape); }
    if (!done.moved) {
      if (done.first) { select(state.assignment[done.first]); }
      return;
    }
    var units = done.mode === "brush" ? done.units : unitsInShape(done);
    moveUnits(units, started);
  });
  function touch(code) {
    if (!code || !stroke || stroke.seen[code]) { return; }
    stroke.seen[code] = true;
    if (!state.selected || state.assignment[code] === state.selected) { return; }
    if ((state.gridOf[state.assignment[code]] || {}).locked) { return; }
    stroke.units.push(code);
    paint(code, state.selected);
  }
  function drawShape() {
    if (stroke.shape) { map.removeLayer(stroke.shape); }
    var style = { color: "#000", weight: 1.5, dashArray: "5 4", fill: false, interactive: false };
    stroke.shape = stroke.mode === "box"
      ? L.rectangle(L.latLngBounds(stroke.path[0], stroke.last), style)
      : L.polyline(stroke.path, style);
    stroke.shape.addTo(map);
  }
  function unitsInShape(done) {
    var ring;
    if (done.mode === "box") {
      var b = L.latLngBounds(done.path[0], done.path[done.path.length - 1]);
      ring = [[b.getWest(), b.getSouth()], [b.getEast(), b.getSouth()], [b.getEast(), b.getNorth()],
              [b.getWest(), b.getNorth()]];
    } else {
      ring = done.path.map(function (p) { return [p.lng, p.lat]; });
    }
    return index.items.filter(function (item) {
      return item.point && insideRings([ring], item.point[0], item.point[1]) &&
        state.assignment[item.code] !== state.selected &&
        !(state.gridOf[state.assignment[item.code]] || {}).locked;
    }).map(function (item) { return item.code; });
  }
  function moveUnits(units, started) {
    if (!state.selected) { say(t.pickGridFirst, true); restyleAll(); return; }
    if (!units.length) { restyleAll(); return; }
    units.forEach(function (code) { paint(code, state.selected); });
    if (state.selected === NEW) {
      change("/edit", { op: "new_grid", units: units, name: value("rd-name") || null }, started)
        .then(function (d) {
          if (!d || !d.grid) { return; }
          colours[d.grid] = colours[NEW];
          delete colours[NEW];
          select(d.grid);
        });
      return;
    }
    change("/edit", { op: "move", units: units, grid: state.selected }, started);
  }
  map.on("click", function (e) {
    if (state.tool === "line") { addLinePoint(e.latlng); return; }
    if (state.tool !== "brush") {  // with the hand tool, a click selects too
      var code = unitAt(e.latlng);
      if (code) { select(state.assignment[code]); }
    }
  });

  /* --- splitting the selected grid along a drawn line ----------------------------- */
  var line = { points: [], shape: null };
  function addLinePoint(latlng) {
    line.points.push(latlng);
    if (line.shape) { map.removeLayer(line.shape); }
    line.shape = L.polyline(line.points, { color: "#000", weight: 2, dashArray: "6 4", interactive: false })
      .addTo(map);
  }
  map.on("dblclick", function () {
    if (state.tool !== "line") { return; }
    var points = line.points.map(function (p) { return [p.lng, p.lat]; });
    if (line.shape) { map.removeLayer(line.shape); }
    line = { points: [], shape: null };
    setTool("brush");
    if (points.length < 2 || !state.gridOf[state.selected]) { say(t.lineNeedsGrid, true); return; }
    change("/edit", { op: "split_line", grid: state.selected, line: points });
  });

  /* --- the draft's state -------------------------------------------------------------- */
  function applyDraft(d) {
    state.draft = d.draft;
    state.version = d.draft.version;
    state.assignment = d.assignment;
    state.metrics = {};
    setGrids(d.grids);
    mergeMetrics(d.metrics);
    state.warnings = d.warnings;
    state.gate = d.gate || [];
    state.history = d.history || {};
    colours = {}; nextColour = 0;
    state.grids.forEach(function (g) { colourOf(g.key); });
    if (!state.gridOf[state.selected]) { state.selected = state.grids.length ? state.grids[0].key : null; }
    state.checked = {};
    unitsLayer.clearLayers();
    layerOf = {};
    unitsLayer.addData(d.units);
    unitsLayer.eachLayer(function (layer) {
      layerOf[layer.feature.id] = layer;
      layer.bindTooltip(function () { return unitTip(layer.feature); }, { sticky: true });
    });
    index = buildIndex(d.units.features);
    var b = index.bounds;
    if (isFinite(b[0])) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [10, 10] }); }
    outline.clearLayers();
    if (d.outline) {
      L.geoJSON(d.outline, { style: { color: "#222", weight: 3, fill: false }, interactive: false }).addTo(outline);
    }
    renderAll();
    document.body.setAttribute("data-draft", String(state.draft.id));
  }
  function setGrids(grids) {
    state.grids = grids;
    state.gridOf = {};
    grids.forEach(function (g) { state.gridOf[g.key] = g; colourOf(g.key); });
  }
  function mergeMetrics(m) {
    if (!m) { return; }
    Object.keys(m.grids || {}).forEach(function (key) { state.metrics[key] = m.grids[key]; });
    Object.keys(state.metrics).forEach(function (key) { if (!state.gridOf[key]) { delete state.metrics[key]; } });
    state.summary = m.summary || state.summary;
  }
  function applyChange(d) {
    if (d.draft) { state.draft = d.draft; }
    state.version = d.version;
    var flags = {};
    state.grids.forEach(function (g) { flags[g.key] = g.locked + "," + g.exclusive; });
    if (d.grids) { setGrids(d.grids); }
    var reflagged = state.grids.some(function (g) { return flags[g.key] !== g.locked + "," + g.exclusive; });
    Object.keys(d.changed || {}).forEach(function (code) { state.assignment[code] = d.changed[code]; });
    mergeMetrics(d.metrics);
    if (d.warnings) { state.warnings = d.warnings; }
    if (d.gate) { state.gate = d.gate; }
    if (d.history) { state.history = d.history; }
    if (!state.gridOf[state.selected] && state.selected !== NEW) {
      state.selected = state.grids.length ? state.grids[0].key : null;
    }
    if (reflagged) { restyleAll(); } else {
      Object.keys(d.changed || {}).concat(painted).forEach(restyle);
    }
    painted = [];
    renderAll();
  }
  function unitTip(feature) {
    var p = feature.properties, key = state.assignment[feature.id];
    var g = state.gridOf[key] || {};
    return "<b>" + esc(p.name || p.code) + "</b> <code>" + esc(p.code) + "</code><br>" +
      esc(t.grid) + ": " + esc(g.name || key) + "<br>" + esc(weightLabel()) + ": " + fmt(p[state.draft.weight]);
  }
  function weightLabel() { return t["weight_" + state.draft.weight] || state.draft.weight; }

  /* --- panels -------------------------------------------------------------------------- */
  function renderAll() {
    renderHeader();
    renderPalette();
    renderStats();
    renderWarnings();
    renderWorkflow();
    renderFiles();
  }
  function renderHeader() {
    var d = state.draft;
    document.getElementById("rd-status").textContent =
      (t["status_" + d.status] || d.status) + " · v" + state.version;
    document.getElementById("rd-undo").disabled = !state.history.can_undo || !editable();
    document.getElementById("rd-redo").disabled = !state.history.can_redo || !editable();
    document.getElementById("rd-band").textContent = weightLabel() + " " + d.band[0] + "–" + d.band[1];
    document.body.setAttribute("data-status", d.status);
  }
  function editable() { return cfg.may.edit && state.draft && state.draft.status === "draft"; }
  function renderPalette() {
    var rows = state.grids.map(function (g) {
      var m = state.metrics[g.key] || {};
      return "<li data-key='" + esc(g.key) + "' class='" + (g.key === state.selected ? "selected" : "") + "'>" +
        "<input type='checkbox' aria-label='" + esc(t.check) + " " + esc(g.name || g.key) + "'" +
        (state.checked[g.key] ? " checked" : "") + ">" +
        "<i style='background:" + colourOf(g.key) + "'></i>" +
        "<span class='name'>" + esc(g.name || g.key) + "</span> <code>" + esc(g.key) + "</code>" +
        (g.locked ? " <span title='" + esc(t.locked) + "'>🔒</span>" : "") +
        (g.exclusive ? " <span class='tag'>" + esc(t.exclusiveTag) + "</span>" : "") +
        " <span class='w'>" + fmt(m.weight) + "</span></li>";
    });
    var list = document.getElementById("rd-grids");
    list.innerHTML = rows.join("");
    var chosen = state.gridOf[state.selected];
    document.getElementById("rd-selected").innerHTML = chosen
      ? "<i style='background:" + colourOf(chosen.key) + "'></i>" + esc(chosen.name || chosen.key)
      : state.selected === NEW ? "<i style='background:" + colourOf(NEW) + "'></i>" + esc(t.newGrid)
      : esc(t.none);
    document.getElementById("rd-lock").textContent = chosen && chosen.locked ? t.unlock : t.lock;
    document.getElementById("rd-exclusive").textContent =
      chosen && chosen.exclusive ? t.notExclusive : t.exclusive;
    document.querySelectorAll("#rd-palette button, #rd-palette input, #rd-tools .edit").forEach(function (el) {
      el.disabled = !editable();
    });
  }
  function bar(value, band) {
    var top = Math.max(band[1] * 1.4, value || 0, 1);
    var pct = function (v) { return (100 * v / top).toFixed(1) + "%"; };
    var inBand = value >= band[0] && value <= band[1];
    return "<span class='bar' title='" + band[0] + "–" + band[1] + "'>" +
      "<span class='band' style='left:" + pct(band[0]) + ";width:" + pct(band[1] - band[0]) + "'></span>" +
      "<span class='fill " + (inBand ? "ok" : "off") + "' style='width:" + pct(value || 0) + "'></span></span>";
  }
  function renderStats() {
    var band = state.draft.band, s = state.summary || {};
    var head = ["", t.grid, weightLabel(), t.units, t.pieces, t.polsby, t.reock, t.roadShare, t.compoundsSplit];
    var rows = state.grids.map(function (g) {
      var m = state.metrics[g.key] || {};
      var weight = m.weight || 0;
      var bandCell = g.exclusive ? "<span class='tag'>" + esc(t.exclusiveTag) + "</span>" : bar(weight, band);
      return "<tr data-key='" + esc(g.key) + "'><td><i style='background:" + colourOf(g.key) + "'></i></td>" +
        "<td>" + esc(g.name || g.key) + "</td><td class='num'>" + fmt(weight) + " " + bandCell + "</td>" +
        "<td class='num'>" + fmt(m.units) + "</td>" +
        "<td class='num" + (m.pieces > 1 ? " warn" : "") + "'>" + fmt(m.pieces) + "</td>" +
        "<td class='num'>" + fixed(m.polsby_popper) + "</td><td class='num'>" + fixed(m.reock) + "</td>" +
        "<td class='num'>" + pct(m.road_share) + "</td><td class='num'>" +
        fmt((m.split_compounds || []).length) + "</td></tr>";
    });
    document.getElementById("rd-stats").innerHTML =
      "<p class='summary'>" + [
        [t.grids, s.grids], [t.inBand, s.in_band], [t.outOfBand, (s.under || 0) + (s.over || 0)],
        [t.nonContiguous, s.non_contiguous], [t.cutEdges, s.cut_edges], [t.total, fmt(s.total)],
        [t.unassigned, s.unassigned]
      ].filter(function (p) { return p[1] !== undefined && p[1] !== null; }).map(function (p) {
        return esc(p[0]) + " <b>" + esc(String(p[1])) + "</b>";
      }).join(" · ") + "</p>" +
      "<table><tr>" + head.map(function (h) { return "<th>" + esc(h) + "</th>"; }).join("") + "</tr>" +
      rows.join("") + "</table>";
  }
  function renderWarnings() {
    var box = document.getElementById("rd-warnings");
    var items = state.warnings.map(function (w, i) {
      return "<li class='" + esc(w.kind || "") + "'>" + esc(inLanguage(w.message)) +
        ((w.bbox && w.bbox.length) || (w.units && w.units.length)
          ? " <button type='button' data-warning='" + i + "'>" + esc(t.zoomTo) + "</button>" : "") + "</li>";
    });
    box.innerHTML = items.length ? items.join("") : "<li class='ok'>" + esc(t.noWarnings) + "</li>";
    var gate = document.getElementById("rd-gate");
    gate.innerHTML = state.gate.length
      ? "<b>" + esc(t.gate) + "</b><ul>" + state.gate.map(function (g) {
        return "<li>" + esc(inLanguage(g)) + "</li>";
      }).join("") + "</ul>"
      : "<span class='ok'>" + esc(t.gateOk) + "</span>";
  }
  /* Library messages are "中文 / English": the page's language's half. */
  function inLanguage(message) {
    var parts = String(message).split(" / ");
    return parts.length === 2 ? parts[cfg.lang === "en" ? 1 : 0] : message;
  }
  function zoomTo(warning) {
    var codes = (warning.units || []).slice();
    var bounds = L.latLngBounds([]);
    if (warning.bbox && warning.bbox.length === 4) {
      bounds.extend([[warning.bbox[1], warning.bbox[0]], [warning.bbox[3], warning.bbox[2]]]);
    }
    codes.forEach(function (code) {
      var layer = layerOf[code];
      if (layer) {
        bounds.extend(layer.getBounds());
        layer.setStyle({ color: "#ff0000", weight: 3, dashArray: null });
      }
    });
    if (bounds.isValid()) { map.fitBounds(bounds, { padding: [40, 40], maxZoom: 18, animate: false }); }
    setTimeout(restyleAll, 2500);
  }
  function renderWorkflow() {
    var d = state.draft, may = cfg.may;
    var handedIn = d.status === "submitted" || d.status === "approved";
    var show = {
      "rd-submit": may.edit && d.status === "draft",
      "rd-withdraw": may.edit && handedIn,
      "rd-approve": may.approve && d.status === "submitted",
      "rd-sendback": may.approve && !may.edit && handedIn,
      "rd-publish": may.publish && d.status === "approved"
    };
    Object.keys(show).forEach(function (id) { document.getElementById(id).hidden = !show[id]; });
    var who = [];
    if (d.submitted_by) { who.push(t.submittedBy + " " + d.submitted_by); }
    if (d.approved_by) { who.push(t.approvedBy + " " + d.approved_by); }
    if (d.published_generation) { who.push(t.publishedAs + " #" + d.published_generation); }
    if (d.stale) { who.push(t.staleBase); }
    document.getElementById("rd-flow").textContent = who.join(" · ");
  }
  function renderFiles() {
    var base = api + draftPath("/export");
    document.getElementById("rd-exports").innerHTML = cfg.exports.map(function (x) {
      return "<a href='" + base + "." + x[0] + "' download>" + esc(x[1]) + "</a>";
    }).join(" · ");
    document.getElementById("rd-import").disabled = !editable();
  }

  /* --- the palette's buttons --------------------------------------------------------- */
  function select(key) {
    if (!key || !state.gridOf[key]) { return; }
    state.selected = key;
    renderPalette();
    restyleAll();
  }
  function checkedKeys() {
    return state.grids.map(function (g) { return g.key; }).filter(function (k) { return state.checked[k]; });
  }
  document.getElementById("rd-grids").addEventListener("click", function (e) {
    var li = e.target.closest("li");
    if (!li) { return; }
    var key = li.getAttribute("data-key");
    if (e.target.type === "checkbox") { state.checked[key] = e.target.checked; return; }
    select(key);
  });
  /* Buttons a role does not get (a commander has no "new draft" box) are not on the page. */
  function on(id, handler) {
    var element = document.getElementById(id);
    if (element) { element.addEventListener("click", handler); }
  }
  /* A new grid is drawn, not made empty: the next stroke's units make it. */
  on("rd-new", function () {
    state.selected = NEW;
    colourOf(NEW);
    setTool("brush");
    renderPalette();
    say(t.paintNewGrid);
  });
  on("rd-merge", function () {
    var keys = checkedKeys();
    if (state.selected && keys.indexOf(state.selected) < 0) { keys.unshift(state.selected); }
    if (keys.length < 2) { say(t.mergeNeedsTwo, true); return; }
    change("/edit", { op: "merge", grids: keys });
  });
  on("rd-split", function () {
    change("/edit", { op: "split", grid: state.selected, k: Number(value("rd-k")) || 2,
                      seed: Number(value("rd-seed")) || 0 });
  });
  on("rd-lock", function () {
    var g = state.gridOf[state.selected];
    if (g) { change("/edit", { op: g.locked ? "unlock" : "lock", grid: g.key }); }
  });
  on("rd-exclusive", function () {
    var g = state.gridOf[state.selected];
    if (g) { change("/edit", { op: "exclusive", grid: g.key, exclusive: !g.exclusive }); }
  });
  on("rd-rename", function () {
    var name = value("rd-name");
    if (!name) { say(t.nameFirst, true); return; }
    change("/edit", { op: "rename", grid: state.selected, name: name });
  });
  on("rd-undo", function () { change("/edit", { op: "undo" }); });
  on("rd-redo", function () { change("/edit", { op: "redo" }); });
  on("rd-fix-contiguity", function () { change("/edit", { op: "fix_contiguity" }); });
  on("rd-fix-balance", function () { change("/edit", { op: "fix_balance", seed: Number(value("rd-seed")) || 0 }); });
  on("rd-propose", function () {
    say(t.proposing);
    change("/propose", { keep_current: document.getElementById("rd-keep").checked,
                         seed: Number(value("rd-seed")) || 0 }).then(function (d) {
      if (!d || !d.proposal) { return; }
      var p = d.proposal;
      say(t.proposed.replace("{grids}", p.grids).replace("{in_band}", p.in_band)
        .replace("{seconds}", p.seconds.toFixed(1)) +
        (p.kept_share === null || p.kept_share === undefined ? "" : " " + t.kept.replace("{share}", pct(p.kept_share))));
      document.getElementById("rd-kept").textContent =
        p.kept_share === null || p.kept_share === undefined ? "" : t.kept.replace("{share}", pct(p.kept_share));
    });
  });
  ["rd-brush", "rd-hand", "rd-line"].forEach(function (id) {
    on(id, function () { setTool(id.slice(3)); if (id === "rd-line") { say(t.drawLine); } });
  });
  function setTool(tool) {
    state.tool = tool;
    if (tool === "brush") { map.dragging.disable(); } else { map.dragging.enable(); }
    if (tool === "line") { map.doubleClickZoom.disable(); } else { map.doubleClickZoom.enable(); }
    document.getElementById("rd-brush").setAttribute("aria-pressed", String(tool === "brush"));
    document.getElementById("rd-hand").setAttribute("aria-pressed", String(tool !== "brush"));
    container.style.cursor = tool === "hand" ? "" : "crosshair";
  }
  document.addEventListener("keydown", function (e) {
    if (!(e.ctrlKey || e.metaKey) || !state.draft || /INPUT|SELECT|TEXTAREA/.test(e.target.tagName)) { return; }
    var key = e.key.toLowerCase();
    if (key === "z" && !e.shiftKey) { e.preventDefault(); if (editable()) { change("/edit", { op: "undo" }); } }
    if (key === "y" || (key === "z" && e.shiftKey)) { e.preventDefault(); if (editable()) { change("/edit", { op: "redo" }); } }
  });

  /* --- workflow ---------------------------------------------------------------------- */
  ["submit", "approve", "publish", "withdraw", "sendback"].forEach(function (step) {
    on("rd-" + step, function () {
      var path = "/" + (step === "sendback" ? "withdraw" : step);
      say(t.working);
      change(path, {}).then(function (d) {
        if (d && d.published_generation) { say(t.published.replace("{id}", d.published_generation)); }
        refreshDraftList();
      });
    });
  });

  /* --- files ------------------------------------------------------------------------- */
  document.getElementById("rd-import").addEventListener("change", function (e) {
    var file = e.target.files[0];
    if (!file) { return; }
    file.text().then(function (text) {
      queue = queue.then(function () {
        return request(api + draftPath("/import?version=" + state.version), {
          method: "POST", body: text, headers: { "Content-Type": "text/csv" }
        }).then(applyChange).catch(failed);
      });
      e.target.value = "";
    });
  });

  /* --- compare ------------------------------------------------------------------------- */
  var second = null, secondLayer = null, syncing = false;
  on("rd-compare-go", function () {
    var other = document.getElementById("rd-compare-with").value;
    request(api + draftPath("/compare?with=" + encodeURIComponent(other))).then(showComparison)
      .catch(function (err) { say(err.message, true); });
  });
  on("rd-compare-close", function () {
    document.getElementById("rd-maps").classList.remove("split");
    document.getElementById("rd-map2").hidden = true;
    document.getElementById("rd-compare-out").innerHTML = "";
    map.invalidateSize();
  });
  function showComparison(d) {
    var maps = document.getElementById("rd-maps");
    maps.classList.add("split");
    document.getElementById("rd-map2").hidden = false;
    map.invalidateSize();
    if (!second) {
      second = L.map("rd-map2", { preferCanvas: true, zoomControl: false, attributionControl: false });
      secondLayer = L.geoJSON(null).addTo(second);
      var sync = function (from, to) {
        return function () {
          if (syncing) { return; }
          syncing = true;
          to.setView(from.getCenter(), from.getZoom(), { animate: false });
          syncing = false;
        };
      };
      map.on("move", sync(map, second));
      second.on("move", sync(second, map));
    }
    second.invalidateSize();
    secondLayer.clearLayers();
    var theirs = d.other_assignment || {};
    secondLayer.addData({ type: "FeatureCollection", features: Object.keys(layerOf).map(function (code) {
      return layerOf[code].feature;
    }) });
    secondLayer.eachLayer(function (layer) {
      var key = theirs[layer.feature.id];
      layer.setStyle({ fillColor: key ? colourOf(key) : "#fff", fillOpacity: 0.55, color: "#fff", weight: 0.8 });
      layer.bindTooltip(esc(key || ""), { sticky: true });
    });
    var b = index.bounds;  // the whole parent, on maps half as wide
    map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [10, 10], animate: false });
    second.setView(map.getCenter(), map.getZoom(), { animate: false });
    document.getElementById("rd-map2-label").textContent = d.label || "";
    var out = "<p>" + esc(t.unitsMoved) + " <b>" + d.units_moved + "</b> · " + esc(weightLabel()) + " " +
      esc(t.moved) + " <b>" + fmt(d.weight_moved) + "</b></p>";
    out += table(t.gridDeltas, d.grids, ["grid", "weight_here", "weight_there", "weight_delta",
                                         "pieces_delta", "polsby_popper_delta"]);
    out += table(t.overlaps, (d.overlaps || []).map(function (o) {
      return { grid: o.grid, predecessors: o.predecessors.map(function (p) {
        return p.code + " " + pct(p.share);
      }).join(", ") };
    }), ["grid", "predecessors"]);
    out += table(t.unitChanges, d.units, ["unit", "here", "there", "weight"]);
    document.getElementById("rd-compare-out").innerHTML = out;
  }
  function table(title, rows, columns) {
    if (!rows || !rows.length) { return ""; }
    return "<h4>" + esc(title) + "</h4><table><tr>" + columns.map(function (c) {
      return "<th>" + esc(t["col_" + c] || c) + "</th>";
    }).join("") + "</tr>" + rows.map(function (r) {
      return "<tr>" + columns.map(function (c) {
        var v = r[c];
        return "<td>" + esc(typeof v === "number" ? fmt(v) : v === null || v === undefined ? "" : v) + "</td>";
      }).join("") + "</tr>";
    }).join("") + "</table>";
  }

  /* --- impact -------------------------------------------------------------------------- */
  on("rd-impact-go", function () {
    document.getElementById("rd-impact-out").textContent = t.working;
    request(api + draftPath("/impact")).then(function (d) {
      var out = "<p>" + d.figures.map(function (f) {
        return esc(f.label) + " <b>" + fmt(f.value) + "</b>";
      }).join(" · ") + "</p>";
      d.tables.forEach(function (tab) { out += table(tab.title, tab.rows, tab.columns); });
      document.getElementById("rd-impact-out").innerHTML = out;
    }).catch(function (err) {
      document.getElementById("rd-impact-out").textContent = "";
      say(err.message, true);
    });
  });

  /* --- choosing a level, a parent, a draft ---------------------------------------------- */
  var levelBox = document.getElementById("rd-level");
  var parentBox = document.getElementById("rd-parent");
  var draftBox = document.getElementById("rd-draft");
  function options(box, items, chosen) {
    box.innerHTML = items.map(function (o) {
      return "<option value='" + esc(o[0]) + "'" + (o[0] === chosen ? " selected" : "") + ">" + esc(o[1]) + "</option>";
    }).join("");
  }
  function loadParents(chosen) {
    return request(api + "/parents?level=" + encodeURIComponent(levelBox.value)).then(function (d) {
      options(parentBox, d.parents.map(function (p) {
        return [p.code, (p.name || p.code) + " " + p.code + " · " + p.units + " " + t.unitsShort];
      }), chosen);
      return refreshDraftList();
    });
  }
  function refreshDraftList(chosen) {
    var q = "?level=" + encodeURIComponent(levelBox.value) + "&parent=" + encodeURIComponent(parentBox.value);
    return request(api + "/drafts" + q).then(function (d) {
      chosen = chosen || (state.draft ? String(state.draft.id) : "");
      options(draftBox, [["", t.pickDraft]].concat(d.drafts.map(function (x) {
        return [String(x.id), "#" + x.id + " " + x.name + " (" + (t["status_" + x.status] || x.status) + ")"];
      })), chosen);
      var compare = [["base", t.baseGeneration]].concat(d.drafts.filter(function (x) {
        return !state.draft || x.id !== state.draft.id;
      }).map(function (x) { return ["draft:" + x.id, "#" + x.id + " " + x.name]; }))
        .concat(cfg.generations.map(function (g) { return ["generation:" + g.id, t.generation + " #" + g.id + " " + g.label]; }));
      options(document.getElementById("rd-compare-with"), compare, "base");
      return d;
    });
  }
  function openDraft(id) {
    say(t.loading);
    return request(api + "/drafts/" + id).then(function (d) {
      applyDraft(d);
      say("");
      var url = new URL(window.location.href);
      url.searchParams.set("draft", id);
      window.history.replaceState(null, "", url.toString());
      if (levelBox.value !== d.draft.level) { levelBox.value = d.draft.level; }
      if (parentBox.value !== d.draft.parent || !parentBox.options.length) {
        return loadParents(d.draft.parent).then(function () { draftBox.value = String(id); });
      }
      draftBox.value = String(id);
    }).catch(function (err) { say(err.message, true); });
  }
  levelBox.addEventListener("change", function () { loadParents(); });
  parentBox.addEventListener("change", function () { refreshDraftList(""); });
  draftBox.addEventListener("change", function () { if (draftBox.value) { openDraft(draftBox.value); } });
  on("rd-create", function () {
    var band = [Number(value("rd-band-min")), Number(value("rd-band-max"))];
    post("/drafts", { name: value("rd-draft-name") || t.untitled, level: levelBox.value, parent: parentBox.value,
                      weight: value("rd-weight"), band: band, numbering: value("rd-numbering") })
      .then(function (d) { return refreshDraftList(String(d.draft.id)).then(function () { return openDraft(d.draft.id); }); })
      .catch(function (err) { say(err.message, true); });
  });
  on("rd-branch", function () {
    if (!state.draft) { return; }
    post(draftPath("/branch"), { name: value("rd-draft-name") || state.draft.name + " " + t.branchSuffix })
      .then(function (d) { return refreshDraftList(String(d.draft.id)).then(function () { return openDraft(d.draft.id); }); })
      .catch(function (err) { say(err.message, true); });
  });

  /* --- small helpers ----------------------------------------------------------------------- */
  function value(id) {
    var element = document.getElementById(id);
    return element ? element.value.trim() : "";
  }
  function fmt(v) {
    if (v === null || v === undefined || v === "") { return "—"; }
    if (typeof v !== "number") { return String(v); }
    return Math.abs(v - Math.round(v)) < 1e-9 ? String(Math.round(v)) : v.toFixed(1);
  }
  function fixed(v) { return v === null || v === undefined ? "—" : v.toFixed(2); }
  function pct(v) { return v === null || v === undefined ? "—" : Math.round(v * 100) + "%"; }
  function esc(text) {
    return String(text === null || text === undefined ? "" : text).replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[ch];
    });
  }
  document.getElementById("rd-warnings").addEventListener("click", function (e) {
    var i = e.target.getAttribute("data-warning");
    if (i !== null) { zoomTo(state.warnings[Number(i)]); }
  });

  /* For tests and the bench: where a grid's units are on the screen (page pixels). */
  window.redrawDebug = {
    unitPoints: function (key) {
      var box = container.getBoundingClientRect();
      return index.items.filter(function (item) { return state.assignment[item.code] === key; })
        .map(function (item) {
          var p = map.latLngToContainerPoint([item.point[1], item.point[0]]);
          return [p.x + box.left, p.y + box.top];
        });
    },
    state: state
  };

  setTool("brush");
  busy(false);
  var start = cfg.start || {};
  if (start.level) { levelBox.value = start.level; }
  (start.draft ? openDraft(start.draft) : loadParents(start.parent))
    .then(function () { document.body.setAttribute("data-ready", "true"); });
})();
