// The article writing desk, enhanced. The page works without this file (Save and Preview are plain
// form buttons); this adds the formatting toolbar, a live preview as the writer types, autosave
// a few seconds after typing stops, and the feature image's preview and Remove button (media.js
// uploads it). No inline script and no eval: the page's CSP is script-src 'self'.
(function () {
  "use strict";

  var PREVIEW_MS = 600;
  var AUTOSAVE_MS = 2500;
  var form = document.getElementById("article-form");
  var body = document.getElementById("body_markdown");
  if (!form || !body) return;
  var toolbar = document.getElementById("article-toolbar");
  var frame = document.getElementById("article-preview");
  var note = document.getElementById("preview-note");
  var status = document.getElementById("save-status");
  var autosaveUrl = form.getAttribute("data-autosave");
  var previewTimer = null;
  var saveTimer = null;
  var previewSeq = 0;
  var saveSeq = 0;
  var saving = false;
  var again = false;

  function say(text) {
    if (status) status.textContent = text;
  }

  function showErrors(errors) {
    window.newsletterForms.showErrors(form, errors); // forms.js
  }

  function messages(errors) {
    return Object.keys(errors).map(function (k) { return errors[k]; }).join("; ");
  }

  function post(url) {
    return fetch(url, {
      method: "POST", body: new FormData(form), credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    });
  }

  // -- the toolbar: Markdown around the selection (or at the start of each selected line)

  var WRAP = {
    bold: ["**", "**", "bold text"],
    italic: ["*", "*", "italic text"],
    link: ["[", "](https://)", "link text"],
    image: ["![", "](https://)", "description of the image"]
  };
  var LINE = { heading: "## ", bullets: "- ", quote: "> ", numbers: null };

  function changed() {
    body.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function wrap(kind) {
    var parts = WRAP[kind];
    var start = body.selectionStart, end = body.selectionEnd, value = body.value;
    var text = value.slice(start, end) || parts[2];
    body.value = value.slice(0, start) + parts[0] + text + parts[1] + value.slice(end);
    body.focus();
    if (kind === "link" || kind === "image") {
      // Select the address part, ready for the writer to type or paste the URL over it.
      var at = start + parts[0].length + text.length + 2;
      body.setSelectionRange(at, at + "https://".length);
    } else {
      body.setSelectionRange(start + parts[0].length, start + parts[0].length + text.length);
    }
    changed();
  }

  function prefixLines(kind) {
    var value = body.value;
    var start = value.lastIndexOf("\n", body.selectionStart - 1) + 1;
    var end = value.indexOf("\n", body.selectionEnd);
    if (end < 0) end = value.length;
    var lines = value.slice(start, end).split("\n");
    var done = lines.map(function (line, i) {
      return (LINE[kind] === null ? (i + 1) + ". " : LINE[kind]) + line;
    }).join("\n");
    body.value = value.slice(0, start) + done + value.slice(end);
    body.focus();
    body.setSelectionRange(start + done.length, start + done.length);
    changed();
  }

  function mediaPicker() {
    // The media library's picker (another part of the app), when this page includes it.
    // Not the feature image's picker (data-media-mode="url"): the toolbar's Image goes into the body.
    return document.querySelector("[data-media-picker]:not([data-media-mode=url]) [data-media-file]");
  }

  if (toolbar) {
    toolbar.hidden = false;
    toolbar.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-format]");
      if (!button) return;
      var kind = button.getAttribute("data-format");
      if (kind === "image" && mediaPicker()) {
        mediaPicker().click(); // its file chooser; media.js uploads and inserts ![alt](url)
      } else if (WRAP[kind]) {
        wrap(kind);
      } else if (kind in LINE) {
        prefixLines(kind);
      }
    });
  }

  // -- the live preview: the unsaved form rendered by the server (nothing stored)

  function refreshPreview() {
    var mine = ++previewSeq;
    post(form.getAttribute("data-preview")).then(function (result) {
      if (mine !== previewSeq) return; // a newer preview is on its way
      var errors = (result.data && result.data.errors) || {};
      if (!result.ok || Object.keys(errors).length) {
        if (note) note.textContent = "(not updated: " + (messages(errors) || "the server refused it") + ")";
        return;
      }
      // srcdoc wins over src; src is left alone (removing it would start a second, racing navigation).
      if (frame) frame.srcdoc = result.data.html;
      if (note) note.textContent = "(as you type, as the email shows it)";
    }).catch(function () {
      if (note) note.textContent = "(not updated: the server did not answer)";
    });
  }

  // -- autosave: a save (and a revision) a few seconds after typing stops

  function renderHistory(revisions) {
    var list = document.getElementById("revisions");
    if (!list) return;
    while (list.firstChild) list.removeChild(list.firstChild);
    revisions.forEach(function (r, i) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = r.url;
      link.textContent = r.when;
      item.appendChild(link);
      var extra = (r.by ? " by " + r.by : "") + (i === 0 ? " (newest)" : "");
      if (extra) {
        var hint = document.createElement("span");
        hint.className = "hint";
        hint.textContent = extra;
        item.appendChild(document.createTextNode(" "));
        item.appendChild(hint);
      }
      list.appendChild(item);
    });
    var empty = document.getElementById("no-revisions");
    if (empty && revisions.length) empty.hidden = true;
  }

  function autosave() {
    if (saving) { again = true; return; } // one save at a time; the newest text goes next
    saving = true;
    var mine = ++saveSeq;
    say("Saving…");
    post(autosaveUrl).then(function (result) {
      var errors = result.data.errors || {};
      showErrors(errors);
      if (!result.ok) {
        say("Not saved: " + messages(errors));
        return;
      }
      if (mine === saveSeq) say("Saved at " + result.data.saved_at + ".");
      renderHistory(result.data.revisions || []);
    }).catch(function () {
      say("Not saved: the server did not answer. Your text is still here; Save tries again.");
    }).then(function () {
      saving = false;
      if (again) { again = false; autosave(); }
    });
  }

  // -- the feature image: a preview of the address in the field, and Remove

  var feature = document.getElementById("feature-image");
  var featureUrl = document.getElementById("image_url");
  var featureCredit = document.getElementById("image_credit");
  if (feature && featureUrl) {
    var featurePreview = feature.querySelector("[data-media-preview]");
    var removeButton = feature.querySelector("[data-feature-remove]");
    var removeBox = feature.querySelector("[data-feature-remove-box]");
    if (removeBox) { // the page without JavaScript saves a ticked box; here Remove empties the fields
      removeBox.hidden = true;
      var box = removeBox.querySelector("input");
      if (box) box.checked = false;
    }
    var showFeature = function () {
      var url = featureUrl.value.trim();
      if (removeButton) removeButton.hidden = !url;
      if (!featurePreview) return;
      if (/^https?:\/\/\S+$/i.test(url)) {
        if (featurePreview.getAttribute("src") !== url) featurePreview.src = url;
        featurePreview.alt = "The feature image as saved or typed";
        featurePreview.hidden = false;
      } else {
        featurePreview.hidden = true;
      }
    };
    // On change (not every keystroke): a half-typed address is not fetched as an image.
    featureUrl.addEventListener("change", showFeature);
    featureUrl.addEventListener("input", function () {
      var empty = !featureUrl.value.trim();
      if (removeButton) removeButton.hidden = empty;
      if (empty && featurePreview) featurePreview.hidden = true;
    });
    if (featurePreview) featurePreview.addEventListener("error", function () { featurePreview.hidden = true; });
    if (removeButton) {
      removeButton.addEventListener("click", function () {
        featureUrl.value = "";
        if (featureCredit) featureCredit.value = "";
        showFeature();
        featureUrl.focus();
        changed(); // preview and autosave carry the removal
      });
    }
    showFeature();
  }

  form.addEventListener("input", function (event) {
    // The feature image's file input belongs to its upload form, not to the article.
    if (event.target && event.target.form && event.target.form !== form) return;
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, PREVIEW_MS);
    if (autosaveUrl) {
      clearTimeout(saveTimer);
      say("Unsaved changes.");
      saveTimer = setTimeout(autosave, AUTOSAVE_MS);
    }
  });
})();
