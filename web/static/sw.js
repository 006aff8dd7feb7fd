// posturewatch service worker: the app shell from the cache, pages and data from the network
// with the last copy kept for reading offline. Live events and POSTs are never cached.
"use strict";
const BASE = "__BASE__";
const CACHE = "posturewatch-__VERSION__";
const SHELL = ["/static/app.css", "/static/app.js", "/static/icon.svg", "/static/icon-192.png",
  "/manifest.webmanifest", "/offline"].map((p) => BASE + p);

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("message", (event) => {
  if (event.data === "forget") event.waitUntil(caches.delete(CACHE));  // signed out
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || !url.pathname.startsWith(BASE + "/")
      || url.pathname.endsWith("/events")) {
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
    return;
  }
  event.respondWith(fetch(request).then((response) => {
    if (response.ok && !response.redirected) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(request, copy));
    }
    return response;
  }).catch(() => caches.match(request).then((hit) => hit
    || (request.mode === "navigate" ? caches.match(BASE + "/offline") : Response.error()))));
});
