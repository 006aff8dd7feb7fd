// posturewatch web: live updates of the Now page (server-sent events), snooze buttons,
// reminders as browser notifications while the app is open, and the offline service worker.
"use strict";

(function () {
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
  const base = meta("base-path");
  const csrf = meta("csrf-token");
  const page = document.body.dataset.page;
  const wearer = document.body.dataset.wearer;

  const POSTURES = { sitting: "Sitting", standing: "Standing", walking: "Walking", lying: "Lying",
    running: "Running", stairs: "On stairs", cycling: "Cycling", not_worn: "Sensors not worn",
    unknown: "Not known" };
  const ANGLES = [["pelvic_tilt", "Pelvic tilt"], ["trunk_inclination", "Upper-back lean"],
    ["lumbar_flexion", "Lower-back rounding"], ["neck_flexion", "Neck bend"]];
  const KINDS = { prolonged_sitting: "Long sitting", posterior_tilt: "Pelvis tilted back",
    forward_head: "Head and upper back forward", lumbar_bend: "Bending with the back" };
  const LIVE = { connected: "Live", connecting: "Connecting to the live feed…",
    down: "Live feed unreachable; showing what was last received", off: "Live updates are off" };

  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const minutes = (ms) => {
    const m = Math.max(0, Math.round(ms / 60000));
    return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
  };
  const el = (tag, text, cls) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  };
  const fill = (id, items, empty) => {
    const list = document.getElementById(id);
    if (!list) return;
    list.replaceChildren(...(items.length ? items : [el("li", empty, "muted")]));
  };

  // ---- Now page --------------------------------------------------------------------------
  const alertsSeen = new Map();

  function render(state) {
    const text = (id, value) => { const n = document.getElementById(id); if (n) n.textContent = value; };
    text("posture", state.posture ? (POSTURES[state.posture] || state.posture) : "No data yet");
    // durations on the data clock (the latest frame's time): a demo runs faster than the wall clock
    const since = state.posture_since_ms;
    text("posture-since", since
      ? `since ${clock(since)}${state.data_ms ? ` (${minutes(state.data_ms - since)})` : ""}` : "");
    budget(state.reminders, text);
    const offline = state.online === false ? " · the wearer's device is offline" : "";
    text("live-state", (LIVE[state.live] || state.live) + offline);
    const angles = document.getElementById("angles");
    if (angles) {
      angles.replaceChildren(...ANGLES.filter(([k]) => k in (state.angles || {})).map(([k, label]) => {
        const row = el("div");
        const v = state.angles[k];
        row.append(el("dt", label), el("dd", v === null ? "–" : `${Math.round(v)}°`));
        return row;
      }));
    }
    fill("episodes", (state.episodes || []).map((e) =>
      el("li", `${KINDS[e.kind] || e.kind}${e.start_ms ? ` since ${clock(e.start_ms)}` : ""}`)), "None right now");
    fill("sensors", (state.sensors || []).map((s) =>
      el("li", `${s.location}: ${s.state}${s.battery_pct == null ? "" : `, battery ${Math.round(s.battery_pct)} %`}`)),
      "No sensor status yet");
    for (const a of state.alerts || []) if (a.id) alertsSeen.set(a.id, a);
    const latest = [...alertsSeen.values()].sort((a, b) => (b.ts_ms || 0) - (a.ts_ms || 0)).slice(0, 5);
    fill("alerts", latest.map((a) => {
      const li = el("li");
      li.append(el("strong", a.title || a.kind), " ", el("span", a.ts_ms ? clock(a.ts_ms) : "", "muted"),
        el("br"), a.message || "");
      return li;
    }), "No reminders today");
    const s = state.snooze;
    if (s) {
      text("snooze-state", s.ok ? (s.until_ms ? `Reminders paused until ${clock(s.until_ms)}` : "Reminders on")
        : `Pause refused: ${s.error || "unknown reason"}`);
    }
  }

  // the same words as web/pages.py: budget_texts
  function budget(r, text) {
    const out = document.getElementById("budget-out");
    if (!r || r.used == null) { text("budget-use", ""); if (out) out.hidden = true; return; }
    let use = r.budget ? `Reminders today: ${r.used} of ${r.budget} used` : `Reminders today: ${r.used} (no daily limit)`;
    let said = "";
    if (r.budget && r.exhausted) {
      said = "No more reminders today." + (r.resumes_ms ? ` They start again at ${clock(r.resumes_ms)}.` : "");
    } else if (r.budget && r.allowed_now != null && r.used < r.allowed_now) {
      use += " · the next one can come now";
    } else if (r.budget && r.next_allowance_ms) {
      use += ` · the next one not before ${clock(r.next_allowance_ms)}`;
    }
    text("budget-use", use);
    if (out) { out.textContent = said; out.hidden = !said; }
  }

  function notify(alert) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const title = alert.title || "Posture reminder";
    const options = { body: alert.message || "", tag: alert.id || undefined, icon: `${base}/static/icon-192.png` };
    try {
      new Notification(title, options);
    } catch (err) {
      // Android's browsers only show notifications through the service worker
      if (navigator.serviceWorker) navigator.serviceWorker.ready.then((reg) => reg.showNotification(title, options));
    }
  }

  function notificationButton() {
    const button = document.getElementById("notify");
    const state = document.getElementById("notify-state");
    if (!button || !("Notification" in window)) {
      if (state) state.textContent = "This browser cannot show notifications.";
      return;
    }
    const show = () => {
      const p = Notification.permission;
      button.hidden = p !== "default";
      state.textContent = p === "granted" ? "Reminders also appear as notifications while this app is open."
        : p === "denied" ? "Notifications are blocked for this site in the browser settings." : "";
    };
    button.addEventListener("click", () => Notification.requestPermission().then(show, show));
    show();
  }

  function snoozeButtons() {
    for (const button of document.querySelectorAll("button[data-snooze]")) {
      button.addEventListener("click", async () => {
        const status = document.getElementById("snooze-state");
        status.textContent = "Sending…";
        try {
          const resp = await fetch(`${base}/api/w/${encodeURIComponent(wearer)}/snooze`, {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
            body: button.dataset.snooze,
          });
          const body = await resp.json().catch(() => ({}));
          status.textContent = resp.ok ? "Sent; waiting for the wearer's device to confirm…"
            : `Not sent: ${body.error || resp.status}`;
        } catch (err) {
          status.textContent = "Not sent: no connection";
        }
      });
    }
  }

  function liveUpdates() {
    const banner = document.getElementById("offline");
    const source = new EventSource(`${base}/api/w/${encodeURIComponent(wearer)}/events`);
    source.addEventListener("state", (ev) => {
      banner.hidden = true;
      render(JSON.parse(ev.data));
      // the stream is up and has delivered (what a test waits for before it measures the 2 s)
      document.body.dataset.stream = "open";
    });
    source.addEventListener("alert", (ev) => notify(JSON.parse(ev.data)));
    source.addEventListener("error", () => { banner.hidden = navigator.onLine; });
  }

  if (page === "now") {
    const initial = document.getElementById("initial-state");
    if (initial) render(JSON.parse(initial.textContent));
    snoozeButtons();
    notificationButton();
    liveUpdates();
  }

  // ---- offline ---------------------------------------------------------------------------
  const banner = document.getElementById("offline");
  const onlineState = () => { if (banner && !navigator.onLine) banner.hidden = false; };
  window.addEventListener("offline", onlineState);
  window.addEventListener("online", () => { if (banner) banner.hidden = true; });
  onlineState();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(`${base}/sw.js`, { scope: `${base}/` }).catch(() => {});
  }
})();
