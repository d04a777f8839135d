/* The residents' page (web/resident.py): report a matter, follow it by its ticket, rate it.
 *
 * Plain JavaScript, no framework. The page's settings and words are window.RESIDENT.
 * body.dataset: ready ("true" once set up), busy ("true" while a request is on its way),
 * photos ("done" once the photos of a report have been sent, whatever became of them).
 */
(function () {
  "use strict";
  var cfg = window.RESIDENT;
  var t = cfg.texts;
  var $ = function (id) { return document.getElementById(id); };
  var place = null;       // {lon, lat} in WGS-84
  var photos = [];        // File objects to send once the report is stored
  var clientId = newId(); // the same for resends of one report: it is stored once

  function words(key, values) {
    return (t[key] || key).replace(/\{(\w+)\}/g, function (_, name) {
      return values && values[name] !== undefined ? values[name] : "";
    });
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function busy(on) { document.body.dataset.busy = on ? "true" : "false"; }

  /* A request to the app; resolves with {ok, status, body} and never rejects. */
  function call(url, init) {
    init = init || {};
    init.headers = Object.assign({ Accept: "application/json" }, init.headers);
    if (cfg.csrfToken) { init.headers["X-CSRFToken"] = cfg.csrfToken; }
    init.credentials = "same-origin";
    busy(true);
    return fetch(url, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { ok: response.ok, status: response.status, body: body };
      });
    }, function () {
      return { ok: false, status: 0, body: { error: { message: t.offline } } };
    }).then(function (answer) { busy(false); return answer; });
  }

  function postJson(url, body) {
    return call(url, { method: "POST", headers: { "Content-Type": "application/json" },
                       body: JSON.stringify(body) });
  }

  function reason(answer) {
    if (answer.status === 0) { return t.offline; }
    return (answer.body.error && answer.body.error.message) || ("HTTP " + answer.status);
  }

  function say(id, text, kind) {
    var box = $(id);
    box.textContent = text || "";
    box.className = "message" + (kind ? " " + kind : "");
  }

  function when(iso) {
    if (!iso) { return "—"; }
    return new Intl.DateTimeFormat(cfg.lang === "zh" ? "zh-CN" : "en-GB", {
      timeZone: cfg.zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit"
    }).format(new Date(iso));
  }

  function element(tag, attributes, text) {
    var made = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (k) { made.setAttribute(k, attributes[k]); });
    if (text !== undefined && text !== null) { made.textContent = text; }
    return made;
  }

  function ticketUrl(ticket, tail) {
    return cfg.ticketUrl.replace("TICKET", encodeURIComponent(ticket)) + (tail || "");
  }

  function followUrl(ticket) {
    return cfg.pageUrl + "?ticket=" + encodeURIComponent(ticket) +
      (cfg.lang === "en" ? "&lang=en" : "");
  }

  // --- tabs -------------------------------------------------------------------------------

  function showTab(name) {
    ["report", "lookup"].forEach(function (tab) {
      $("rs-" + tab).hidden = tab !== name;
      $("rs-tab-" + tab).setAttribute("aria-selected", tab === name ? "true" : "false");
    });
    if (name === "report" && map) { map.invalidateSize(); }
  }

  // --- the map ----------------------------------------------------------------------------

  var map = null;
  var marker = null;

  function setUpMap() {
    map = L.map("rs-map", { zoomSnap: 0.5 });
    if (cfg.tiles) { L.tileLayer(cfg.tiles, { attribution: cfg.attribution || "" }).addTo(map); }
    var v = cfg.view;
    map.fitBounds([[v[1], v[0]], [v[3], v[2]]]);
    map.on("click", function (event) { choose(event.latlng.lng, event.latlng.lat); });
  }

  function choose(lon, lat) {
    place = { lon: Math.round(lon * 1e7) / 1e7, lat: Math.round(lat * 1e7) / 1e7 };
    if (!marker) {
      marker = L.circleMarker([lat, lon], { radius: 9, color: "#c0392b", weight: 3,
                                            fillColor: "#e74c3c", fillOpacity: 0.6 }).addTo(map);
    } else {
      marker.setLatLng([lat, lon]);
    }
    $("rs-place").textContent = t.placeChosen + ": " + place.lat.toFixed(5) + ", " +
      place.lon.toFixed(5);
    say("rs-report-message", "");
  }

  function locate() {
    if (!navigator.geolocation) { say("rs-report-message", t.noGeolocation, "error"); return; }
    $("rs-place").textContent = t.locating;
    navigator.geolocation.getCurrentPosition(function (position) {
      // The Geolocation API gives WGS-84, as the report is sent.
      choose(position.coords.longitude, position.coords.latitude);
      map.setView([position.coords.latitude, position.coords.longitude],
                  Math.max(map.getZoom(), 17));
    }, function () {
      $("rs-place").textContent = "";
      say("rs-report-message", t.noGeolocation, "error");
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  // --- the report form --------------------------------------------------------------------

  function fillCategories() {
    var select = $("rs-category");
    select.appendChild(element("option", { value: "" }, t.pickCategory));
    cfg.categories.forEach(function (root) {
      if (!root.children.length) {
        select.appendChild(element("option", { value: root.code }, root.name));
        return;
      }
      var group = element("optgroup", { label: root.name });
      root.children.forEach(function (child) {
        group.appendChild(element("option", { value: child.code }, child.name));
      });
      group.appendChild(element("option", { value: root.code }, root.name + " · " + t.other));
      select.appendChild(group);
    });
  }

  function addPhotos(files) {
    Array.prototype.forEach.call(files, function (file) {
      if (photos.length < cfg.maxPhotos) { photos.push(file); }
    });
    if (photos.length >= cfg.maxPhotos && files.length) {
      say("rs-report-message", words("tooManyPhotos", { n: cfg.maxPhotos }));
    }
    $("rs-photos").value = "";
    showPhotos();
  }

  function showPhotos() {
    var list = $("rs-previews");
    list.textContent = "";
    photos.forEach(function (file, index) {
      var item = element("li");
      var image = element("img", { alt: file.name });
      image.src = URL.createObjectURL(file);
      image.onload = function () { URL.revokeObjectURL(image.src); };
      var remove = element("button", { type: "button", "aria-label": t.removePhoto }, "×");
      remove.addEventListener("click", function () { photos.splice(index, 1); showPhotos(); });
      item.appendChild(image);
      item.appendChild(remove);
      list.appendChild(item);
    });
  }

  function reportBody() {
    var body = { category: $("rs-category").value, lon: place.lon, lat: place.lat,
                 crs: "WGS-84", description: $("rs-description").value.trim(),
                 client_id: clientId };
    var name = $("rs-name").value.trim(), phone = $("rs-phone").value.trim();
    if (name || phone) { body.contact = { name: name || null, phone: phone || null }; }
    return body;
  }

  function missing() {
    if (!place) { return t.needPlace; }
    if (!$("rs-category").value) { return t.needCategory; }
    if (!$("rs-description").value.trim()) { return t.needDescription; }
    return "";
  }

  function submit(event) {
    event.preventDefault();
    var problem = missing();
    if (problem) { say("rs-report-message", problem, "error"); return; }
    $("rs-submit").disabled = true;
    say("rs-report-message", t.sending);
    postJson(cfg.reportsUrl, reportBody()).then(function (answer) {
      $("rs-submit").disabled = false;
      if (!answer.ok) { say("rs-report-message", words("failed", { reason: reason(answer) }), "error"); return; }
      say("rs-report-message", "");
      showTicket(answer.body.ticket);
      return sendPhotos(answer.body.ticket);
    });
  }

  function showTicket(ticket) {
    $("rs-form").hidden = true;
    $("rs-done").hidden = false;
    $("rs-ticket").textContent = ticket;
    $("rs-follow").href = followUrl(ticket);
    $("rs-done").scrollIntoView();
  }

  /* Photos go one by one after the report is stored: a photo that fails never loses it. */
  function sendPhotos(ticket) {
    var queue = photos.slice(), sent = 0, problems = [];
    var status = $("rs-upload");
    function next() {
      if (!queue.length) {
        var lines = sent ? [words("uploaded", { n: sent })] : [];
        status.textContent = lines.concat(problems).join("\n");
        document.body.dataset.photos = "done";
        return Promise.resolve();
      }
      var file = queue.shift();
      status.textContent = words("uploading", { i: sent + problems.length + 1, n: photos.length });
      var form = new FormData();
      form.append("photo", file, file.name);
      return call(ticketUrl(ticket, "/media"), { method: "POST", body: form }).then(function (answer) {
        if (answer.ok) { sent += 1; } else {
          problems.push(words("photoFailed", { name: file.name, reason: reason(answer) }));
        }
        return next();
      });
    }
    return next();
  }

  function another() {
    clientId = newId();
    photos = [];
    showPhotos();
    $("rs-form").reset();
    $("rs-form").hidden = false;
    $("rs-done").hidden = true;
    $("rs-upload").textContent = "";
    delete document.body.dataset.photos;
    map.invalidateSize();
  }

  function copyTicket() {
    var ticket = $("rs-ticket").textContent;
    var done = function () { $("rs-copy").textContent = t.copied; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(ticket).then(done, function () { selectTicket(); });
    } else {
      selectTicket();
    }
  }

  function selectTicket() {  // no clipboard here: select it, for the phone's own copy menu
    var range = document.createRange();
    range.selectNodeContents($("rs-ticket"));
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // --- looking up a ticket ----------------------------------------------------------------

  function lookUp(event) {
    if (event) { event.preventDefault(); }
    var ticket = $("rs-lookup-input").value.trim();
    if (!ticket) { return; }
    say("rs-lookup-message", "");
    return call(ticketUrl(ticket)).then(function (answer) {
      if (answer.status === 404) { $("rs-view").hidden = true; say("rs-lookup-message", t.notFound, "error"); return; }
      if (!answer.ok) { $("rs-view").hidden = true; say("rs-lookup-message", reason(answer), "error"); return; }
      $("rs-lookup-input").value = answer.body.ticket;
      showView(answer.body);
    });
  }

  function label(labels) { return labels[cfg.lang] || labels.zh; }

  function showView(view) {
    var box = $("rs-view");
    box.textContent = "";
    box.hidden = false;
    box.dataset.status = view.status;
    var status = view.outcome === "rejected" ? t.rejected : label(view.status_label);
    var kind = view.outcome === "rejected" ? "rejected" : view.status;
    var head = element("p", { id: "rs-status", class: "status status-" + kind }, status);
    if (view.overdue) { head.appendChild(element("span", { class: "overdue" }, t.overdue)); }
    box.appendChild(head);
    var facts = element("dl");
    [[t.ticket, view.ticket], [t.category, view.category[cfg.lang] || view.category.zh],
     [t.receivedAt, when(view.received_at)], [t.deadline, when(view.deadline)]]
      .concat(view.closed_at ? [[t.closedAt, when(view.closed_at)]] : [])
      .forEach(function (pair) {
        facts.appendChild(element("dt", null, pair[0]));
        facts.appendChild(element("dd", null, pair[1]));
      });
    box.appendChild(facts);
    box.appendChild(element("h3", null, t.timeline));
    box.appendChild(timeline(view.timeline));
    if (view.rating) { box.appendChild(givenRating(view.rating)); }
    if (view.may_rate) { box.appendChild(ratingForm(view.ticket)); }
  }

  function timeline(steps) {
    var list = element("ol", { id: "rs-timeline" });
    steps.forEach(function (step) {
      var item = element("li");
      item.appendChild(element("time", { datetime: step.at }, when(step.at)));
      var what = step.event === "escalated" ? t.escalated
        : step.outcome === "rejected" ? t.rejected : label(step.label);
      item.appendChild(element("b", null, what));
      if (step.note) {
        var kind = step.outcome === "rejected" ? t.rejectedNote : t.closedNote;
        item.appendChild(element("p", { class: "note" }, kind + (cfg.lang === "zh" ? "：" : ": ") + step.note));
      }
      list.appendChild(item);
    });
    return list;
  }

  function stars(score) {
    return "★★★★★".slice(0, score) + "☆☆☆☆☆".slice(score);
  }

  function givenRating(rating) {
    var box = element("div", { id: "rs-rating", class: "rating" });
    box.appendChild(element("h3", null, t.yourRating));
    box.appendChild(element("p", { class: "stars", "aria-label": words("stars", { n: rating.score }) },
                            stars(rating.score) + " " + t["score_" + rating.score]));
    if (rating.note) { box.appendChild(element("p", { class: "note" }, rating.note)); }
    return box;
  }

  function ratingForm(ticket) {
    var form = element("form", { id: "rs-rate", class: "rating" });
    form.appendChild(element("h3", null, t.rate));
    var group = element("fieldset", { class: "stars" });
    group.appendChild(element("legend", null, t.rateHint));
    [1, 2, 3, 4, 5].forEach(function (score) {
      var input = element("input", { type: "radio", name: "score", value: String(score),
                                     id: "rs-score-" + score });
      var text = element("label", { for: "rs-score-" + score,
                                    title: t["score_" + score] }, "★");
      text.setAttribute("aria-label", words("stars", { n: score }) + " " + t["score_" + score]);
      group.appendChild(input);
      group.appendChild(text);
    });
    form.appendChild(group);
    form.appendChild(element("label", { for: "rs-rate-note" }, t.ratingNote));
    form.appendChild(element("textarea", { id: "rs-rate-note", rows: "3", maxlength: "500" }));
    form.appendChild(element("div", { id: "rs-rate-message", class: "message", role: "alert" }));
    form.appendChild(element("button", { type: "submit", id: "rs-rate-submit", class: "primary" },
                             t.sendRating));
    form.addEventListener("change", function () {  // light the stars up to the chosen one
      var chosen = form.querySelector("input[name=score]:checked");
      var score = chosen ? Number(chosen.value) : 0;
      form.querySelectorAll(".stars label").forEach(function (star, i) {
        star.classList.toggle("on", i < score);
      });
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var chosen = form.querySelector("input[name=score]:checked");
      if (!chosen) { say("rs-rate-message", t.rateHint, "error"); return; }
      postJson(ticketUrl(ticket, "/rating"), { score: Number(chosen.value),
                                                note: $("rs-rate-note").value.trim() })
        .then(function (answer) {
          if (!answer.ok) { say("rs-rate-message", reason(answer), "error"); return; }
          showView(answer.body);
          say("rs-lookup-message", t.thanks, "ok");
        });
    });
    return form;
  }

  // --- start ------------------------------------------------------------------------------

  function start() {
    busy(false);
    setUpMap();
    fillCategories();
    $("rs-tab-report").addEventListener("click", function () { showTab("report"); });
    $("rs-tab-lookup").addEventListener("click", function () { showTab("lookup"); });
    $("rs-locate").addEventListener("click", locate);
    $("rs-photos").addEventListener("change", function (e) { addPhotos(e.target.files); });
    $("rs-form").addEventListener("submit", submit);
    $("rs-copy").addEventListener("click", copyTicket);
    $("rs-another").addEventListener("click", another);
    $("rs-lookup-form").addEventListener("submit", lookUp);
    if (cfg.ticket) {
      showTab("lookup");
      $("rs-lookup-input").value = cfg.ticket;
      lookUp();
    }
    document.body.dataset.ready = "true";
  }

  start();
}());
