/* Doorstep's service worker for the phone pages (/today/; docs/safety-core.md, "When the phone
   has no signal"). It does one thing: when a page cannot load, it shows the offline page (what
   to text, whom to ring) instead of the browser's own error.

   What it keeps in the phone: the offline page and the static files that page names, nothing
   else. Pages, answers and anything about a pupil or a household are never cached: every
   request goes to the network as if there were no worker; only when a page (or a stylesheet)
   cannot be fetched does it answer from its cache. Served by safety.checkins.views.sw_js. */
"use strict";

var CACHE = "{{ cache_name|escapejs }}";
var OFFLINE = "{{ offline_url|escapejs }}";
var STATIC = "{{ static_url|escapejs }}";
var FALLBACK = "<!doctype html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" " +
  "content=\"width=device-width, initial-scale=1\"><title>No signal</title></head><body><h1>No signal</h1>" +
  "<p><strong>If you pressed a button just now, it has NOT been sent.</strong> Text the school's Doorstep number or ring the school " +
  "office. In danger: ring 999.</p></body></html>";

/* The offline page, fetched with the member of staff's session while there is a signal (it
   carries their school's numbers), and the static files it links to. A page that is not the
   offline page itself (a sign-in page after a redirect, an error) is not kept. */
function keepOffline() {
  return fetch(OFFLINE, { credentials: "same-origin", cache: "no-store", redirect: "manual" }).then(function (response) {
    if (!response.ok || response.type !== "basic" || new URL(response.url).pathname !== OFFLINE) { return null; }
    return response.clone().text().then(function (html) {
      var assets = [];
      html.replace(/(?:href|src)="([^"]+)"/g, function (_, url) {
        var u = new URL(url, self.location.origin);
        if (u.origin === self.location.origin && u.pathname.indexOf(STATIC) === 0) { assets.push(u.pathname); }
        return "";
      });
      return caches.open(CACHE).then(function (cache) {
        return cache.put(OFFLINE, response).then(function () { return cache.addAll(assets); });
      });
    });
  }).catch(function () { return null; });
}

self.addEventListener("install", function (event) {
  event.waitUntil(keepOffline().then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n !== CACHE; }).map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

// The page asks again each time it opens with a signal: the school's numbers stay current.
self.addEventListener("message", function (event) {
  if (event.data === "keep-offline-page") { event.waitUntil(keepOffline()); }
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(function () {
      return caches.open(CACHE).then(function (cache) { return cache.match(OFFLINE, { ignoreVary: true }); })
        .then(function (page) {
          return page || new Response(FALLBACK, { headers: { "Content-Type": "text/html; charset=utf-8" } });
        });
    }));
    return;
  }
  if (request.method === "GET" && url.pathname.indexOf(STATIC) === 0) {
    event.respondWith(fetch(request).catch(function () {
      return caches.open(CACHE).then(function (cache) { return cache.match(request, { ignoreVary: true }); })
        .then(function (hit) { return hit || Response.error(); });
    }));
  }
  // Anything else: the network only, untouched.
});
