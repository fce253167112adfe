// news.js follows a news message's sending on its page: it polls the
// progress counts once a second until the send is done.
const el = document.getElementById("progress");
if (el && el.dataset.status !== "done") {
  const set = (id, v) => {
    const n = document.getElementById(id);
    if (n) n.textContent = String(v);
  };
  const tick = async () => {
    try {
      const r = await fetch(el.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (r.ok) {
        const p = await r.json();
        set("sent-n", p.sent);
        set("excluded-n", p.excluded);
        set("failed-n", p.failed);
        if (p.status === "done") {
          el.textContent = `Done: sent ${p.sent} of ${p.total}.`;
          el.dataset.status = "done";
          return;
        }
        el.textContent = `Sending: ${p.handled} of ${p.total} handled, ${p.sent} sent.`;
      }
    } catch (_) {
      // a dropped poll is retried on the next tick
    }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 500);
}
