/* The phone page's service worker: the app shell opens offline; my tasks and the categories
   are read from the network first, from the last copy when there is none; changes (POST)
   never pass through a cache. Served by web/phone.py, which fills in the version and shell. */
"use strict";

/* {version, page, pages: [the page in each language], files: [shell files],
    data: [API paths read network-first], reports: the prefix of a report's path} */
const CONFIG = __CONFIG__;
const SHELL_CACHE = "phone-shell-" + CONFIG.version;
const DATA_CACHE = "phone-data";
const PAGE = CONFIG.page;

/* API reads kept for offline use: my tasks, the categories, a task's details. */
function isData(path) {
  return CONFIG.data.includes(path) || new RegExp("^" + CONFIG.reports + "\\d+$").test(path);
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    await cache.addAll(CONFIG.files);
    // The pages need a session: kept only when they came (not a redirect to sign in).
    for (const url of CONFIG.pages) {
      try {
        const response = await fetch(url, { credentials: "same-origin" });
        if (response.ok && !response.redirected) { await cache.put(url, response); }
      } catch (error) { /* offline while installing: the page is kept on its next visit */ }
    }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((name) => name.startsWith("phone-shell-") && name !== SHELL_CACHE)
      .map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate" || url.pathname === PAGE) {
    event.respondWith(pageFirstFromNetwork(request));
  } else if (CONFIG.files.includes(url.pathname + url.search)) {
    event.respondWith(shellFromCache(request));
  } else if (isData(url.pathname)) {
    event.respondWith(dataFromNetwork(request));
  }
});

/* The page: a fresh copy (with a fresh CSRF token) when online, the kept one when not. */
async function pageFirstFromNetwork(request) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected && new URL(request.url).pathname === PAGE) {
      await cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    return (await cache.match(request)) || (await cache.match(PAGE)) || offline();
  }
}

async function shellFromCache(request) {
  const cache = await caches.open(SHELL_CACHE);
  const kept = await cache.match(request);
  if (kept) { return kept; }
  const response = await fetch(request);
  if (response.ok) { await cache.put(request, response.clone()); }
  return response;
}

async function dataFromNetwork(request) {
  const cache = await caches.open(DATA_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) { await cache.put(request, response.clone()); }
    return response;
  } catch (error) {
    return (await cache.match(request)) || offline();
  }
}

/* No network and no copy: 504, as a gateway that could not reach the server would say. */
function offline() {
  const body = JSON.stringify({ error: { type: "Offline", message: "offline, and no copy kept" } });
  return new Response(body, { status: 504, headers: { "Content-Type": "application/json" } });
}
