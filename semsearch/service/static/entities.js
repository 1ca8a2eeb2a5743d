// People, organisations, places and stories on the search page: chips on each result and facet groups
// that filter when clicked (entity=, story=), the active filter with a way out, and a story's timeline.
// app.js runs the search and sends "semsearch:results"; everything here is inserted as text.
(() => {
  "use strict";

  const FRENCH = (navigator.language || "en").toLowerCase().startsWith("fr");
  const S = FRENCH
    ? {
        person: "Personnes", org: "Organisations", place: "Lieux", story: "Sujets",
        filtered: "Filtré sur", clear: "retirer le filtre", entities: "Personnes, organisations et lieux cités",
        story_link: "Le sujet", articles: "articles", first_seen: "vu d’abord le", updated: "mis à jour le",
        story_title: "Sujet", kinds: { person: "personne", org: "organisation", place: "lieu" },
      }
    : {
        person: "People", org: "Organisations", place: "Places", story: "Stories",
        filtered: "Filtered on", clear: "remove the filter", entities: "People, organisations and places named",
        story_link: "The story", articles: "articles", first_seen: "first seen", updated: "updated",
        story_title: "Story", kinds: { person: "person", org: "organisation", place: "place" },
      };
  const KINDS = ["person", "org", "place"];

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function page() {
    return window.semsearchPage;
  }

  function same(a, b) {
    const norm = (s) => String(s || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
    return norm(a) === norm(b);
  }

  // a click on an active value clears it; any click goes back to the first page
  function toggle(state, name, value) {
    const active = name === "story" ? String(state.story) === String(value) : same(state.entity, value);
    return { ...state, [name === "story" ? "story" : "entity"]: active ? "" : String(value), offset: 0 };
  }

  function chip(state, kind, name, label, count) {
    const button = el("button", `chip entity-chip kind-${kind}`);
    button.type = "button";
    button.dataset.kind = kind;
    button.dataset.value = name;
    button.append(el("span", null, label || name));
    if (count !== undefined) button.append(" ", el("span", "count", count));
    else button.title = S.kinds[kind] || "";
    const active = kind === "story" ? String(state.story) === String(name) : same(state.entity, name);
    button.setAttribute("aria-pressed", String(active));
    button.addEventListener("click", () => page().navigate(toggle(state, kind === "story" ? "story" : "entity", name)));
    return button;
  }

  function showActive(state) {
    document.getElementById("entity-filter")?.remove();
    const parts = [];
    if (state.entity) parts.push(["entity", state.entity]);
    if (state.story) parts.push(["story", `${S.story_title} ${state.story}`]);
    if (!parts.length) return;
    const box = el("p", "entity-filter");
    box.id = "entity-filter";
    box.append(el("span", null, `${S.filtered} `));
    for (const [name, label] of parts) {
      const button = el("button", "chip active-filter");
      button.type = "button";
      button.dataset.filter = name;
      button.setAttribute("aria-label", `${S.clear}: ${label}`);
      button.append(el("span", null, label), " ", el("span", "close", "×"));
      button.addEventListener("click", () => page().navigate({ ...state, [name]: "", offset: 0 }));
      box.append(button);
    }
    document.getElementById("results").before(box);
  }

  function showFacets(state, facets) {
    const box = document.getElementById("facets");
    for (const name of [...KINDS, "story"]) {
      const counts = (facets && facets[name]) || [];
      if (!counts.length) continue;
      const group = el("div", "facet");
      group.dataset.facet = name;
      group.append(el("span", "facet-name", S[name]));
      for (const { value, count, label } of counts) group.append(chip(state, name, value, label, count));
      box.append(group);
      box.hidden = false;
    }
  }

  async function openStory(id, target) {
    if (target.dataset.loaded) return;
    target.dataset.loaded = "1";
    let body = null;
    try {
      const response = await fetch(`/stories/${encodeURIComponent(id)}`, { headers: { Accept: "application/json" } });
      body = response.ok ? await response.json() : null;
    } catch (_) {
      body = null;
    }
    if (!body) return;
    const when = el("p", "story-when", `${S.first_seen} ${body.first_seen.slice(0, 10)} · ${S.updated} ${body.last_updated.slice(0, 10)}`);
    const line = el("ol", "story-timeline");
    for (const article of body.articles) {
      const item = el("li");
      const head = [article.date, article.source].filter(Boolean).join(" · ");
      if (head) item.append(el("span", "story-meta", head), " ");
      item.append(el("strong", null, article.title || article.doc_id));
      if (article.sentence) item.append(el("q", "story-sentence", article.sentence));
      line.append(item);
    }
    target.append(when, line);
  }

  function decorate(state, body) {
    const items = document.getElementById("results").children;
    body.results.forEach((hit, i) => {
      const article = items[i] && items[i].querySelector("article");
      if (!article) return;
      const entities = hit.entities || [];
      if (entities.length) {
        const row = el("div", "entities");
        row.setAttribute("aria-label", S.entities);
        for (const entity of entities) row.append(chip(state, entity.kind, entity.name));
        const text = article.querySelector(".passage");
        if (text) text.after(row);
        else article.append(row);
      }
      if (hit.story) {
        const details = el("details", "story");
        details.dataset.story = String(hit.story);
        details.append(el("summary", null, S.story_link));
        details.addEventListener("toggle", () => details.open && openStory(hit.story, details));
        article.append(details);
      }
    });
  }

  document.addEventListener("semsearch:results", (event) => {
    const { state, body } = event.detail;
    showActive(state);
    showFacets(state, body.facets);
    decorate(state, body);
  });
})();
