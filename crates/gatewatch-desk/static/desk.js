// gatewatch watch desk: the live alerts page. Rows arrive over server-sent events already
// rendered (and escaped) by the server; a row replaces the one with its id or goes on top.
// A new alert changes the title and beeps (once the officer has clicked the page: browsers
// allow sound only after a gesture). window.gatewatchLive keeps when each of the last 1,000
// rows was shown, beside when the store changed it: the alert-to-browser latency, measured.
"use strict";
(function () {
  const table = document.getElementById("live");
  if (!table) return;
  const body = table.tBodies[0];
  const baseTitle = document.title;
  let unseen = 0;
  let audio = null;
  document.addEventListener("click", function () {
    if (!audio && window.AudioContext) audio = new AudioContext();
  });
  function beep() {
    if (!audio) return;
    const o = audio.createOscillator();
    const g = audio.createGain();
    o.frequency.value = 880;
    g.gain.value = 0.1;
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.25);
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { unseen = 0; document.title = baseTitle; }
  });
  const events = new EventSource("/live");
  events.addEventListener("alert", function (e) {
    const msg = JSON.parse(e.data);
    const tpl = document.createElement("template");
    tpl.innerHTML = msg.html;
    const row = tpl.content.firstElementChild;
    if (!row) return;
    row.classList.add("fresh");
    const old = document.getElementById(row.id);
    if (old) {
      old.replaceWith(row);
    } else {
      body.prepend(row);
      const empty = document.getElementById("no-alerts");
      if (empty) empty.remove();
    }
    const log = (window.gatewatchLive = window.gatewatchLive || []);
    log.push({ id: msg.id, updated_ms: msg.updated_ms, shown_ms: Date.now(), raised: msg.raised });
    if (log.length > 1000) log.shift();
    if (msg.raised) {
      unseen += 1;
      document.title = "(" + unseen + ") " + table.dataset.newAlert + " · " + baseTitle;
      beep();
    }
  });
  events.addEventListener("reload", function () { location.reload(); });
  events.addEventListener("logout", function () { events.close(); location.href = "/login"; });
})();
