// Saved searches on the search page: "save this search" under a search (POST /alerts, with the write
// key, kept for this tab only), and the list of saved searches with their new hits (GET /alerts).
// "New" is counted in this browser: the hits a saved search had when its list was last opened here.
// Text from documents and searches is only ever put in the page as text.
"use strict";

(() => {
  const STRINGS = {
    en: {
      save: "Save this search",
      save_title: "Watch this question: new articles that answer it become its hits (Atom feed, webhook).",
      name: "Name",
      key: "API key",
      key_help: "Saving needs the server's write key (SEMSEARCH_API_KEY); it is kept for this tab only.",
      confirm: "Save",
      cancel: "Cancel",
      saved_ok: "Saved “{name}”.",
      saved_title: "Saved searches",
      none: "No saved search yet: run a search, then “Save this search”.",
      hits: { one: "{n} hit", other: "{n} hits" },
      fresh: { one: "{n} new", other: "{n} new" },
      feed: "Atom feed",
      show: "Show hits",
      hide: "Hide hits",
      no_hits: "No article has answered it since it was saved.",
      failed: "Could not save:",
      list_failed: "Saved searches could not be loaded:",
      open: "open",
    },
    fr: {
      save: "Enregistrer cette recherche",
      save_title: "Surveiller cette question : les nouveaux articles qui y répondent deviennent ses résultats (flux Atom, webhook).",
      name: "Nom",
      key: "Clé d’API",
      key_help: "Enregistrer demande la clé d’écriture du serveur (SEMSEARCH_API_KEY) ; elle n’est gardée que pour cet onglet.",
      confirm: "Enregistrer",
      cancel: "Annuler",
      saved_ok: "« {name} » est enregistrée.",
      saved_title: "Recherches enregistrées",
      none: "Aucune recherche enregistrée : lancez une recherche, puis « Enregistrer cette recherche ».",
      hits: { one: "{n} résultat", other: "{n} résultats" },
      fresh: { one: "{n} nouveau", other: "{n} nouveaux" },
      feed: "Flux Atom",
      show: "Voir les résultats",
      hide: "Masquer les résultats",
      no_hits: "Aucun article n’y a répondu depuis son enregistrement.",
      failed: "Enregistrement impossible :",
      list_failed: "Impossible de charger les recherches enregistrées :",
      open: "ouvrir",
    },
  };
  const LOCALE = (navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en";
  const S = STRINGS[LOCALE];
  const plurals = new Intl.PluralRules(LOCALE);
  const FILTERS = ["date_from", "date_to", "source", "lang"];
  const KEY_STORE = "semsearch.key";
  const SEEN_STORE = "semsearch.seen.";

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const plural = (forms, n) => (forms[plurals.select(n)] || forms.other).replace("{n}", String(n));
  const store = (kind) => {
    try {
      return kind === "session" ? window.sessionStorage : window.localStorage;
    } catch (_) {
      return null;
    }
  };
  const seen = (name) => Number.parseInt((store("local") && store("local").getItem(SEEN_STORE + name)) || "0", 10) || 0;
  const markSeen = (name, n) => store("local") && store("local").setItem(SEEN_STORE + name, String(n));

  function slug(text) {
    const base = text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
    return (base || "search").slice(0, 48);
  }

  function safeUrl(value) {
    try {
      const url = new URL(value, window.location.origin);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  // -- save this search -----------------------------------------------------------------------

  let lastState = null;

  function saveBox() {
    let box = document.getElementById("save-search");
    if (!box) {
      box = el("div", "save-search");
      box.id = "save-search";
      box.hidden = true;
      const anchor = document.getElementById("toolbar");
      anchor.after(box);
    }
    return box;
  }

  function showSave(state) {
    lastState = state;
    const box = saveBox();
    box.replaceChildren();
    if (!state || !state.q) {
      box.hidden = true;
      return;
    }
    const button = el("button", "secondary save-open", S.save);
    button.type = "button";
    button.id = "save-open";
    button.title = S.save_title;
    button.addEventListener("click", () => openForm(box));
    box.append(button);
    box.hidden = false;
  }

  function openForm(box) {
    const form = el("form", "save-form");
    form.id = "save-form";
    form.noValidate = true;
    const nameLabel = el("label", null, S.name);
    nameLabel.htmlFor = "save-name";
    const name = el("input");
    name.id = "save-name";
    name.maxLength = 64;
    name.required = true;
    name.value = slug(lastState.q);
    const keyLabel = el("label", null, S.key);
    keyLabel.htmlFor = "save-key";
    const key = el("input");
    key.id = "save-key";
    key.type = "password";
    key.autocomplete = "off";
    key.value = (store("session") && store("session").getItem(KEY_STORE)) || "";
    const help = el("p", "help", S.key_help);
    const confirm = el("button", null, S.confirm);
    confirm.type = "submit";
    confirm.id = "save-confirm";
    const cancel = el("button", "secondary", S.cancel);
    cancel.type = "button";
    cancel.addEventListener("click", () => showSave(lastState));
    const message = el("p", "save-message");
    message.id = "save-message";
    message.setAttribute("role", "status");
    const row = el("div", "save-row");
    row.append(nameLabel, name, keyLabel, key, confirm, cancel);
    form.append(row, help, message);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      save(name.value.trim(), key.value.trim(), message);
    });
    box.replaceChildren(form);
    name.focus();
    name.select();
  }

  async function save(name, key, message) {
    const state = lastState;
    const filters = {};
    for (const f of FILTERS) if (state[f]) filters[f] = state[f];
    let response;
    let body = null;
    try {
      response = await fetch("/alerts", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", Authorization: `Bearer ${key}` },
        body: JSON.stringify({ name, query: state.q, mode: state.mode || "hybrid", filters }),
      });
      body = await response.json().catch(() => null);
    } catch (error) {
      message.textContent = `${S.failed} ${error}`;
      message.className = "save-message error-text";
      return;
    }
    if (!response.ok) {
      message.textContent = `${S.failed} ${(body && body.error && body.error.message) || `HTTP ${response.status}`}`;
      message.className = "save-message error-text";
      return;
    }
    if (store("session")) store("session").setItem(KEY_STORE, key);
    const box = saveBox();
    const done = el("p", "save-message", S.saved_ok.replace("{name}", body.name));
    done.id = "save-message";
    done.setAttribute("role", "status");
    const feed = el("a", "feed-link", S.feed);
    feed.href = body.feed;
    done.append(" ", feed);
    box.replaceChildren(done);
    loadList();
  }

  // -- the list of saved searches -----------------------------------------------------------------

  function searchUrl(alert) {
    const params = new URLSearchParams({ q: alert.query });
    if (alert.mode && alert.mode !== "hybrid") params.set("mode", alert.mode);
    for (const f of FILTERS) if (alert.filters && alert.filters[f]) params.set(f, alert.filters[f]);
    return `/?${params}`;
  }

  async function showHits(alert, box, toggle) {
    if (!box.hidden) {
      box.hidden = true;
      toggle.textContent = S.show;
      toggle.setAttribute("aria-expanded", "false");
      return;
    }
    const response = await fetch(`/alerts/${encodeURIComponent(alert.name)}?limit=10`, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    box.replaceChildren();
    if (!response.ok || !body) {
      box.append(el("p", "error-text", `HTTP ${response.status}`));
    } else if (!body.recent.length) {
      box.append(el("p", "muted", S.no_hits));
    } else {
      const list = el("ol", "hit-list");
      for (const hit of body.recent) {
        const item = el("li", "hit");
        const title = el("a", "hit-title", hit.title || hit.doc_id);
        title.href = safeUrl(hit.url) || `/documents/${hit.doc_id.split("/").map(encodeURIComponent).join("/")}`;
        title.rel = "noopener noreferrer";
        const meta = el("span", "hit-meta", [hit.date, hit.source, hit.lang].filter(Boolean).join(" · "));
        item.append(title, " ", meta, el("p", "hit-answer", hit.answer));
        list.append(item);
      }
      box.append(list);
    }
    box.hidden = false;
    toggle.textContent = S.hide;
    toggle.setAttribute("aria-expanded", "true");
    markSeen(alert.name, alert.hits);
    const badge = document.querySelector(`[data-alert-badge="${CSS.escape(alert.name)}"]`);
    if (badge) badge.hidden = true;
  }

  function item(alert) {
    const li = el("li", "saved-item");
    li.dataset.alert = alert.name;
    const head = el("div", "saved-head");
    const name = el("a", "saved-name", alert.name);
    name.href = searchUrl(alert);
    name.title = alert.query;
    const count = el("span", "saved-count", plural(S.hits, alert.hits));
    const fresh = Math.max(0, alert.hits - seen(alert.name));
    const badge = el("span", "saved-new", plural(S.fresh, fresh));
    badge.dataset.alertBadge = alert.name;
    badge.hidden = fresh === 0;
    const feed = el("a", "feed-link", S.feed);
    feed.href = alert.feed;
    feed.type = "application/atom+xml";
    const toggle = el("button", "secondary saved-toggle", S.show);
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", "false");
    const hits = el("div", "saved-hits");
    hits.hidden = true;
    toggle.addEventListener("click", () => showHits(alert, hits, toggle));
    head.append(name, count, badge, feed, toggle);
    li.append(head, el("p", "saved-query", alert.query), hits);
    return li;
  }

  async function loadList() {
    const box = document.getElementById("saved");
    if (!box) return;
    let body = null;
    try {
      const response = await fetch("/alerts", { headers: { Accept: "application/json" } });
      body = await response.json().catch(() => null);
      if (!response.ok || !body) throw new Error(`HTTP ${response.status}`);
    } catch (error) {
      box.replaceChildren(el("p", "error-text", `${S.list_failed} ${error.message || error}`));
      return;
    }
    const title = el("h2", null, S.saved_title);
    title.id = "saved-title";
    if (!body.alerts.length) {
      box.replaceChildren(title, el("p", "muted", S.none));
      return;
    }
    const list = el("ul", "saved-list");
    list.id = "saved-list";
    list.append(...body.alerts.map(item));
    box.replaceChildren(title, list);
  }

  document.addEventListener("semsearch:results", (event) => showSave(event.detail.state));
  document.addEventListener("semsearch:cleared", () => showSave(null));
  loadList();
})();
