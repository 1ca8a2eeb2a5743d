// The search page of `semsearch serve`: plain JavaScript, no build step.
// Text that comes from documents is only ever put in the page as text nodes (textContent,
// createTextNode), never as HTML; the page's Content-Security-Policy forbids inline scripts.
"use strict";

(() => {
  const STRINGS = {
    en: {
      title: "semsearch — news search",
      skip: "Skip to results",
      tagline: "Search news articles in French or English",
      question: "Your question",
      placeholder: "How many US soldiers are in Iraq?",
      search: "Search",
      mode: "Mode",
      mode_hybrid: "Hybrid",
      mode_dense: "Meaning (dense)",
      mode_lexical: "Words (lexical)",
      date_from: "From",
      date_to: "To",
      date_placeholder: "YYYY-MM",
      date_help: "Dates: YYYY, YYYY-MM or YYYY-MM-DD.",
      lang: "Language",
      any_lang: "All languages",
      source: "Source",
      any_source: "All sources",
      api_docs: "HTTP API",
      searching: "Searching…",
      passages: { one: "{n} passage", other: "{n} passages" },
      took: "{count} in {ms} ms",
      empty_title: "No passage matches.",
      empty_hint: "Try other words, another mode, or wider filters.",
      empty_query: "Type a question first.",
      unreachable: "The search service cannot be reached. Check that semsearch serve is running, then try again.",
      failed: "The search failed:",
      also: { one: "Also reported by {n} source", other: "Also reported by {n} sources" },
      corpus: "{docs} articles, {passages} passages",
      open: "open the article",
      sort: "Order",
      sort_relevance: "Relevance",
      sort_date: "Newest first",
      csv: "Download CSV",
      facets: "Narrow down",
      facet_source: "Source",
      facet_lang: "Language",
      facet_month: "Month",
      facet_clear: "remove this filter",
      range: "Results {from}–{to} of {total}",
      prev: "Previous page",
      next: "Next page",
      pages: "Result pages",
      similar: "Similar coverage",
      similar_loading: "Looking for other articles…",
      similar_none: "No other article covers this story.",
      similar_failed: "Similar articles could not be loaded:",
    },
    fr: {
      title: "semsearch — recherche dans l’actualité",
      skip: "Aller aux résultats",
      tagline: "Cherchez dans les articles de presse, en français ou en anglais",
      question: "Votre question",
      placeholder: "Combien de soldats américains sont en Irak ?",
      search: "Rechercher",
      mode: "Mode",
      mode_hybrid: "Hybride",
      mode_dense: "Sens (dense)",
      mode_lexical: "Mots (lexical)",
      date_from: "Du",
      date_to: "Au",
      date_placeholder: "AAAA-MM",
      date_help: "Dates : AAAA, AAAA-MM ou AAAA-MM-JJ.",
      lang: "Langue",
      any_lang: "Toutes les langues",
      source: "Source",
      any_source: "Toutes les sources",
      api_docs: "API HTTP",
      searching: "Recherche en cours…",
      passages: { one: "{n} passage", other: "{n} passages" },
      took: "{count} en {ms} ms",
      empty_title: "Aucun passage ne correspond.",
      empty_hint: "Essayez d’autres mots, un autre mode ou des filtres plus larges.",
      empty_query: "Saisissez d’abord une question.",
      unreachable: "Le service de recherche est injoignable. Vérifiez que semsearch serve tourne, puis réessayez.",
      failed: "La recherche a échoué :",
      also: { one: "Également rapporté par {n} source", other: "Également rapporté par {n} sources" },
      corpus: "{docs} articles, {passages} passages",
      open: "ouvrir l’article",
      sort: "Ordre",
      sort_relevance: "Pertinence",
      sort_date: "Plus récents d’abord",
      csv: "Télécharger en CSV",
      facets: "Affiner",
      facet_source: "Source",
      facet_lang: "Langue",
      facet_month: "Mois",
      facet_clear: "retirer ce filtre",
      range: "Résultats {from} à {to} sur {total}",
      prev: "Page précédente",
      next: "Page suivante",
      pages: "Pages de résultats",
      similar: "Couverture similaire",
      similar_loading: "Recherche d’autres articles…",
      similar_none: "Aucun autre article ne traite de ce sujet.",
      similar_failed: "Impossible de charger les articles similaires :",
    },
  };

  const LOCALE = (navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en";
  const S = STRINGS[LOCALE];
  const MODES = ["hybrid", "dense", "lexical"];
  const SORTS = ["relevance", "date"];
  const PAGE_SIZE = 10;
  const CSV_LIMIT = 100; // the CSV link exports up to this many results of the search, from the first
  const FACETS = ["source", "lang", "month"];
  const FILTERS = ["date_from", "date_to", "lang", "source"];
  const URL_FILTERS = ["entity", "story"]; // set by clicks (entities.js), kept in the URL, not form controls
  const ANNOTATION_FACETS = ["person", "org", "place", "story"]; // shown by entities.js
  const FIELD_CONTROLS = { q: "q", date_from: "date_from", date_to: "date_to", lang: "lang", source: "source" };
  const numbers = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
  const plurals = new Intl.PluralRules(LOCALE);
  let languageNames = null;
  try {
    languageNames = new Intl.DisplayNames([LOCALE], { type: "language" });
  } catch (_) {
    languageNames = null;
  }

  const $ = (id) => document.getElementById(id);
  const form = $("search");
  const input = $("q");
  const statusBox = $("status");
  const errorBox = $("error");
  const list = $("results");

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  function plural(forms, n) {
    const form = forms[plurals.select(n)] || forms.other;
    return fill(form, { n: numbers.format(n) });
  }

  function languageName(code) {
    if (!code) return "";
    let name = code;
    try {
      name = (languageNames && languageNames.of(code)) || code;
    } catch (_) {
      name = code;
    }
    return name.charAt(0).toLocaleUpperCase(LOCALE) + name.slice(1);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // -- labels ------------------------------------------------------------------------------

  function translate() {
    document.documentElement.lang = LOCALE;
    document.title = S.title;
    for (const node of document.querySelectorAll("[data-i18n]")) {
      const text = S[node.dataset.i18n];
      if (typeof text === "string") node.textContent = text;
    }
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      const text = S[node.dataset.i18nPlaceholder];
      if (typeof text === "string") node.placeholder = text;
    }
    for (const node of document.querySelectorAll("[data-i18n-label]")) {
      const text = S[node.dataset.i18nLabel];
      if (typeof text === "string") node.setAttribute("aria-label", text);
    }
  }

  // -- form and URL state ---------------------------------------------------------------------

  // A new search from the form starts at the first page (offset 0).
  function formState() {
    const checked = form.querySelector('input[name="mode"]:checked');
    const sort = form.querySelector('input[name="sort"]:checked');
    const state = {
      q: input.value.trim(),
      mode: checked ? checked.value : "hybrid",
      sort: sort ? sort.value : "relevance",
      offset: 0,
      k: urlState().k, // the page size of a shared URL is kept
    };
    for (const name of FILTERS) state[name] = $(name).value.trim();
    for (const name of URL_FILTERS) state[name] = urlState()[name];
    return state;
  }

  function urlState() {
    const params = new URLSearchParams(window.location.search);
    const mode = params.get("mode") || "hybrid";
    const sort = params.get("sort") || "relevance";
    const offset = Number.parseInt(params.get("offset") || "0", 10);
    const k = Number.parseInt(params.get("k") || String(PAGE_SIZE), 10);
    const state = {
      q: (params.get("q") || "").trim(),
      mode: MODES.includes(mode) ? mode : "hybrid",
      sort: SORTS.includes(sort) ? sort : "relevance",
      offset: Number.isFinite(offset) && offset > 0 ? offset : 0,
      k: Number.isFinite(k) && k >= 1 && k <= 100 ? k : PAGE_SIZE,
    };
    for (const name of [...FILTERS, ...URL_FILTERS]) state[name] = (params.get(name) || "").trim();
    return state;
  }

  function params(state) {
    const out = new URLSearchParams();
    if (state.q) out.set("q", state.q);
    if (state.mode && state.mode !== "hybrid") out.set("mode", state.mode);
    for (const name of [...FILTERS, ...URL_FILTERS]) if (state[name]) out.set(name, state[name]);
    if (state.sort && state.sort !== "relevance") out.set("sort", state.sort);
    if (state.offset > 0) out.set("offset", String(state.offset));
    if (state.k && state.k !== PAGE_SIZE) out.set("k", String(state.k));
    return out;
  }

  function pageUrl(state) {
    const query = params(state).toString();
    return query ? `/?${query}` : "/";
  }

  function selectValue(select, value) {
    if (value && ![...select.options].some((option) => option.value === value)) {
      // keep a shared URL's filter even when the corpus list lacks it (or has not arrived yet)
      select.append(new Option(select.id === "lang" ? languageName(value) : value, value));
      if (select.id === "source") $("source-field").hidden = false;
    }
    select.value = value;
  }

  function applyState(state) {
    input.value = state.q;
    const radio = $(`mode-${state.mode}`) || $("mode-hybrid");
    radio.checked = true;
    ($(`sort-${state.sort}`) || $("sort-relevance")).checked = true;
    $("date_from").value = state.date_from;
    $("date_to").value = state.date_to;
    selectValue($("lang"), state.lang);
    selectValue($("source"), state.source);
  }

  // -- corpus facts (filters) -----------------------------------------------------------------

  async function loadStats(attempt = 0) {
    let stats;
    try {
      const response = await fetch("/stats", { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      stats = await response.json();
    } catch (_) {
      if (attempt < 4) setTimeout(() => loadStats(attempt + 1), 3000); // e.g. 503 while the index loads
      return;
    }
    const langSelect = $("lang");
    const keepLang = langSelect.value;
    for (const code of stats.languages || []) {
      if (![...langSelect.options].some((option) => option.value === code)) langSelect.append(new Option(languageName(code), code));
    }
    langSelect.value = keepLang;
    const sources = stats.sources || [];
    const sourceSelect = $("source");
    const keepSource = sourceSelect.value;
    for (const name of sources) {
      if (![...sourceSelect.options].some((option) => option.value === name)) sourceSelect.append(new Option(name, name));
    }
    sourceSelect.value = keepSource;
    if (sources.length > 1 || keepSource) $("source-field").hidden = false;
    $("corpus").textContent = fill(S.corpus, { docs: numbers.format(stats.documents), passages: numbers.format(stats.passages) });
  }

  // -- rendering ------------------------------------------------------------------------------

  // The passage with its highlighted spans as <mark> elements. The API counts offsets in
  // Unicode code points (Python), JavaScript strings in UTF-16 units: slice by code points.
  function passage(text, spans) {
    const node = el("p", "passage");
    const chars = Array.from(text);
    const ranges = (spans || [])
      .map((span) => [Math.max(0, span.start | 0), Math.min(chars.length, span.end | 0)])
      .filter(([start, end]) => end > start)
      .sort((a, b) => a[0] - b[0]);
    let position = 0;
    for (let [start, end] of ranges) {
      start = Math.max(start, position);
      if (end <= start) continue;
      if (start > position) node.append(document.createTextNode(chars.slice(position, start).join("")));
      node.append(el("mark", null, chars.slice(start, end).join("")));
      position = end;
    }
    if (position < chars.length) node.append(document.createTextNode(chars.slice(position).join("")));
    return node;
  }

  function safeUrl(value) {
    if (!value) return null;
    try {
      const url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function meta(parts) {
    const line = el("p", "meta");
    for (const part of parts) {
      if (!part) continue;
      if (line.childNodes.length) line.append(el("span", "sep", " · "));
      line.append(part);
    }
    return line;
  }

  function dateNode(value) {
    if (!value) return null;
    const node = el("time", "date", value);
    node.dateTime = value;
    return node;
  }

  function result(hit, index) {
    const item = el("li", "result");
    const article = el("article");
    const headingId = `result-${index + 1}-title`;
    article.setAttribute("aria-labelledby", headingId);
    const heading = el("h2", "title");
    heading.id = headingId;
    const title = hit.title || hit.doc_id;
    const href = safeUrl(hit.url);
    if (href) {
      const link = el("a", null, title);
      link.href = href;
      link.rel = "noopener noreferrer";
      heading.append(link);
    } else {
      heading.textContent = title;
    }
    article.append(heading);

    const lang = hit.lang ? el("span", "lang", languageName(hit.lang)) : null;
    article.append(meta([dateNode(hit.date), hit.source ? el("span", "source", hit.source) : null, lang]));

    const text = passage(hit.text, hit.highlight);
    if (hit.lang) text.lang = hit.lang;
    article.append(text);

    const duplicates = hit.duplicates || [];
    if (duplicates.length) {
      const details = el("details", "duplicates");
      details.append(el("summary", null, plural(S.also, duplicates.length)));
      const others = el("ul");
      for (const dup of duplicates) {
        const other = el("li");
        other.append(el("span", "dup-title", dup.title || dup.doc_id));
        const facts = meta([dup.source ? el("span", "source", dup.source) : null, dateNode(dup.date)]);
        if (facts.childNodes.length) other.append(facts);
        others.append(other);
      }
      details.append(others);
      article.append(details);
    }
    article.append(similarControl(hit, index));
    item.append(article);
    return item;
  }

  // -- similar coverage -------------------------------------------------------------------------

  function documentPath(docId) {
    // ids may contain "/": each segment is encoded, the slashes kept (GET /documents/{id}/similar)
    return docId.split("/").map(encodeURIComponent).join("/");
  }

  function similarControl(hit, index) {
    const box = el("div", "similar");
    const button = el("button", "secondary similar-toggle", S.similar);
    button.type = "button";
    const panelId = `similar-${index + 1}`;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", panelId);
    const panel = el("div", "similar-panel");
    panel.id = panelId;
    panel.hidden = true;
    let loaded = false;
    button.addEventListener("click", async () => {
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      panel.hidden = !open;
      if (!open || loaded) return;
      loaded = true;
      panel.setAttribute("aria-busy", "true");
      panel.replaceChildren(el("p", "meta", S.similar_loading));
      try {
        const response = await fetch(`/documents/${documentPath(hit.doc_id)}/similar?k=5`, { headers: { Accept: "application/json" } });
        const body = await response.json().catch(() => null);
        if (!response.ok || !body || !Array.isArray(body.results)) {
          const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
          panel.replaceChildren(el("p", "error", `${S.similar_failed} ${message}`));
          loaded = false;
          return;
        }
        if (!body.results.length) {
          panel.replaceChildren(el("p", "meta", S.similar_none));
          return;
        }
        const others = el("ul", "similar-list");
        for (const other of body.results) {
          const line = el("li");
          const href = safeUrl(other.url);
          const name = other.title || other.doc_id;
          if (href) {
            const link = el("a", "similar-title", name);
            link.href = href;
            link.rel = "noopener noreferrer";
            line.append(link);
          } else {
            line.append(el("span", "similar-title", name));
          }
          const lang = other.lang ? el("span", "lang", languageName(other.lang)) : null;
          line.append(meta([dateNode(other.date), other.source ? el("span", "source", other.source) : null, lang]));
          others.append(line);
        }
        panel.replaceChildren(others);
      } catch (_) {
        panel.replaceChildren(el("p", "error", S.unreachable));
        loaded = false;
      } finally {
        panel.removeAttribute("aria-busy");
      }
    });
    box.append(button, panel);
    return box;
  }

  // -- facets, range, pages, CSV ----------------------------------------------------------------

  function facetLabel(name, value) {
    return name === "lang" ? languageName(value) : value;
  }

  function activeValue(state, name) {
    if (name === "month") return state.date_from && state.date_from === state.date_to ? state.date_from : "";
    return state[name] || "";
  }

  function withFacet(state, name, value) {
    const next = { ...state, offset: 0 };
    const clear = activeValue(state, name) === value;
    if (name === "month") {
      next.date_from = clear ? "" : value;
      next.date_to = clear ? "" : value;
    } else {
      next[name] = clear ? "" : value;
    }
    return next;
  }

  function showFacets(state, facets) {
    const box = $("facets");
    box.replaceChildren(box.querySelector("h2"));
    let shown = 0;
    for (const name of FACETS) {
      const counts = (facets && facets[name]) || [];
      if (!counts.length) continue;
      const group = el("div", "facet");
      group.dataset.facet = name;
      group.append(el("span", "facet-name", S[`facet_${name}`]));
      const active = activeValue(state, name);
      for (const { value, count } of counts) {
        const button = el("button", "chip");
        button.type = "button";
        button.dataset.value = value;
        button.append(el("span", null, facetLabel(name, value)), " ", el("span", "count", numbers.format(count)));
        button.setAttribute("aria-pressed", String(active === value));
        if (active === value) button.title = S.facet_clear;
        button.addEventListener("click", () => navigate(withFacet(state, name, value)));
        group.append(button);
      }
      box.append(group);
      shown += 1;
    }
    box.hidden = shown === 0;
  }

  function showRange(state, body) {
    const total = body.total || 0;
    const shown = body.results.length;
    $("range").textContent = fill(S.range, {
      from: numbers.format(state.offset + 1),
      to: numbers.format(state.offset + shown),
      total: numbers.format(total) + (body.total_relation === "gte" ? "+" : ""),
    });
    const csv = params({ ...state, offset: 0, k: PAGE_SIZE });
    csv.set("k", String(CSV_LIMIT));
    csv.set("format", "csv");
    $("csv").href = `/search?${csv}`;
    $("toolbar").hidden = false;
    $("prev").hidden = state.offset === 0;
    $("next").hidden = state.offset + shown >= total;
    $("pager").hidden = $("prev").hidden && $("next").hidden;
    $("prev").onclick = () => navigate({ ...state, offset: Math.max(0, state.offset - state.k) });
    $("next").onclick = () => navigate({ ...state, offset: state.offset + state.k });
  }

  function navigate(state) {
    applyState(state);
    const url = pageUrl(state);
    if (url !== window.location.pathname + window.location.search) window.history.pushState(null, "", url);
    run(state);
    list.focus({ preventScroll: true });
    window.scrollTo({ top: 0 });
  }

  function clearOutput() {
    list.replaceChildren();
    errorBox.hidden = true;
    errorBox.replaceChildren();
    $("empty")?.remove();
    statusBox.textContent = "";
    $("toolbar").hidden = true;
    $("facets").hidden = true;
    $("pager").hidden = true;
    for (const name of Object.values(FIELD_CONTROLS)) $(name).removeAttribute("aria-invalid");
    document.dispatchEvent(new CustomEvent("semsearch:cleared"));
  }

  function showEmpty() {
    const box = el("div", "empty");
    box.id = "empty";
    box.append(el("p", "empty-title", S.empty_title), el("p", "empty-hint", S.empty_hint));
    list.after(box);
  }

  function showError(lead, message, field) {
    errorBox.replaceChildren(el("strong", null, lead));
    if (message) errorBox.append(" ", el("span", "message", message));
    errorBox.hidden = false;
    const control = field && FIELD_CONTROLS[field] ? $(FIELD_CONTROLS[field]) : null;
    if (control) control.setAttribute("aria-invalid", "true");
  }

  // -- searching ------------------------------------------------------------------------------

  let current = null; // the AbortController of the request in flight

  async function run(state) {
    if (current) current.abort();
    const controller = new AbortController();
    current = controller;
    clearOutput();
    if (!state.q) {
      document.title = S.title;
      return;
    }
    document.title = `${state.q} — semsearch`;
    form.setAttribute("aria-busy", "true");
    statusBox.textContent = S.searching;
    const query = params(state);
    if (!query.has("k")) query.set("k", String(PAGE_SIZE));
    query.set("facets", [...FACETS, ...ANNOTATION_FACETS].join(","));
    query.set("histogram", document.body.dataset.histogram || "month"); // drawn by coverage.js
    let response;
    let body = null;
    try {
      response = await fetch(`/search?${query}`, { headers: { Accept: "application/json" }, signal: controller.signal });
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      finish(controller);
      showError(S.unreachable, "", null);
      return;
    }
    if (controller.signal.aborted) return;
    finish(controller);
    if (!response.ok || !body || !Array.isArray(body.results)) {
      const detail = body && body.error ? body.error : null;
      if (response.status >= 502 && response.status <= 504 && !detail) {
        showError(S.unreachable, "", null);
      } else {
        showError(S.failed, detail && detail.message ? detail.message : `HTTP ${response.status}`, detail && detail.field);
      }
      return;
    }
    const count = plural(S.passages, body.total || 0);
    statusBox.textContent = fill(S.took, { count, ms: numbers.format(body.took_ms) });
    if (!body.results.length) {
      showEmpty();
      document.dispatchEvent(new CustomEvent("semsearch:results", { detail: { state: { ...state }, body } }));
      return;
    }
    showRange(state, body);
    showFacets(state, body.facets);
    list.replaceChildren(...body.results.map(result));
    // coverage.js (the chart) and alerts.js (save this search) draw from the same answer
    document.dispatchEvent(new CustomEvent("semsearch:results", { detail: { state: { ...state }, body } }));
  }

  function finish(controller) {
    if (current === controller) current = null;
    form.removeAttribute("aria-busy");
    statusBox.textContent = "";
  }

  function submit(event) {
    if (event) event.preventDefault();
    const state = formState();
    if (!state.q) {
      clearOutput();
      showError(S.empty_query, "", "q");
      input.focus();
      return;
    }
    const url = pageUrl(state);
    if (url !== window.location.pathname + window.location.search) window.history.pushState(null, "", url);
    run(state);
  }

  function rerun() {
    if (input.value.trim()) submit();
  }

  function start() {
    translate();
    form.addEventListener("submit", submit);
    for (const radio of form.querySelectorAll('input[name="mode"], input[name="sort"]')) radio.addEventListener("change", rerun);
    $("lang").addEventListener("change", rerun);
    $("source").addEventListener("change", rerun);
    window.addEventListener("popstate", () => {
      const state = urlState();
      applyState(state);
      run(state);
    });
    const state = urlState();
    applyState(state);
    input.focus();
    loadStats();
    if (state.q) run(state);
  }

  window.semsearchPage = { navigate, urlState }; // for entities.js
  start();
})();
