// localtime rewrites every <time class="when" datetime="..."> the server
// rendered in UTC into the viewer's own time zone, keeping the UTC text in
// the title for hover. One format for the whole page: day, month, year,
// 24-hour time and the zone's short name.
const format = new Intl.DateTimeFormat(undefined, {
  day: "numeric", month: "short", year: "numeric",
  hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
});

export function localise(root = document) {
  for (const el of root.querySelectorAll("time.when[datetime]")) {
    if (el.dataset.local === "1") continue;
    const at = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    el.title = el.textContent.trim();
    // No break inside a time: a narrow column wraps between times instead.
    el.textContent = format.format(at).replace(/ /g, "\u00a0");
    el.dataset.local = "1";
  }
}

localise();
