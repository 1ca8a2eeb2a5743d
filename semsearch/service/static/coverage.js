// Coverage over time: a bar chart of the relevant results per day, week or month, above the results.
// Drawn with Chart.js (vendor/chart.umd.min.js, served by this server: the page's CSP allows only 'self').
// It reads the histogram of the search app.js ran (the "semsearch:results" event); a click on a bar
// filters the search to that interval (date_from/date_to), through the URL and app.js's popstate handler.
"use strict";

(() => {
  const STRINGS = {
    en: {
      title: "Coverage over time",
      day: "Day",
      week: "Week",
      month: "Month",
      interval: "Interval",
      undated: "{n} undated",
      results: "relevant results",
      hint: "Click a bar to keep that period.",
      week_of: "week of {d}",
    },
    fr: {
      title: "Couverture dans le temps",
      day: "Jour",
      week: "Semaine",
      month: "Mois",
      interval: "Intervalle",
      undated: "{n} sans date",
      results: "résultats pertinents",
      hint: "Cliquez sur une barre pour garder cette période.",
      week_of: "semaine du {d}",
    },
  };
  const LOCALE = (navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en";
  const S = STRINGS[LOCALE];
  const INTERVALS = ["day", "week", "month"];
  let chart = null;

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  function label(bucket, interval) {
    if (interval === "month") {
      const [y, m] = bucket.key.split("-").map(Number);
      return new Date(Date.UTC(y, m - 1, 1)).toLocaleDateString(LOCALE, { year: "numeric", month: "short", timeZone: "UTC" });
    }
    const [y, m, d] = bucket.start.split("-").map(Number);
    const day = new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(LOCALE, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
    return interval === "week" ? S.week_of.replace("{d}", day) : day;
  }

  // Keep the search, set the period, start at the first page: app.js runs it on popstate.
  function filterTo(bucket) {
    const params = new URLSearchParams(window.location.search);
    params.set("date_from", bucket.start);
    params.set("date_to", bucket.end);
    params.delete("offset");
    window.history.pushState(null, "", `/?${params}`);
    window.dispatchEvent(new PopStateEvent("popstate"));
  }

  function setInterval_(interval) {
    document.body.dataset.histogram = interval;
    window.dispatchEvent(new PopStateEvent("popstate")); // the same search again, with this interval
  }

  function clear() {
    const box = document.getElementById("coverage");
    if (chart) {
      chart.destroy();
      chart = null;
    }
    if (box) {
      box.replaceChildren();
      box.hidden = true;
    }
  }

  function draw(body) {
    const box = document.getElementById("coverage");
    const histogram = body && body.histogram;
    clear();
    if (!box || !histogram || !histogram.buckets || !histogram.buckets.length) return;
    const interval = histogram.interval;
    const head = el("div", "coverage-head");
    const title = el("h2", "coverage-title", S.title);
    title.id = "coverage-title";
    const switcher = el("div", "coverage-intervals");
    switcher.setAttribute("role", "group");
    switcher.setAttribute("aria-label", S.interval);
    for (const name of INTERVALS) {
      const button = el("button", name === interval ? "interval active" : "interval", S[name]);
      button.type = "button";
      button.dataset.interval = name;
      button.setAttribute("aria-pressed", String(name === interval));
      button.addEventListener("click", () => setInterval_(name));
      switcher.append(button);
    }
    head.append(title, switcher);
    const frame = el("div", "coverage-frame");
    const canvas = el("canvas");
    canvas.id = "coverage-chart";
    canvas.setAttribute("role", "img");
    const buckets = histogram.buckets;
    canvas.setAttribute("aria-label", `${S.title}: ` + buckets.filter((b) => b.count).map((b) => `${label(b, interval)} ${b.count}`).join(", "));
    frame.append(canvas);
    const foot = el("p", "coverage-hint", S.hint + (histogram.undated ? ` ${S.undated.replace("{n}", histogram.undated)}.` : ""));
    // an accessible, clickable list of the same bars (keyboard users, tests)
    const list = el("ul", "coverage-list visually-hidden");
    for (const bucket of buckets) {
      if (!bucket.count) continue;
      const item = el("li");
      const button = el("button", "coverage-bar", `${label(bucket, interval)}: ${bucket.count}`);
      button.type = "button";
      button.dataset.start = bucket.start;
      button.dataset.end = bucket.end;
      button.addEventListener("click", () => filterTo(bucket));
      item.append(button);
      list.append(item);
    }
    box.append(head, frame, foot, list);
    box.hidden = false;
    if (typeof window.Chart !== "function") return; // the list above still works
    const styles = getComputedStyle(document.documentElement);
    const accent = styles.getPropertyValue("--accent").trim() || "#1d4ed8";
    const muted = styles.getPropertyValue("--muted").trim() || "#5b5e66";
    chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: buckets.map((b) => label(b, interval)),
        datasets: [{ label: S.results, data: buckets.map((b) => b.count), backgroundColor: accent, borderRadius: 2 }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false } },
        scales: {
          x: { ticks: { color: muted, maxRotation: 0, autoSkip: true }, grid: { display: false } },
          y: { beginAtZero: true, ticks: { color: muted, precision: 0 } },
        },
        onHover: (event, elements) => {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
        onClick: (_event, elements) => {
          if (elements.length) filterTo(buckets[elements[0].index]);
        },
      },
    });
  }

  document.addEventListener("semsearch:results", (event) => draw(event.detail.body));
  document.addEventListener("semsearch:cleared", clear);
})();
