// The issue editor, enhanced. Every action here is also a plain form that works without this file:
// this only previews as the editor types, submits the article buttons without a reload, reorders
// articles by drag and drop, makes the preview views tabs, follows a send's progress without
// reloading, and says a send has started. No inline script and no eval: the CSP is script-src 'self'.
(function () {
  "use strict";

  var DEBOUNCE_MS = 400;
  var status = document.getElementById("live-status");
  var form = document.getElementById("edit-form");
  var timer = null;
  var sequence = 0;

  function say(text) {
    if (status) status.textContent = text;
  }

  // Tabs: 600 px, 375 px, dark mode, plain text (without JavaScript all four show, one under another).
  function setUpTabs() {
    var list = document.querySelector("#preview-panel [role=tablist]");
    if (!list) return;
    var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
    function select(tab, focus) {
      tabs.forEach(function (each) {
        var on = each === tab;
        each.setAttribute("aria-selected", on ? "true" : "false");
        each.tabIndex = on ? 0 : -1;
        var panel = document.getElementById(each.getAttribute("aria-controls"));
        if (panel) {
          panel.hidden = !on;
          panel.setAttribute("role", "tabpanel");
          panel.setAttribute("aria-labelledby", each.id);
        }
      });
      if (focus) tab.focus();
    }
    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function () { select(tab, false); });
      tab.addEventListener("keydown", function (event) {
        var step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) return;
        event.preventDefault();
        select(tabs[(index + step + tabs.length) % tabs.length], true);
      });
    });
    list.hidden = false;
    select(tabs[0], false);
  }

  function showErrors(errors) {
    window.newsletterForms.showErrors(document, errors); // forms.js
  }

  // The unsaved form, rendered by the server (nothing stored), swapped into the frames.
  // ``announce``: say so (while typing); after an article change the change's own message stays.
  function refreshPreview(announce) {
    if (!form) return;
    var mine = ++sequence;
    fetch(form.getAttribute("data-preview"), {
      method: "POST", body: new FormData(form), credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (mine !== sequence) return; // a newer preview is on its way
      var errors = result.data.errors || {};
      showErrors(errors);
      if (!result.ok) {
        say("Preview not updated: " + Object.keys(errors).map(function (k) { return errors[k]; }).join(" "));
        return;
      }
      document.querySelectorAll("iframe[data-frame=light]").forEach(function (f) { f.srcdoc = result.data.html; });
      document.querySelectorAll("iframe[data-frame=dark]").forEach(function (f) { f.srcdoc = result.data.dark_html; });
      var text = document.getElementById("preview-text");
      if (text) text.textContent = result.data.text;
      if (announce) say("Preview updated (not saved yet).");
    }).catch(function () {
      if (mine === sequence) say("Preview not updated: the server could not be reached.");
    });
  }

  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(function () { refreshPreview(true); }, DEBOUNCE_MS);
  }

  // Forms marked data-inline="id id ...": submitted in the background; the page the server answers
  // with (after its redirect) supplies fresh copies of those sections, and its message is announced.
  function submitInline(target, submitter) {
    var ids = (target.getAttribute("data-inline") || "").split(/\s+/).filter(Boolean);
    var method = (target.getAttribute("method") || "get").toUpperCase();
    var data = new FormData(target);
    var url = target.action.split("#")[0];
    var options = { method: method, credentials: "same-origin" };
    if (method === "GET") url += "?" + new URLSearchParams(data).toString();
    else options.body = data;
    var action = target.getAttribute("action");
    var label = submitter ? submitter.textContent : "";
    Array.prototype.forEach.call(target.querySelectorAll("button"), function (b) { b.disabled = true; });
    fetch(url, options).then(function (response) {
      return response.text().then(function (html) { return { ok: response.ok, html: html }; });
    }).then(function (result) {
      var page = new DOMParser().parseFromString(result.html, "text/html");
      if (!page.getElementById(ids[0])) { // an error page (session ended, bad token...): say what it says
        var main = page.querySelector("main");
        say("Not done: " + (main ? main.textContent.replace(/\s+/g, " ").trim() : "reload the page and try again."));
        Array.prototype.forEach.call(target.querySelectorAll("button"), function (b) { b.disabled = false; });
        return;
      }
      ids.forEach(function (id) {
        var old = document.getElementById(id);
        var fresh = page.getElementById(id);
        if (old && fresh) old.replaceWith(document.importNode(fresh, true));
        else if (old) old.remove();
      });
      enableDragging();
      var messages = page.querySelectorAll("main > .message");
      say(Array.prototype.map.call(messages, function (m) { return m.textContent; }).join(" "));
      if (method === "GET") history.replaceState(null, "", url);
      var again = document.querySelector('form[action="' + action + '"] button');
      if (again && !again.disabled) again.focus();
      else if (again) { // moved to the top or bottom: keep focus on the article's other move button
        var other = again.closest(".actions") && again.closest(".actions").querySelector("button:not([disabled])");
        if (other) other.focus();
      } else if (label) {
        var heading = document.getElementById("articles-heading");
        if (heading) { heading.tabIndex = -1; heading.focus(); }
      }
      refreshPreview(false);
    }).catch(function () {
      target.submit();
    });
  }

  document.addEventListener("submit", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLFormElement) || !target.hasAttribute("data-inline")) return;
    event.preventDefault();
    submitInline(target, event.submitter);
  });

  // Drag and drop: the articles are reordered on the page, then the order form (hidden; the Up and
  // Down buttons stay for keyboards and pages without this file) posts the whole new order.
  var dragged = null;

  function enableDragging() {
    var orderForm = document.getElementById("order-form");
    var list = document.getElementById("article-list");
    if (!orderForm || !list) return;
    list.classList.add("sortable");
    Array.prototype.forEach.call(list.children, function (item) { item.draggable = true; });
    var hint = document.getElementById("drag-hint");
    if (hint) hint.hidden = false;
  }

  function clearMarks() {
    document.querySelectorAll("#article-list li").forEach(function (item) {
      item.classList.remove("drop-before", "drop-after", "dragging");
    });
  }

  function dropTarget(event) {
    var item = event.target instanceof Element ? event.target.closest("#article-list > li") : null;
    if (!item || !dragged || item === dragged) return null;
    var box = item.getBoundingClientRect();
    return { item: item, after: event.clientY > box.top + box.height / 2 };
  }

  document.addEventListener("dragstart", function (event) {
    var item = event.target instanceof Element ? event.target.closest("#article-list > li[draggable=true]") : null;
    if (!item) return;
    dragged = item;
    item.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.getAttribute("data-article-id"));
  });

  document.addEventListener("dragover", function (event) {
    var target = dropTarget(event);
    if (!target) return;
    event.preventDefault(); // allows the drop here
    event.dataTransfer.dropEffect = "move";
    clearMarks();
    dragged.classList.add("dragging");
    target.item.classList.add(target.after ? "drop-after" : "drop-before");
  });

  document.addEventListener("drop", function (event) {
    var target = dropTarget(event);
    if (!target) return;
    event.preventDefault();
    var list = target.item.parentNode;
    var before = Array.prototype.map.call(list.children, function (li) { return li.getAttribute("data-article-id"); });
    list.insertBefore(dragged, target.after ? target.item.nextSibling : target.item);
    var order = Array.prototype.map.call(list.children, function (li) { return li.getAttribute("data-article-id"); });
    clearMarks();
    dragged = null;
    if (order.join(",") === before.join(",")) return;
    var orderForm = document.getElementById("order-form");
    orderForm.elements.article_ids.value = order.join(",");
    say("Saving the new order…");
    submitInline(orderForm, null);
  });

  document.addEventListener("dragend", function () {
    clearMarks();
    dragged = null;
  });

  // While the issue is sending: the progress every few seconds; once the send ends, the page again
  // (it is then locked: "Sent to N readers on ..."). Without this file the page reloads itself.
  function followProgress() {
    var bar = document.getElementById("send-progress");
    var url = bar && bar.getAttribute("data-poll");
    if (!url) return;
    var every = 1000 * (parseInt(bar.getAttribute("data-every"), 10) || 2);
    function text(id, value) {
      var element = document.getElementById(id);
      if (element) element.textContent = value;
    }
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      }).then(function (data) {
        bar.max = data.total;
        bar.value = data.done;
        bar.textContent = data.done + " of " + data.total;
        text("send-done", data.done + " of " + data.total + " deliveries done");
        document.querySelectorAll("[id^=\"count-\"]").forEach(function (element) {
          var state = element.id.slice("count-".length);
          if (typeof data[state] === "number") element.textContent = data[state];
        });
        text("send-rate", data.rate_per_second + " msg/s over the last minute");
        document.querySelectorAll("#send-domains [data-domain]").forEach(function (row) {
          var domain = data.domains && data.domains[row.getAttribute("data-domain")];
          if (!domain) return;
          row.querySelector("[data-field=sent]").textContent = domain.sent;
          row.querySelector("[data-field=deferred]").textContent = domain.deferred;
          row.querySelector("[data-field=rate]").textContent = domain.rate === null ? "not paced" : domain.rate + " msg/s";
        });
        text("send-eta", data.time_left);
        text("issue-status", data.status);
        if (data.status !== "sending") {
          say("The send is " + data.status + ".");
          window.location.reload();
          return;
        }
        setTimeout(poll, every);
      }).catch(function () {
        say("Progress not updated: the server could not be reached. Reload the page to try again.");
      });
    }
    setTimeout(poll, every);
  }

  // The confirmation page: queuing every reader takes a moment; say so, and stop a second click.
  var sendForm = document.getElementById("send-form");
  if (sendForm) {
    sendForm.addEventListener("submit", function () {
      var button = sendForm.querySelector("button[type=submit]");
      setTimeout(function () { if (button) button.disabled = true; }, 0);
      say("Sending: queuing every reader, this takes a few seconds…");
    });
  }

  if (form) form.addEventListener("input", schedulePreview);
  setUpTabs();
  enableDragging();
  followProgress();
})();
