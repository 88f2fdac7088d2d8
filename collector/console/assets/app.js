// shadowdiff console: a dependency-free single-page app over the console's
// JSON API (api/...). Routes live in the URL hash so every view, including
// its time window, is a deep link:
//   #/?window=1h                                  overview
//   #/endpoint?name=GET%20%2Fusers&noise=1        endpoint field tree
//   #/samples?endpoint=...&path=body.price&key=.. samples of a field
//   #/request?key=...                             one request by pairing key
// The DOM is built with createElement/textContent only: endpoint names,
// paths and raw values come from traffic and are never parsed as HTML.
(function () {
  "use strict";

  var POLL_MS = 5000;

  // ---------- small helpers ----------

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = v;
        else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
        else if (v === true) el.setAttribute(k, "");
        else el.setAttribute(k, String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(el, x); }); return; }
    el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
  function num(v) { return v === undefined || v === null || v === "" ? 0 : Number(v); }
  function fmtInt(v) { return num(v).toLocaleString("en-US"); }
  function fmtPct(frac, digits) {
    var p = num(frac) * 100;
    if (p === 0) return "0 %";
    if (digits === undefined) digits = p < 0.1 ? 3 : p < 10 ? 2 : 1;
    return p.toFixed(digits) + " %";
  }
  function fmtPctValue(p) { // already a percentage (Diffy's numbers)
    p = num(p);
    return (p === 0 ? "0" : p < 0.1 ? p.toFixed(3) : p.toFixed(2)) + " %";
  }
  function fmtP(p) {
    p = num(p);
    if (p === 0) return "0";
    if (p < 0.001) return p.toExponential(1);
    return p.toFixed(3);
  }
  function fmtTime(ts) {
    if (!ts) return "—";
    var d = new Date(ts);
    if (isNaN(d.getTime()) || d.getTime() <= 0) return "—";
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }
  // seenRange drops the last time's date when it equals the first's.
  function seenRange(first, last) {
    var a = fmtTime(first), b = fmtTime(last);
    if (a.slice(0, 10) === b.slice(0, 10) && a.length > 11) b = b.slice(11);
    return a + " – " + b;
  }
  function hashHex(v) {
    if (v === undefined || v === null || v === "" || v === "0") return "0";
    try { return BigInt(v).toString(16).padStart(16, "0"); } catch (e) { return String(v); }
  }
  function enumName(v, prefix) {
    if (!v) return "UNSPECIFIED";
    return String(v).indexOf(prefix) === 0 ? String(v).slice(prefix.length) : String(v);
  }
  function human(name) { return name.toLowerCase().replace(/_/g, " "); }
  // slug makes an id part from any text, one to one (body.a_b and body.a.b
  // get different ids): letters and digits stay, any other UTF-16 unit is
  // _ and four hex digits. No "-" is left in it, so "f-" + slug + "-mark"
  // cannot be another prefix's id with another suffix.
  function slug(s) {
    return String(s).replace(/[^A-Za-z0-9]/g, function (c) { return "_" + ("000" + c.charCodeAt(0).toString(16)).slice(-4); });
  }

  // ---------- routing ----------

  function parseHash() {
    var raw = location.hash.replace(/^#/, "");
    if (raw === "" || raw.charAt(0) !== "/") raw = "/";
    var qi = raw.indexOf("?");
    var path = qi < 0 ? raw : raw.slice(0, qi);
    var params = new URLSearchParams(qi < 0 ? "" : raw.slice(qi + 1));
    var page = path.replace(/^\/+/, "").split("/")[0] || "overview";
    return { page: page, params: params };
  }
  function windowParams(params) {
    var out = new URLSearchParams();
    ["window", "start", "end"].forEach(function (k) { if (params.get(k)) out.set(k, params.get(k)); });
    return out;
  }
  // link builds a hash URL that keeps the current time window.
  function link(page, extra) {
    var p = windowParams(state.route.params);
    Object.keys(extra || {}).forEach(function (k) {
      if (extra[k] === undefined || extra[k] === null || extra[k] === "") p.delete(k);
      else p.set(k, extra[k]);
    });
    var qs = p.toString();
    return "#/" + (page === "overview" ? "" : page) + (qs ? "?" + qs : "");
  }
  function apiQuery(extra) {
    var p = windowParams(state.route.params);
    Object.keys(extra || {}).forEach(function (k) {
      if (extra[k] !== undefined && extra[k] !== null && extra[k] !== "") p.set(k, extra[k]);
    });
    return p.toString();
  }

  // ---------- API ----------

  function api(method, path, body) {
    var init = { method: method, headers: { "Accept": "application/json" }, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var err = new Error((data && data.error) || res.status + " " + res.statusText);
          err.status = res.status;
          err.code = data && data.code;
          throw err;
        }
        return data;
      });
    });
  }

  // ---------- state ----------

  // A read-only console (the collector's --console-read-only) offers no
  // buttons that change noise rules: the API would refuse them.
  var readOnly = document.body.hasAttribute("data-read-only");

  var state = {
    route: parseHash(),
    lastJSON: "",       // the data behind the current render, to skip no-op redraws
    collapsed: {},      // tree nodes the user collapsed, by endpoint + prefix
    expandedDefault: {},
    pollTimer: null,
    renderSeq: 0,
    events: null,
    eventsTimer: null,  // restarts the live-update stream after it closed
    eventsRetry: 0,     // the next restart's delay, ms
  };

  var main, notice, liveToggle, liveStatus;

  // say shows a message. When the focus was on the message it replaces (its
  // Undo), the new message takes it, rather than letting it fall to body.
  function say(msg, opts) {
    opts = opts || {};
    var hadFocus = notice.contains(document.activeElement);
    notice.textContent = "";
    var box = h("div", { class: "msg" + (opts.error ? " error" : ""), tabindex: hadFocus ? "-1" : null }, h("span", { text: msg }));
    if (opts.action) box.appendChild(h("button", { type: "button", class: "btn", onclick: opts.action.run, text: opts.action.label }));
    box.appendChild(h("button", { type: "button", class: "btn", "aria-label": "Dismiss message", onclick: function () {
      var focused = notice.contains(document.activeElement);
      notice.textContent = "";
      if (focused) main.focus({ preventScroll: true });
    }, text: "×" }));
    notice.appendChild(box);
    if (hadFocus) box.focus({ preventScroll: true });
  }

  // ---------- pages ----------

  var pages = {
    overview: { load: loadOverview, render: renderOverview, poll: true },
    endpoint: { load: loadEndpoint, render: renderEndpoint, poll: true },
    samples: { load: loadSamples, render: renderSamples, poll: false },
    request: { load: loadRequest, render: renderRequest, poll: false },
  };

  function currentPage() { return pages[state.route.page] || null; }

  // refresh loads the current page's data and redraws when it changed.
  // fromPoll keeps the user's focus and scroll position.
  function refresh(fromPoll) {
    var page = currentPage();
    var seq = ++state.renderSeq;
    if (!page) { renderNotFound(); return Promise.resolve(); }
    return page.load().then(function (data) {
      if (seq !== state.renderSeq) return;
      var json = JSON.stringify(data);
      liveStatus.textContent = "updated " + new Date().toLocaleTimeString();
      if (fromPoll && json === state.lastJSON) return;
      state.lastJSON = json;
      redraw(function () { page.render(data); }, fromPoll);
    }, function (err) {
      if (seq !== state.renderSeq) return;
      // A poll keeps the data shown and says the update failed; with
      // nothing shown yet for this route (a poll or an event overtook the
      // navigation's own load) the error is the page.
      if (fromPoll && state.lastJSON !== "") { liveStatus.textContent = "update failed: " + err.message; return; }
      state.lastJSON = "error"; // shown: later polls that fail leave it be
      redraw(function () { renderError(err); }, false);
    });
  }

  // redraw replaces the page. keepFocus (a redraw of the same page) also
  // keeps what the user typed into text inputs, the focused control and its
  // selection, and the scroll position: a poll must not eat a half-typed key.
  function redraw(fn, keepFocus) {
    var active = document.activeElement;
    var focusId = keepFocus && active && main.contains(active) ? active.id : "";
    var typed = keepFocus ? typedValues() : [];
    var sel = focusId && hasSelection(active) ? [active.selectionStart, active.selectionEnd, active.selectionDirection] : null;
    var scroll = window.scrollY;
    main.textContent = "";
    fn();
    typed.forEach(function (t) {
      var el = document.getElementById(t.id);
      if (el && main.contains(el) && el.tagName === t.tag && el.type === t.type) el.value = t.value;
    });
    if (state.focusControl) {
      // The first page drawn for a route a control changed (a filter,
      // the time window), by the route's own load or by a poll or an
      // event that overtook it: the control that did it keeps the focus
      // (it was redrawn if it is part of the page).
      var fc = state.focusControl, el = document.getElementById(fc.id);
      state.focusControl = null;
      window.scrollTo(0, fc.scroll);
      if (el && document.activeElement !== el) el.focus({ preventScroll: true });
      return;
    }
    if (focusId) {
      var again = document.getElementById(focusId);
      if (again) {
        again.focus({ preventScroll: true });
        if (sel && hasSelection(again)) { try { again.setSelectionRange(sel[0], sel[1], sel[2]); } catch (e) { /* not a text input */ } }
      }
    }
    if (keepFocus) window.scrollTo(0, scroll);
  }
  var textTypes = { text: true, search: true, url: true, tel: true, email: true, password: true, number: true };
  function isTextInput(el) { return (el.tagName === "INPUT" && textTypes[el.type]) || el.tagName === "TEXTAREA"; }
  function hasSelection(el) { return isTextInput(el) && el.type !== "number" && el.type !== "email"; }
  // typedValues lists the text inputs of the page that hold something.
  function typedValues() {
    var out = [];
    main.querySelectorAll("input[id], textarea[id]").forEach(function (el) {
      if (isTextInput(el) && el.value !== "") out.push({ id: el.id, tag: el.tagName, type: el.type, value: el.value });
    });
    return out;
  }

  // renderError: a bad request is usually a bad time window (window=bogus),
  // so its links leave the window out rather than lead to the same error.
  function renderError(err) {
    var title = err.status === 404 ? "Not found" : err.status === 400 ? "Bad request" : "Could not load data";
    var home = err.status === 400 ? "#/" : link("overview");
    main.appendChild(breadcrumb([], home));
    main.appendChild(h("h1", { text: title }));
    main.appendChild(h("div", { class: "panel error-box", role: "alert", "data-error-code": err.code || "" },
      h("p", { text: err.message }),
      h("p", null, h("a", { href: home, text: "Back to endpoints" }))));
  }
  function renderNotFound() {
    main.textContent = "";
    renderError({ status: 404, message: "No such page: " + location.hash });
  }

  function breadcrumb(items, home) {
    var ol = h("ol");
    ol.appendChild(h("li", null, h("a", { href: home || link("overview"), text: "Endpoints" })));
    items.forEach(function (it, i) {
      var last = i === items.length - 1;
      ol.appendChild(h("li", null, it.href && !last ? h("a", { href: it.href, text: it.text }) :
        h("span", { "aria-current": last ? "page" : null, text: it.text })));
    });
    return h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, ol);
  }

  // ratingBadge shows Diffy's rating; without compared requests there is
  // no difference rate to rate, whatever the zero rate would say.
  function ratingBadge(r, compared) {
    var name = num(compared) === 0 ? "NONE" : enumName(r, "RATING_");
    var label = name === "NONE" || name === "UNSPECIFIED" ? "NO DATA" : name;
    return h("span", { class: "badge rating-" + name, "data-rating": name, title: ratingHelp[name] || "", text: label });
  }
  var ratingHelp = {
    PERFECT: "difference rate below 0.1 %",
    ALMOST: "difference rate below 5 %",
    NEUTRAL: "difference rate below 50 %",
    POOR: "difference rate 50 % or more",
    NONE: "nothing compared yet",
  };
  // neverJudged: side effects only, the overflow endpoint, or one a rule
  // superseded with too few requests for a verdict: no traffic will give it
  // one (the API says INSUFFICIENT_DATA with the reason); shown as SKIPPED,
  // as the CLI does (EndpointSummary.NeverJudged).
  function neverJudged(e) {
    return !!e.overflow || (num(e.compared) === 0 && num(e.skippedSideEffect) > 0) ||
      (!!e.supersededBy && enumName(e.verdict, "VERDICT_") === "INSUFFICIENT_DATA");
  }
  function endpointVerdictBadge(e) {
    return verdictBadge(neverJudged(e) ? "VERDICT_SKIPPED" : e.verdict, e.verdictReason);
  }
  function verdictBadge(v, reason) {
    var name = enumName(v, "VERDICT_");
    var label = { CLEAN: "CLEAN", REGRESSION: "REGRESSION", INSUFFICIENT_DATA: "INSUFFICIENT DATA", SKIPPED: "SKIPPED", UNSPECIFIED: "UNKNOWN" }[name] || name;
    var attrs = { class: "badge verdict-" + name, "data-verdict": name, text: label };
    if (reason) attrs.title = reason;
    return h("span", attrs);
  }

  // ----- overview -----

  function loadOverview() {
    return Promise.all([
      api("GET", "api/endpoints?" + apiQuery()),
      // A side panel: its failure is shown in it, not instead of the page.
      api("GET", "api/endpoint-rules").then(function (r) { return { rules: r.rules || [] }; },
        function (err) { return { error: err.message || String(err) }; }),
    ]).then(function (r) { return { list: r[0], endpointRules: r[1] }; });
  }

  // notComparedParts says why requests of an endpoint were not compared:
  // requests = compared + skipped + incomplete + fingerprint mismatch.
  function notComparedParts(e) {
    var parts = [];
    var inc = e.incomplete || {};
    var incomplete = num(e.requests) - num(e.compared) - num(e.skippedSideEffect) - num(e.fingerprintMismatch);
    if (num(e.skippedSideEffect)) parts.push(fmtInt(e.skippedSideEffect) + " skipped (side effects)");
    if (incomplete > 0) {
      var miss = [];
      if (num(inc.missingPrimary)) miss.push("primary " + fmtInt(inc.missingPrimary));
      if (num(inc.missingCandidate)) miss.push("candidate " + fmtInt(inc.missingCandidate));
      parts.push(fmtInt(incomplete) + " incomplete" + (miss.length ? " (no " + miss.join(", ") + ")" : ""));
    }
    if (num(e.fingerprintMismatch)) parts.push(fmtInt(e.fingerprintMismatch) + " fingerprint mismatch");
    return parts;
  }
  // caveatParts: compared, but with less to go on, or extra digests.
  function caveatParts(e) {
    var parts = [];
    var inc = e.incomplete || {};
    if (num(inc.missingSecondary)) parts.push(fmtInt(inc.missingSecondary) + " without secondary");
    if (num(e.duplicates)) parts.push(fmtInt(e.duplicates) + " duplicate digests ignored");
    return parts;
  }

  function renderOverview(all) {
    var data = all.list;
    var t = data.totals || {};
    var req = num(t.requests);
    function share(v) { return req ? " (" + fmtPct(num(v) / req, 1) + ")" : ""; }
    main.appendChild(h("h1", { text: "Endpoints" }));

    var cards = h("div", { class: "cards", id: "totals", "aria-label": "Where the traffic went" });
    function card(id, label, value, why) {
      cards.appendChild(h("div", { class: "card", id: "total-" + id, "data-value": String(num(value)) },
        h("div", { class: "label", text: label }),
        h("div", { class: "value", text: fmtInt(value) }),
        why ? h("div", { class: "why", text: why }) : null));
    }
    card("requests", "Requests", t.requests, "paired by x-request-id");
    card("compared", "Compared", t.compared, req ? fmtPct(num(t.compared) / req, 1) + " of requests" : "");
    card("skipped", "Skipped: side effects", t.skippedSideEffect, "unsafe methods answered locally by the shadow filter" + share(t.skippedSideEffect));
    card("incomplete", "Incomplete", t.incomplete, "the primary or candidate response never arrived" + share(t.incomplete));
    card("mismatch", "Fingerprint mismatch", t.fingerprintMismatch, "the versions did not receive the same request" + share(t.fingerprintMismatch));
    card("duplicates", "Duplicates", t.duplicates, "same pairing key seen again");
    card("dropped", "Dropped by filters", t.droppedByFilters, "digests lost before the collector (queue full, stream down)");
    main.appendChild(cards);

    var eps = data.endpoints || [];
    if (!eps.length) {
      main.appendChild(h("div", { class: "panel", id: "empty" },
        h("p", { text: "No traffic in this time window yet. Mirrored requests appear here once the filters report them." })));
    } else {
      var tbody = h("tbody");
      eps.forEach(function (e, i) {
        var nc = notComparedParts(e), cv = caveatParts(e), compared = num(e.compared) > 0;
        tbody.appendChild(h("tr", { "data-endpoint": e.endpoint, "data-rank": i + 1 },
          h("td", { class: "num", text: String(i + 1) }),
          h("td", null, h("a", { href: link("endpoint", { name: e.endpoint }), id: "ep-" + slug(e.endpoint), class: "mono", text: e.endpoint }),
            e.hasSecondary || !compared ? null : h("span", { class: "small muted", text: " · no secondary: noise learnt from repeats" })),
          h("td", null, ratingBadge(e.rating, e.compared)),
          h("td", { class: "num", "data-col": "difference-rate", text: compared ? fmtPct(e.differenceRate) : "—" }),
          h("td", { class: "num", text: fmtInt(e.requests) }),
          h("td", { class: "num", text: fmtInt(e.compared) }),
          h("td", { class: "num", text: compared ? fmtPct(e.noiseRate) : "—" }),
          h("td", null, endpointVerdictBadge(e)),
          h("td", { class: "num", title: "significant (statistical test) / reported by Diffy's rule", text: fmtInt(e.significantFields) + " / " + fmtInt(e.diffyFields) }),
          h("td", { class: "small", "data-col": "not-compared" }, nc.length ? nc.join("; ") : h("span", { class: "muted", text: "—" }),
            cv.length ? h("span", { class: "reason", text: cv.join("; ") }) : null),
          h("td", { class: "small", text: fmtTime(e.lastSeen) })));
      });
      main.appendChild(h("div", { class: "table-wrap" }, h("table", { id: "endpoints" },
        h("caption", { text: "Ranked by difference rate: compared requests with a difference that is not noise. Ratings as in Diffy: perfect < 0.1 %, almost < 5 %, neutral < 50 %, poor otherwise." }),
        h("thead", null, h("tr", null,
          h("th", { scope: "col", class: "num", text: "#" }),
          h("th", { scope: "col", text: "Endpoint" }),
          h("th", { scope: "col", text: "Rating" }),
          h("th", { scope: "col", class: "num", text: "Difference rate" }),
          h("th", { scope: "col", class: "num", text: "Requests" }),
          h("th", { scope: "col", class: "num", text: "Compared" }),
          h("th", { scope: "col", class: "num", text: "Noise rate" }),
          h("th", { scope: "col", text: "Verdict" }),
          h("th", { scope: "col", class: "num", title: "significant / Diffy", text: "Fields sig. / Diffy" }),
          h("th", { scope: "col", text: "Not compared (why)" }),
          h("th", { scope: "col", text: "Last seen" }))),
        tbody)));
    }

    renderEndpointRules(all.endpointRules);

    var input = h("input", { type: "search", id: "lookup-key", name: "key", placeholder: "x-request-id", autocomplete: "off", required: true });
    main.appendChild(h("h2", { text: "Find a request" }));
    main.appendChild(h("form", { class: "lookup", id: "lookup", onsubmit: function (ev) {
      ev.preventDefault();
      if (input.value.trim()) location.hash = link("request", { key: input.value.trim() });
    } }, h("label", { for: "lookup-key", text: "Pairing key" }), input, h("button", { type: "submit", class: "btn", text: "Show request" })));
  }

  // renderEndpointRules lists the rules that name endpoints by path
  // pattern, the learned ones marked, each with a delete button.
  function renderEndpointRules(loaded) {
    var rules = loaded.rules || [];
    main.appendChild(h("h2", { text: "Endpoint rules" }));
    var sec = h("div", { class: "panel", id: "endpoint-rules" });
    sec.appendChild(h("p", { class: "muted small", text: "Without a rule an endpoint is the method and the path with ids as {id}. " +
      "The collector learns a rule when one position of a path takes many values (--auto-template-threshold); a deleted learned rule is not learned again. " +
      "Add rules with shadowdiff endpoint-rules add." }));
    if (readOnly) sec.appendChild(h("p", { class: "muted", text: "This console is read-only (--console-read-only): delete endpoint rules with shadowdiff endpoint-rules delete." }));
    if (loaded.error) {
      sec.appendChild(h("p", { class: "error-box", id: "endpoint-rules-error", text: "Could not load the endpoint rules: " + loaded.error }));
    } else if (!rules.length) {
      sec.appendChild(h("p", { class: "muted", id: "no-endpoint-rules", text: "No endpoint rules." }));
    } else {
      var ul = h("ul", { class: "rules" });
      rules.forEach(function (r) {
        var pattern = (r.method || "any method") + " " + r.pathPattern;
        ul.appendChild(h("li", { "data-endpoint-rule": r.id, "data-origin": r.learned ? "learned" : "added" },
          h("code", { text: pattern }), " → ", h("code", { text: r.endpoint }), " ",
          h("span", { class: "muted small", text: (r.learned ? "learned" : "added") + " · " + fmtTime(r.created) }), " ",
          readOnly ? null : h("button", { type: "button", class: "btn", id: "endpoint-rule-" + slug(r.id) + "-delete", "aria-label": "Delete endpoint rule " + pattern,
            onclick: function () { this.disabled = true; deleteEndpointRule(r, pattern, this); }, text: "Delete" })));
      });
      sec.appendChild(ul);
    }
    main.appendChild(sec);
  }
  function deleteEndpointRule(r, label, button) {
    return api("DELETE", "api/endpoint-rules?" + new URLSearchParams({ id: r.id }).toString()).then(function () {
      say("Endpoint rule " + r.id + " (" + label + ") deleted" + (r.learned ? "; it will not be learned again" : "") +
        ". Requests it named keep their endpoint until they age out.");
      return refresh(true);
    }, function (err) {
      button.disabled = false; // to try again
      say("Could not delete endpoint rule " + r.id + ": " + err.message, { error: true });
    });
  }

  // ----- endpoint -----

  function loadEndpoint() {
    var p = state.route.params;
    var name = p.get("name") || "";
    return Promise.all([
      api("GET", "api/fields?" + apiQuery({ endpoint: name, include_noise: p.get("noise") === "1" ? "true" : "" })),
      api("GET", "api/noise-rules?" + new URLSearchParams({ endpoint: name }).toString()),
    ]).then(function (r) { return { fields: r[0], rules: r[1] }; });
  }

  // splitPath turns "body.items[].price" into nodes with their prefixes:
  // body, body.items, body.items[], body.items[].price. Headers keep their
  // name whole ("headers.x-a.b" has two levels); '\' escapes in JSON keys.
  function splitPath(path) {
    var out = [];
    if (path.indexOf("headers.") === 0) {
      return [{ seg: "headers", prefix: "headers" }, { seg: path.slice(8), prefix: path }];
    }
    var seg = "", i = 0;
    function push(end) { if (seg !== "") out.push({ seg: seg, prefix: path.slice(0, end) }); seg = ""; }
    while (i < path.length) {
      var c = path.charAt(i);
      // An escaped metacharacter is the character; \xNN (a byte of a name
      // that is not UTF-8) stays as written.
      if (c === "\\" && path.charAt(i + 1) === "x") { seg += "\\x"; i += 2; continue; }
      if (c === "\\" && i + 1 < path.length) { seg += path.charAt(i + 1); i += 2; continue; }
      if (c === ".") { push(i); i++; continue; }
      if (c === "[" && path.charAt(i + 1) === "]") { push(i); out.push({ seg: "[]", prefix: path.slice(0, i + 2) }); i += 2; continue; }
      seg += c; i++;
    }
    push(path.length);
    return out;
  }

  // decision classifies a field for display; the order matters.
  function decision(f) {
    if (f.suppressedByRule) return { key: "suppressed", label: "Noise (rule)", rank: 1 };
    if (f.significant) return { key: "significant", label: "Significant regression", rank: 6 };
    if (num(f.rawDifferences) > 0 && (num(f.total) < num(f.minSamples) || f.undecided)) return { key: "insufficient", label: "Insufficient data", rank: 5 };
    var cls = enumName(f.noiseClass, "NOISE_CLASS_");
    if (num(f.noiseDifferences) > 0 || cls === "ALWAYS" || cls === "SOMETIMES") return { key: "noise", label: "Noise", rank: 2 };
    if (num(f.rawDifferences) > 0) return { key: "not-significant", label: "Not significant", rank: 4 };
    return { key: "same", label: "Same", rank: 0 };
  }

  function buildTree(fields) {
    var root = { children: {}, order: [], prefix: "", seg: "" };
    fields.forEach(function (f) {
      var node = root;
      splitPath(f.path).forEach(function (s) {
        if (!node.children[s.prefix]) {
          node.children[s.prefix] = { children: {}, order: [], prefix: s.prefix, seg: s.seg, field: null };
          node.order.push(s.prefix);
        }
        node = node.children[s.prefix];
      });
      node.field = f;
    });
    (function agg(n) {
      var worst = n.field ? decision(n.field) : null, counts = {}, leaves = 0;
      n.order.forEach(function (k) {
        var c = n.children[k];
        agg(c);
        leaves += c.leaves;
        Object.keys(c.counts).forEach(function (d) { counts[d] = (counts[d] || 0) + c.counts[d]; });
        if (c.worst && (!worst || c.worst.rank > worst.rank)) worst = c.worst;
      });
      if (n.field) { var d = decision(n.field); counts[d.key] = (counts[d.key] || 0) + 1; leaves++; }
      n.counts = counts; n.leaves = leaves; n.worst = worst;
      // Regressions first, then by raw differences, then by name.
      n.order.sort(function (a, b) {
        var x = n.children[a], y = n.children[b];
        var rx = x.worst ? x.worst.rank : 0, ry = y.worst ? y.worst.rank : 0;
        if (rx !== ry) return ry - rx;
        var dx = x.field ? num(x.field.rawDifferences) : 0, dy = y.field ? num(y.field.rawDifferences) : 0;
        if (dx !== dy) return dy - dx;
        return a < b ? -1 : a > b ? 1 : 0;
      });
    })(root);
    return root;
  }

  function kindsText(kinds) {
    return (kinds || []).filter(function (k) { return num(k.count) > 0; }).map(function (k) {
      return human(enumName(k.kind, "DIFF_KIND_")) + " " + fmtInt(k.count);
    }).join(", ");
  }

  // failed re-enables the button of a change the API refused, to try again,
  // keeps the keyboard focus on it, and refreshes: the refusal may say the
  // page is out of date (a rule deleted elsewhere).
  function failed(button, msg) {
    say(msg, { error: true });
    if (button) {
      button.disabled = false;
      if (!document.activeElement || document.activeElement === document.body) button.focus();
    }
    return refresh(true);
  }

  function markAsNoise(endpoint, prefix, button) {
    return api("POST", "api/noise-rules", { endpoint: endpoint, pathPrefix: prefix, comment: "marked as noise in the console" })
      .then(function (rule) {
        say("Marked " + prefix + " as noise on " + endpoint + " (rule " + rule.id + ").", {
          action: { label: "Undo", run: function () { deleteRule(rule.id, prefix); } },
        });
        return refresh(true).then(function () {
          // The clicked row is usually gone: keep keyboard users in place.
          if (!main.contains(document.activeElement)) {
            var undo = notice.querySelector("button");
            if (undo) undo.focus();
          }
        });
      }, function (err) { return failed(button, "Could not mark " + prefix + " as noise: " + err.message); });
  }
  function addRule(rule, button) {
    return api("POST", "api/noise-rules", rule).then(function (r) {
      say("Noise rule " + r.id + " created for " + (r.pathPrefix || rule.pathPrefix) + ".");
      return refresh(true);
    }, function (err) { return failed(button, "Could not create the rule: " + err.message); });
  }
  function deleteRule(id, label, button) {
    return api("DELETE", "api/noise-rules?" + new URLSearchParams({ id: id }).toString()).then(function () {
      say("Noise rule " + id + (label ? " (" + label + ")" : "") + " deleted.");
      return refresh(true);
    }, function (err) { return failed(button, "Could not delete rule " + id + ": " + err.message); });
  }

  function renderEndpoint(data) {
    var p = state.route.params;
    var name = p.get("name") || "";
    var includeNoise = p.get("noise") === "1";
    var e = data.fields.endpoint || {};
    var compared = num(e.compared) > 0;
    // Excluding noise hides fields whose differences noise explains (learnt
    // from the secondary or repeats); the API leaves out those covered by
    // noise rules unless include_noise is set.
    // Unchanged fields (never differed) are hidden unless asked for, as in
    // Diffy, which lists only fields that differed.
    var includeSame = p.get("same") === "1";
    var allFields = data.fields.fields || [];
    // Until the test can call anything a regression, no field is decided.
    var undecided = num(e.attainablePValue) > num(e.significanceLevel);
    allFields.forEach(function (f) { f.undecided = undecided; });
    var hiddenNoise = 0, hiddenSame = 0;
    var fields = allFields.filter(function (f) {
      var k = decision(f).key;
      if (k === "noise" && !includeNoise) { hiddenNoise++; return false; }
      if (k === "same" && !includeSame) { hiddenSame++; return false; }
      return true;
    });
    function here(extra) {
      return link("endpoint", Object.assign({ name: name, noise: includeNoise ? "1" : "", same: includeSame ? "1" : "" }, extra));
    }

    main.appendChild(breadcrumb([{ text: name }]));
    main.appendChild(h("h1", null, h("span", { class: "mono", text: name }), " ", ratingBadge(e.rating, e.compared), " ", endpointVerdictBadge(e)));

    var nc = notComparedParts(e), cv = caveatParts(e);
    function row(label, value, id) { return h("div", id ? { id: id } : null, h("dt", { text: label }), h("dd", null, value)); }
    main.appendChild(h("section", { class: "panel", "aria-label": "Endpoint summary" }, h("dl", { class: "summary", id: "endpoint-summary" },
      row("Difference rate", compared ? fmtPct(e.differenceRate) : "—", "sum-difference-rate"),
      row("Noise rate", compared ? fmtPct(e.noiseRate) : "—"),
      row("Verdict", e.verdictReason || "—", "sum-verdict"),
      row("Requests / compared", fmtInt(e.requests) + " / " + fmtInt(e.compared)),
      row("Significant fields", fmtInt(e.significantFields) + " (Diffy: " + fmtInt(e.diffyFields) + ")", "sum-significant"),
      row("Noise baseline", e.hasSecondary ? "secondary" : "repeated requests"),
      row("Primary ≠ candidate", fmtInt(e.rawDifferent)),
      row("Primary ≠ secondary", fmtInt(e.noiseDifferent)),
      row("Different net of noise", fmtInt(e.regressionDifferent)),
      row("Method · route", (e.method || "—") + " · " + (e.routeName || e.pathTemplate || "—")),
      row("Seen", seenRange(e.firstSeen, e.lastSeen))),
      nc.length ? h("p", { class: "small summary-note", id: "sum-not-compared" }, h("strong", { text: "Not compared: " }), nc.join("; ")) : null,
      cv.length ? h("p", { class: "small summary-note muted" }, cv.join("; ")) : null));

    var tree = buildTree(fields);
    var ckey = name + "\u0000";
    var noiseBox = h("input", { type: "checkbox", id: "include-noise", checked: includeNoise, onchange: function () {
      navigateFrom(this, here({ noise: this.checked ? "1" : "" }));
    } });
    var sameBox = h("input", { type: "checkbox", id: "include-same", checked: includeSame, onchange: function () {
      navigateFrom(this, here({ same: this.checked ? "1" : "" }));
    } });
    function setAll(collapsed) {
      (function walk(n) {
        n.order.forEach(function (k) {
          var c = n.children[k];
          if (c.order.length) state.collapsed[ckey + k] = collapsed;
          walk(c);
        });
      })(tree);
      redraw(function () { renderEndpoint(data); }, true);
    }
    main.appendChild(h("h2", { id: "fields-heading", text: "Fields" }));
    main.appendChild(h("div", { class: "toolbar" },
      h("span", null, noiseBox, " ", h("label", { for: "include-noise", text: "Include noise" }),
        h("span", { class: "small muted", id: "noise-note", text: includeNoise ? " (also fields covered by noise rules)" :
          " (" + (hiddenNoise ? hiddenNoise + " noisy field" + (hiddenNoise === 1 ? "" : "s") + " and " : "") + "fields covered by noise rules hidden)" })),
      h("span", null, sameBox, " ", h("label", { for: "include-same", text: "Include unchanged fields" }),
        hiddenSame ? h("span", { class: "small muted", id: "same-note", text: " (" + hiddenSame + " hidden)" }) : null),
      h("button", { type: "button", class: "btn", id: "expand-all", onclick: function () { setAll(false); }, text: "Expand all" }),
      h("button", { type: "button", class: "btn", id: "collapse-all", onclick: function () { setAll(true); }, text: "Collapse all" }),
      h("a", { href: link("samples", { endpoint: name, path: "" }), text: "All samples of this endpoint" })));

    if (!fields.length) {
      main.appendChild(h("div", { class: "panel", id: "no-fields" }, h("p", { text: compared ?
        "No field differed in this time window." + (hiddenNoise || !includeNoise ? " Noise is hidden." : "") :
        "No compared requests in this time window yet." })));
    } else {
      var tbody = h("tbody");
      (function walk(n, depth) {
        n.order.forEach(function (k) {
          var c = n.children[k];
          var hasKids = c.order.length > 0;
          var collapsed = !!state.collapsed[ckey + k];
          tbody.appendChild(fieldRow(name, c, depth, hasKids, collapsed, function () {
            state.collapsed[ckey + k] = !collapsed;
            redraw(function () { renderEndpoint(data); }, true);
          }));
          if (hasKids && !collapsed) walk(c, depth + 1);
        });
      })(tree, 0);
      main.appendChild(h("div", { class: "table-wrap" }, h("table", { class: "tree", id: "fields" },
        h("caption", { text: "r: requests where primary and candidate differed on the field; n: where primary and secondary differed (noise). Diffy reports a field when r > n, relative > 20 % and absolute > 0.03 %. The decision is the collector's statistical test." }),
        h("thead", null, h("tr", null,
          h("th", { scope: "col", text: "Field" }),
          h("th", { scope: "col", text: "Decision" }),
          h("th", { scope: "col", class: "num", text: "Raw r" }),
          h("th", { scope: "col", class: "num", text: "Noise n" }),
          h("th", { scope: "col", class: "num", text: "Diffy rel. / abs." }),
          h("th", { scope: "col", class: "num", text: "Confidence (p)" }),
          h("th", { scope: "col", class: "num", text: "Excess rate (≥ lower)" }),
          h("th", { scope: "col", text: "Noise class" }),
          h("th", { scope: "col", text: "Actions" }))),
        tbody)));
    }

    renderRules(name, data.rules || {});
  }

  function fieldRow(endpoint, node, depth, hasKids, collapsed, toggle) {
    var f = node.field;
    var id = "f-" + slug(node.prefix);
    var label = h("span", { class: "seg", text: node.seg });
    var lead = hasKids ? h("button", {
      type: "button", class: "toggle", id: id + "-toggle", "aria-expanded": collapsed ? "false" : "true",
      "aria-label": (collapsed ? "Expand " : "Collapse ") + node.prefix, onclick: toggle, text: collapsed ? "▸" : "▾",
    }) : h("span", { class: "spacer", "aria-hidden": "true" });
    var first = h("td", { class: "field", style: null }, lead, label);
    first.style.paddingLeft = (0.5 + depth * 1.3) + "rem";
    first.title = node.prefix;

    var actions = h("td", { class: "actions" });
    if (readOnly) {
      // Nothing to change here: see the rules panel.
    } else if (f && f.suppressedByRule) {
      actions.appendChild(h("button", { type: "button", class: "btn", id: id + "-unmark", "data-action": "unmark",
        onclick: function () { this.disabled = true; deleteRule(f.suppressedByRule, node.prefix, this); },
        text: "Remove rule" }));
    } else if (f ? decision(f).key !== "same" : Object.keys(node.counts).some(function (k) { return k !== "same" && k !== "suppressed"; })) {
      // Only what differed can be noise.
      actions.appendChild(h("button", { type: "button", class: "btn", id: id + "-mark", "data-action": "mark-noise",
        "aria-label": "Mark " + node.prefix + " as noise",
        onclick: function () { this.disabled = true; markAsNoise(endpoint, node.prefix, this); },
        text: "Mark as noise" }));
    }
    if (f && num(f.rawDifferences) + num(f.noiseDifferences) > 0) {
      actions.appendChild(h("a", { href: link("samples", { endpoint: endpoint, path: node.prefix }), id: id + "-samples",
        "aria-label": "Samples of " + node.prefix, text: "Samples" }));
    }

    if (!f) {
      var parts = [];
      ["significant", "insufficient", "not-significant", "noise", "suppressed", "same"].forEach(function (k) {
        if (node.counts[k]) parts.push(node.counts[k] + " " + { significant: "significant", insufficient: "undecided", "not-significant": "not significant", noise: "noise", suppressed: "rule", same: "same" }[k]);
      });
      return h("tr", { class: "interior", "data-path": node.prefix, "data-status": "group", "aria-level": depth + 1 },
        first,
        h("td", { class: "small muted", colspan: 7 },
          node.worst && node.worst.key === "significant" ? [h("span", { class: "badge decision-significant", text: "contains a regression" }), " "] : null,
          node.leaves + " field" + (node.leaves === 1 ? "" : "s") + ": " + parts.join(", ")),
        actions);
    }

    var d = decision(f);
    var enough = num(f.total) >= num(f.minSamples);
    // A field that never differed has no decision numbers worth showing.
    var differed = num(f.rawDifferences) > 0;
    var conf = differed && (enough || num(f.pValue) > 0) ? fmtPct(f.confidence, 2) + " (p " + fmtP(f.pValue) + ")" : "—";
    var cls = enumName(f.noiseClass, "NOISE_CLASS_");
    return h("tr", { "data-path": f.path, "data-status": d.key, "aria-level": depth + 1 },
      first,
      h("td", null, h("span", { class: "badge decision-" + d.key, text: d.label }),
        h("span", { class: "reason", text: f.reason || (enough ? "" : "needs " + fmtInt(f.minSamples) + " compared, has " + fmtInt(f.total)) })),
      h("td", { class: "num", title: "of " + fmtInt(f.total) + " compared" }, fmtInt(f.rawDifferences),
        h("span", { class: "reason", text: [num(f.definite) ? fmtInt(f.definite) + " definite" : "", kindsText(f.rawKinds)].filter(Boolean).join("; ") })),
      h("td", { class: "num" }, fmtInt(f.noiseDifferences), h("span", { class: "reason", text: kindsText(f.noiseKinds) })),
      differed || num(f.noiseDifferences) ? h("td", { class: "num" }, fmtPctValue(f.diffyRelative) + " / " + fmtPctValue(f.diffyAbsolute),
        h("span", { class: "reason", text: f.diffyReported ? "Diffy reports it" : "Diffy: not reported" })) : h("td", { class: "num muted", text: "—" }),
      h("td", { class: "num", text: conf }),
      h("td", { class: "num", text: differed ? fmtPct(f.excessRate) + " (≥ " + fmtPct(f.excessRateLower) + ")" : "—" }),
      h("td", { class: "small", text: cls === "UNSPECIFIED" ? "—" : human(cls) + (num(f.shapeDifferences) ? "; " + fmtInt(f.shapeDifferences) + " shape changes" : "") }),
      actions);
  }

  function renderRules(endpoint, rules) {
    var list = rules.rules || [];
    var sugg = rules.suggested || [];
    main.appendChild(h("h2", { text: "Noise rules" }));
    var sec = h("div", { class: "panel", id: "noise-rules" });
    if (readOnly) sec.appendChild(h("p", { class: "muted", id: "read-only-note", text: "This console is read-only (--console-read-only): change noise rules with shadowdiff noise add / delete." }));
    if (!list.length) sec.appendChild(h("p", { class: "muted", text: "No noise rules apply to this endpoint." }));
    else {
      var ul = h("ul", { class: "rules" });
      list.forEach(function (r) {
        ul.appendChild(h("li", { "data-rule": r.id },
          h("code", { text: r.pathPrefix }), " ",
          h("span", { class: "muted small", text: (r.endpoint ? "on this endpoint" : "on all endpoints") + (r.comment ? " — " + r.comment : "") + " · " + fmtTime(r.created) }), " ",
          readOnly ? null : h("button", { type: "button", class: "btn", id: "rule-" + slug(r.id) + "-delete", "aria-label": "Delete rule for " + r.pathPrefix,
            onclick: function () { this.disabled = true; deleteRule(r.id, r.pathPrefix, this); }, text: "Delete" })));
      });
      sec.appendChild(ul);
    }
    sec.appendChild(h("h3", { class: "small", text: "Suggested (fields learnt to be always noisy)" }));
    if (!sugg.length) sec.appendChild(h("p", { class: "muted", text: "No suggestions." }));
    else {
      var ul2 = h("ul", { class: "rules", id: "suggested-rules" });
      sugg.forEach(function (s, i) {
        var r = s.rule || {};
        ul2.appendChild(h("li", { "data-suggested": r.pathPrefix },
          h("code", { text: r.pathPrefix }), " ",
          h("span", { class: "muted small", text: (r.endpoint ? r.endpoint : "all endpoints") + " — " + (s.reason || "") }), " ",
          readOnly ? null : h("button", { type: "button", class: "btn", id: "suggest-" + i + "-apply", "aria-label": "Apply suggested rule for " + r.pathPrefix,
            onclick: function () { this.disabled = true; addRule({ endpoint: r.endpoint || endpoint, pathPrefix: r.pathPrefix, comment: r.comment || s.reason || "suggested rule" }, this); },
            text: "Apply" })));
      });
      sec.appendChild(ul2);
    }
    main.appendChild(sec);
  }

  // ----- samples -----

  function loadSamples() {
    var p = state.route.params;
    return api("GET", "api/samples?" + apiQuery({
      endpoint: p.get("endpoint") || "", path: p.get("path") || "", limit: "50",
      definite_only: p.get("definite") === "1" ? "true" : "", page_token: p.get("page_token") || "",
    }));
  }

  function renderSamples(data) {
    var p = state.route.params;
    var endpoint = p.get("endpoint") || "";
    var path = p.get("path") || "";
    var samples = data.samples || [];
    main.appendChild(breadcrumb([
      { text: endpoint, href: link("endpoint", { name: endpoint }) },
      { text: path ? "Samples of " + path : "Samples" },
    ]));
    main.appendChild(h("h1", null, "Samples: ", h("span", { class: "mono", text: path || "any field" })));
    var definite = h("input", { type: "checkbox", id: "definite-only", checked: p.get("definite") === "1", onchange: function () {
      navigateFrom(this, link("samples", { endpoint: endpoint, path: path, key: p.get("key"), definite: this.checked ? "1" : "" }));
    } });
    main.appendChild(h("div", { class: "toolbar" }, h("span", null, definite, " ",
      h("label", { for: "definite-only", text: "Only requests where primary and secondary agreed on the field (definite evidence)" }))));
    if (!samples.length) {
      main.appendChild(h("div", { class: "panel", id: "no-samples" }, h("p", { text: "No sample requests in this time window." })));
      return;
    }
    var key = p.get("key") || samples[0].pairingKey;
    var sel = null;
    var ul = h("ul", { class: "sample-list", id: "sample-list" });
    samples.forEach(function (s) {
      var cur = s.pairingKey === key;
      if (cur) sel = s;
      var raw = (s.differences || []).filter(function (d) { return enumName(d.comparison, "COMPARISON_") === "RAW"; });
      var n = raw.filter(function (d) { return !d.noise; }).length, nn = raw.length - n;
      var what = (n ? n + " difference" + (n === 1 ? "" : "s") : "no difference") + (nn ? " + " + nn + " noise" : "");
      ul.appendChild(h("li", null, h("a", {
        href: link("samples", { endpoint: endpoint, path: path, key: s.pairingKey, definite: p.get("definite"), page_token: p.get("page_token") }),
        "aria-current": cur ? "true" : null, id: "sample-" + slug(s.pairingKey),
      }, h("span", { class: "key", text: s.pairingKey }), h("br"),
        h("span", { class: "small muted", title: fmtTime(s.time), text: fmtTime(s.time).slice(11) + " · " + what }))));
    });
    var detail = h("div", { id: "sample-detail" });
    // Pages of samples: More goes on from the last one listed.
    var pager = p.get("page_token") || data.nextPageToken ? h("p", { class: "small pager" },
      p.get("page_token") ? h("a", { href: link("samples", { endpoint: endpoint, path: path, definite: p.get("definite") }), id: "samples-first", text: "First samples" }) : null,
      p.get("page_token") && data.nextPageToken ? " · " : null,
      data.nextPageToken ? h("a", { href: link("samples", { endpoint: endpoint, path: path, definite: p.get("definite"), page_token: data.nextPageToken }), id: "samples-more", text: "More samples" }) : null) : null;
    var layout = h("div", { class: "samples-layout" },
      h("nav", { "aria-label": "Sample requests", class: "panel" }, h("h2", { class: "small", text: samples.length + " sample" + (samples.length === 1 ? "" : "s") + (data.nextPageToken ? " (more available)" : "") }), ul, pager),
      detail);
    main.appendChild(layout);
    if (!sel) {
      api("GET", "api/requests?" + new URLSearchParams({ key: key }).toString()).then(function (rec) {
        renderRecord(detail, rec, path);
      }, function (err) { detail.appendChild(h("div", { class: "panel error-box", role: "alert", text: err.message })); });
    } else {
      renderRecord(detail, sel, path);
    }
  }

  function loadRequest() {
    return api("GET", "api/requests?" + new URLSearchParams({ key: state.route.params.get("key") || "" }).toString());
  }
  function renderRequest(rec) {
    main.appendChild(breadcrumb([
      { text: rec.endpoint || "?", href: link("endpoint", { name: rec.endpoint }) },
      { text: "Request " + rec.pairingKey },
    ]));
    main.appendChild(h("h1", null, "Request ", h("span", { class: "mono", text: rec.pairingKey })));
    var detail = h("div", { id: "sample-detail" });
    main.appendChild(detail);
    renderRecord(detail, rec, "");
  }

  // entryText shows a raw value when the filter collected one, else the hash.
  function entryCell(entry, kind) {
    if (!entry) return { text: null, meta: "" };
    if (kind === "field") {
      var meta = [human(enumName(entry.type, "JSON_TYPE_")), human(enumName(entry.shape, "VALUE_SHAPE_"))].filter(function (x) { return x !== "unspecified"; });
      if (num(entry.occurrences) > 1) meta.push(fmtInt(entry.occurrences) + "×");
      if (num(entry.elements)) meta.push(fmtInt(entry.elements) + " elements");
      if ("rawValue" in entry) return { value: entry.rawValue, meta: meta.join(" · ") };
      return { hash: hashHex(entry.valueHash), meta: meta.join(" · ") };
    }
    if (kind === "header") {
      var m = human(enumName(entry.shape, "VALUE_SHAPE_"));
      if (m === "unspecified") m = "";
      if ("rawValue" in entry) return { value: entry.rawValue, meta: m };
      return { hash: hashHex(entry.valueHash), meta: m };
    }
    return { value: String(entry), meta: "" };
  }

  function renderRecord(container, rec, selectedPath) {
    var roles = [["primary", rec.primary], ["secondary", rec.secondary], ["candidate", rec.candidate]];
    var diffs = rec.differences || [];
    // Highlights by path: raw (primary vs candidate), noise (primary vs secondary).
    var hl = {};
    diffs.forEach(function (d) {
      var c = enumName(d.comparison, "COMPARISON_");
      var x = hl[d.path] || (hl[d.path] = {});
      // A primary/candidate difference that noise explains (learnt noise or
      // a rule) is marked as noise, not as a regression.
      if (c === "RAW") { var m = d.noise ? "noise" : "raw"; if (x.primary !== "raw") x.primary = m; if (x.candidate !== "raw") x.candidate = m; }
      else if (c === "NOISE") { if (!x.primary) x.primary = "noise"; x.secondary = "noise"; }
    });
    function isSelected(path) {
      if (!selectedPath) return false;
      return path === selectedPath || path.indexOf(selectedPath + ".") === 0 || path.indexOf(selectedPath + "[") === 0;
    }

    if (rec.notComparedReason) {
      container.appendChild(h("div", { class: "panel", role: "note" }, h("strong", { text: "Not compared: " }), rec.notComparedReason));
    }
    container.appendChild(h("p", { class: "small muted" },
      "Endpoint ", h("a", { href: link("endpoint", { name: rec.endpoint }), class: "mono", text: rec.endpoint }),
      " · ", fmtTime(rec.time), " · pairing key ", h("a", { href: link("request", { key: rec.pairingKey }), class: "mono", text: rec.pairingKey })));

    // Side by side.
    var rows = [];
    function section(title) { rows.push({ section: title }); }
    function add(path, kind, getter) {
      rows.push({ path: path, kind: kind, cells: roles.map(function (r) { return r[1] ? getter(r[1]) : undefined; }) });
    }
    section("Response");
    add("status", "plain", function (d) { return String(num(d.status)); });
    var headerNames = {};
    roles.forEach(function (r) { (r[1] && r[1].headers || []).forEach(function (x) { headerNames[x.name] = true; }); });
    Object.keys(headerNames).sort().forEach(function (n) {
      add("headers." + n, "header", function (d) { return (d.headers || []).filter(function (x) { return x.name === n; })[0]; });
    });
    add("body (kind)", "plain", function (d) { var b = d.body || {}; return human(enumName(b.kind, "BODY_KIND_")) + (b.contentType ? " · " + b.contentType : "") + (b.contentEncoding ? " · " + b.contentEncoding : "") + (b.truncated ? " · truncated" : "") + (b.error ? " · " + b.error : ""); });
    add("body (size)", "plain", function (d) { var b = d.body || {}; return fmtInt(b.wireSize) + " B on the wire, " + fmtInt(b.decodedSize) + " B decoded"; });
    add("body", "hash", function (d) { return d.body && d.body.hash; });
    var fieldPaths = {};
    roles.forEach(function (r) { (r[1] && r[1].body && r[1].body.fields || []).forEach(function (f) { fieldPaths[f.path] = true; }); });
    Object.keys(hl).forEach(function (p) { if (p.indexOf("body.") === 0) fieldPaths[p.slice(5)] = true; });
    Object.keys(fieldPaths).sort().forEach(function (fp) {
      var full = fp === "" ? "body" : (fp.charAt(0) === "[" ? "body" + fp : "body." + fp);
      if (full === "body") full = "body (root value)";
      add(full, "field", function (d) { return (d.body && d.body.fields || []).filter(function (x) { return x.path === fp; })[0]; });
    });

    section("Request fingerprint and workload");
    add("request.method", "plain", function (d) { return d.request && d.request.method; });
    add("request.path", "plain", function (d) { return d.request && d.request.path; });
    add("request.query_hash", "hash", function (d) { return d.request && d.request.queryHash; });
    add("request.body_hash", "hash", function (d) { return d.request && d.request.bodyHash; });
    add("request.body_size", "plain", function (d) { return d.request && fmtInt(d.request.bodySize) + (d.request.bodyTruncated ? " (truncated)" : ""); });
    add("workload", "plain", function (d) { var w = d.workload || {}; return [w.name, w.namespace, w.version].filter(Boolean).join(" / ") || "—"; });
    add("latency", "plain", function (d) { return (num(d.upstreamLatencyMicros) / 1000).toFixed(1) + " ms"; });
    add("skip", "plain", function (d) { var s = enumName(d.skip, "SKIP_REASON_"); return s === "UNSPECIFIED" ? "—" : human(s); });
    // The whole body's hash differs when its fields do: it takes their marks.
    var bodyMark = null;
    Object.keys(hl).forEach(function (p) {
      if (p.indexOf("body.") !== 0 && p.indexOf("body[") !== 0) return;
      bodyMark = bodyMark || {};
      ["primary", "secondary", "candidate"].forEach(function (role) {
        if (hl[p][role] === "raw" || (hl[p][role] && !bodyMark[role])) bodyMark[role] = hl[p][role];
      });
    });
    var tb = h("tbody");
    rows.forEach(function (r) {
      if (r.section) { tb.appendChild(h("tr", { class: "section" }, h("th", { scope: "rowgroup", colspan: 4, text: r.section }))); return; }
      var hpath = r.path === "body (root value)" ? "body" : r.path;
      var mark = hl[hpath] || {};
      if (r.path === "body" && bodyMark) mark = bodyMark;
      // Request fingerprints and plain values: flag any disagreement too,
      // except where the sides differ by design: the body's kind and size
      // (its hash and fields say whether it differs), the latency, and the
      // workload (the candidate is another version by definition).
      else if ((r.kind === "plain" || r.kind === "hash") && r.path.indexOf("body (") !== 0 && !neutralRows[r.path]) {
        var vals = r.cells.map(function (c) { return c === undefined ? undefined : String(c); });
        if (vals[0] !== undefined) {
          if (vals[2] !== undefined && vals[2] !== vals[0] && !mark.candidate) { mark = Object.assign({}, mark, { primary: mark.primary || "raw", candidate: "raw" }); }
          if (vals[1] !== undefined && vals[1] !== vals[0] && !mark.secondary) { mark = Object.assign({}, mark, { primary: mark.primary || "noise", secondary: "noise" }); }
        }
      }
      var any = mark.primary || mark.secondary || mark.candidate;
      var tr = h("tr", { "data-path": hpath, "data-diff": any ? (mark.candidate === "raw" ? "raw" : "noise") : null,
        class: isSelected(hpath) ? "selected-field" : null },
        h("th", { scope: "row", class: "path mono small" }, r.path, isSelected(hpath) ? h("span", { class: "small", text: " (selected)" }) : null));
      ["primary", "secondary", "candidate"].forEach(function (role, i) {
        var cell;
        if (r.kind === "plain") cell = r.cells[i] === undefined ? { missing: true } : { value: r.cells[i] };
        else if (r.kind === "hash") cell = r.cells[i] === undefined ? { missing: true } : { hash: hashHex(r.cells[i]) };
        else cell = r.cells[i] === undefined ? { missing: true } : entryCell(r.cells[i], r.kind);
        if (!roles[i][1]) cell = { noDigest: true };
        tr.appendChild(valueTd(cell, mark[role], role));
      });
      tb.appendChild(tr);
    });
    container.appendChild(h("h2", { text: "Side by side" }));
    container.appendChild(h("div", { class: "legend", "aria-label": "Legend" },
      h("span", { class: "raw", text: "≠ primary and candidate differ (not noise)" }),
      h("span", { class: "noise", text: "~ differs, explained by noise (secondary, learnt noise or a rule)" }),
      h("span", { text: "#… keyed hash (raw value not collected)" })));
    container.appendChild(h("div", { class: "table-wrap" }, h("table", { class: "compare", id: "side-by-side" },
      h("caption", { text: "The response of each side, then the request it answered: ≠ marks a difference between primary and candidate that noise does not explain, ~ one it does." }),
      h("thead", null, h("tr", null, h("th", { scope: "col", text: "Field" }),
        h("th", { scope: "col", text: "Primary" }), h("th", { scope: "col", text: "Secondary" }), h("th", { scope: "col", text: "Candidate" }))),
      tb)));
    // Bring the selected field into view once the page is shown.
    state.scrollTo = container.querySelector("#side-by-side tr.selected-field[data-diff]") || container.querySelector("#side-by-side tr.selected-field");

    // Differences list.
    var dt = h("tbody");
    diffs.forEach(function (d) {
      var k = d.path.indexOf("headers.") === 0 ? "header" : d.path === "status" ? "status" : "field";
      dt.appendChild(h("tr", { "data-diff-path": d.path, "data-comparison": enumName(d.comparison, "COMPARISON_"), class: isSelected(d.path) ? "selected-field" : null },
        h("td", { class: "path", text: d.path }),
        h("td", { text: human(enumName(d.kind, "DIFF_KIND_")) }),
        h("td", { text: enumName(d.comparison, "COMPARISON_") === "RAW" ? "primary ≠ candidate" : "primary ≠ secondary (noise)" }),
        h("td", { text: (d.definite ? "definite" : "") + (d.noise ? (d.definite ? ", " : "") + "noise" : "") || "—" }),
        valueTd(entryCell(d.left, k)), valueTd(entryCell(d.right, k))));
    });
    container.appendChild(h("h2", { text: "Differences" }));
    if (diffs.length) {
      container.appendChild(h("div", { class: "table-wrap" }, h("table", { class: "compare", id: "differences" },
        h("caption", { text: "Every difference the collector recorded for this request: primary against candidate, and primary against secondary (noise)." }),
        h("thead", null, h("tr", null, h("th", { scope: "col", text: "Field" }), h("th", { scope: "col", text: "Kind" }),
          h("th", { scope: "col", text: "Between" }), h("th", { scope: "col", text: "Evidence" }),
          h("th", { scope: "col", text: "Left (primary)" }), h("th", { scope: "col", text: "Right" }))), dt)));
    } else container.appendChild(h("p", { class: "muted", text: "No differences recorded." }));

  }

  // Rows of the side-by-side table never marked as differing.
  var neutralRows = { latency: true, workload: true };

  function valueTd(cell, mark, role) {
    var td = h("td", { "data-role": role || null, "data-mark": mark || null, class: mark ? "diff-" + mark : null });
    if (mark) td.appendChild(h("span", { class: "mark", "aria-label": mark === "raw" ? "differs, not noise" : "differs, noise", text: mark === "raw" ? "≠" : "~" }));
    if (cell.noDigest) td.appendChild(h("span", { class: "absent", text: "no digest" }));
    else if (cell.missing) td.appendChild(h("span", { class: "absent", text: "absent" }));
    else if (cell.value !== undefined) td.appendChild(h("span", { class: "value", text: cell.value }));
    else if (cell.hash !== undefined) td.appendChild(h("span", { class: "hash", title: "keyed hash; the raw value was not collected", text: "#" + cell.hash }));
    if (cell.meta) td.appendChild(h("span", { class: "meta", text: cell.meta }));
    return td;
  }

  // ---------- time window, live updates ----------

  function syncWindowControls() {
    var p = state.route.params;
    var sel = document.getElementById("window-select");
    var custom = document.getElementById("custom-range");
    if (p.get("start") || p.get("end")) {
      sel.value = "custom";
      custom.hidden = false;
      document.getElementById("range-start").value = toUTCInput(p.get("start"));
      document.getElementById("range-end").value = toUTCInput(p.get("end"));
    } else {
      var w = p.get("window") || "all";
      // A window from the URL that the list lacks (window=2h) gets an
      // option of its own while it is in force, so the select tells the truth.
      if (!Array.prototype.some.call(sel.options, function (o) { return o.value === w; })) {
        var opt = h("option", { value: w, "data-from-url": true, text: "Last " + w });
        sel.insertBefore(opt, sel.querySelector('option[value="all"]'));
      }
      sel.value = w;
      custom.hidden = true;
    }
    // Drop the options for windows no longer in force.
    Array.prototype.slice.call(sel.querySelectorAll("option[data-from-url]")).forEach(function (o) {
      if (o.value !== sel.value) o.remove();
    });
  }
  // The custom range is in UTC, as every time the console shows: a
  // datetime-local input has no zone, so its value is read and written as UTC.
  function toUTCInput(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return d.toISOString().slice(0, 19);
  }
  function fromUTCInput(v) {
    if (!v) return "";
    var d = new Date(v + "Z");
    return isNaN(d.getTime()) ? "" : d.toISOString();
  }

  function setWindow(params, control) {
    var p = new URLSearchParams(state.route.params.toString());
    ["window", "start", "end"].forEach(function (k) { p.delete(k); });
    Object.keys(params).forEach(function (k) { if (params[k]) p.set(k, params[k]); });
    var page = state.route.page === "overview" ? "" : state.route.page;
    var qs = p.toString();
    navigateFrom(control, "#/" + page + (qs ? "?" + qs : ""));
  }

  function schedulePoll() {
    clearTimeout(state.pollTimer);
    var page = currentPage();
    if (!liveToggle.checked || !page || !page.poll) return;
    state.pollTimer = setTimeout(function () {
      if (document.hidden) { schedulePoll(); return; }
      refresh(true).then(schedulePoll, schedulePoll);
    }, POLL_MS);
  }

  // startEvents listens for regressions pushed by the collector; each one
  // triggers an immediate refresh on top of the polling.
  // An EventSource reconnects by itself after a dropped stream, but gives up
  // for good on an answer that is not a 200 event stream (a proxy's 503): it
  // is then started again, after 1 s doubling to 30 s, reset once it opens.
  var EVENTS_RETRY_MIN = 1000, EVENTS_RETRY_MAX = 30000;
  function startEvents() {
    clearTimeout(state.eventsTimer);
    state.eventsTimer = null;
    if (state.events || !window.EventSource || !liveToggle.checked) return;
    var es = new EventSource("api/watch");
    state.events = es;
    es.onopen = function () { state.eventsRetry = EVENTS_RETRY_MIN; };
    es.onerror = function () {
      if (es.readyState !== EventSource.CLOSED || state.events !== es) return;
      state.events = null;
      var wait = state.eventsRetry || EVENTS_RETRY_MIN;
      state.eventsRetry = Math.min(wait * 2, EVENTS_RETRY_MAX);
      state.eventsTimer = setTimeout(startEvents, wait);
    };
    es.addEventListener("regression", function (ev) {
      try {
        var e = JSON.parse(ev.data);
        say("New significant regression: " + e.endpoint + " " + ((e.field && e.field.path) || ""), {
          action: { label: "Open", run: function () { location.hash = link("endpoint", { name: e.endpoint }); } },
        });
      } catch (err) { /* ignore malformed event */ }
      refreshForEvent();
    });
    es.addEventListener("end", function (ev) {
      var code = "";
      try { code = JSON.parse(ev.data).code; } catch (err) { /* ignore */ }
      if (code === "Unimplemented") { es.close(); state.events = null; }
    });
  }
  // refreshForEvent refreshes the page for a regression event. A burst of
  // events makes one refresh, a quarter second after the first, and never
  // two at once: events during a refresh ask for one more after it.
  function refreshForEvent() {
    if (state.eventRefresh) { state.eventRefreshAgain = true; return; }
    state.eventRefresh = true;
    setTimeout(function () {
      function done() {
        state.eventRefresh = false;
        if (state.eventRefreshAgain) { state.eventRefreshAgain = false; refreshForEvent(); }
      }
      var page = currentPage();
      if (page && page.poll) refresh(true).then(done, done);
      else done();
    }, 250);
  }

  // navigateFrom changes the route on behalf of a control that stays on the
  // page: see the hashchange listener.
  function navigateFrom(control, hash) {
    var before = location.href;
    state.routeControl = control && control.id ? { id: control.id, scroll: window.scrollY } : null;
    location.hash = hash;
    if (location.href === before) state.routeControl = null; // no hashchange will come
  }
  function stopEvents() {
    clearTimeout(state.eventsTimer);
    state.eventsTimer = null;
    if (state.events) { state.events.close(); state.events = null; }
  }

  function onRoute() {
    state.route = parseHash();
    state.lastJSON = "";
    syncWindowControls();
    document.getElementById("nav-overview").setAttribute("aria-current", state.route.page === "overview" ? "page" : "false");
    var title = document.querySelector("title");
    var base = document.getElementById("brand").textContent;
    var p = state.route.params;
    title.textContent = ({
      endpoint: (p.get("name") || "") + " — ",
      samples: "Samples " + (p.get("path") || "") + " — ",
      request: "Request " + (p.get("key") || "") + " — ",
    }[state.route.page] || "") + base;
    main.textContent = "";
    main.appendChild(h("p", { class: "muted", text: "Loading…" }));
    refresh(false).then(function () {
      if (state.focusMain) {
        // A new page: start at its top, and let screen readers land in it.
        state.focusMain = false;
        main.focus({ preventScroll: true });
        window.scrollTo(0, 0);
      }
      if (state.scrollTo) {
        var el = state.scrollTo;
        state.scrollTo = null;
        if (el.getBoundingClientRect().bottom > window.innerHeight) el.scrollIntoView({ block: "center" });
      }
      schedulePoll();
    });
  }

  function init() {
    main = document.getElementById("main");
    notice = document.getElementById("notice");
    liveToggle = document.getElementById("live-toggle");
    liveStatus = document.getElementById("live-status");
    document.getElementById("skip-link").addEventListener("click", function (ev) {
      ev.preventDefault(); // the hash belongs to the router
      main.focus();
    });
    document.getElementById("window-select").addEventListener("change", function () {
      if (this.value === "custom") {
        document.getElementById("custom-range").hidden = false;
        document.getElementById("range-start").focus();
        return;
      }
      setWindow({ window: this.value === "all" ? "" : this.value }, this);
    });
    document.getElementById("window-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var s = fromUTCInput(document.getElementById("range-start").value);
      var e = fromUTCInput(document.getElementById("range-end").value);
      var control = this.contains(document.activeElement) ? document.activeElement : document.getElementById("window-select");
      if (!s && !e) { setWindow({}, control); return; }
      setWindow({ start: s, end: e }, control);
    });
    try { liveToggle.checked = localStorage.getItem("shadowdiff.live") !== "0"; } catch (e) { /* private mode */ }
    liveToggle.addEventListener("change", function () {
      try { localStorage.setItem("shadowdiff.live", this.checked ? "1" : "0"); } catch (e) { /* ignore */ }
      if (this.checked) { startEvents(); refresh(true).then(schedulePoll); liveStatus.textContent = ""; }
      else { stopEvents(); clearTimeout(state.pollTimer); liveStatus.textContent = "paused"; }
    });
    window.addEventListener("hashchange", function () {
      // A route changed by a control (a filter, the time window) keeps the
      // focus on that control and the scroll position; any other moves both
      // to the top of the new page.
      state.focusControl = state.routeControl;
      state.focusMain = !state.routeControl;
      state.routeControl = null;
      onRoute();
    });
    startEvents();
    onRoute();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
