// Keeps the stage badge of a Space page current (the page works without it).
(function () {
  const badge = document.getElementById("stage");
  if (!badge || !window.fetch) return;
  const tones = { RUNNING: "ok", RUNNING_BUILDING: "ok", RUNNING_APP_STARTING: "ok", BUILDING: "busy", APP_STARTING: "busy", DELETING: "busy" };
  async function refresh() {
    try {
      const response = await fetch(badge.dataset.runtime, { credentials: "same-origin" });
      if (response.ok) {
        const runtime = await response.json();
        badge.textContent = runtime.stage;
        badge.className = "badge " + (tones[runtime.stage] || (runtime.errorMessage || runtime.stage.includes("ERROR") || runtime.stage === "NO_APP_FILE" ? "error" : "rest"));
      }
    } catch (e) { /* offline for a moment: try again later */ }
    setTimeout(refresh, 3000);
  }
  setTimeout(refresh, 3000);
})();

// Log panes: follow the live stream (server-sent events) after the lines rendered with the page.
// A build's stream ends with the build; the browser then reconnects now and then, sending the id
// of the last line it got, and the server sends only newer lines — or a new build's, which
// replaces the pane (event ids are "<build>:<entry>").
(function () {
  if (!window.EventSource) return;
  document.querySelectorAll("pre.log[data-stream]").forEach(function (pane) {
    const source = new EventSource(pane.dataset.stream);
    let shown = null;  // the build (or "") whose lines the pane holds since the stream opened
    source.onmessage = function (event) {
      const id = event.lastEventId || "";
      const build = id.includes(":") ? id.slice(0, id.indexOf(":")) : "";
      if (build !== shown) { pane.textContent = ""; shown = build; }
      const stick = pane.textContent === "" || pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 4;
      pane.textContent += JSON.parse(event.data).data;
      if (stick) pane.scrollTop = pane.scrollHeight;
    };
  });
})();
