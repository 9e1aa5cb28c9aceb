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
