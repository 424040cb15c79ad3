// The image picker (templates/web/_media_picker.html), enhanced: a chosen or dropped image is
// uploaded at once and ![alt](url) is inserted into the page's Markdown textarea at the cursor.
// A picker with data-media-mode="url" (the article's feature image) puts the stored image's
// address into its target field instead; data-media-form names its upload form by id when the
// form cannot sit inside the picker.
// Without this file the picker is a plain upload form. No inline script, no eval (CSP script-src 'self').
(function () {
  "use strict";

  function setUp(picker) {
    var form = picker.querySelector("[data-media-form]") ||
      document.getElementById(picker.getAttribute("data-media-form") || "");
    var urlMode = picker.getAttribute("data-media-mode") === "url";
    var fileInput = picker.querySelector("[data-media-file]");
    var altInput = picker.querySelector("[data-media-alt]");
    var drop = picker.querySelector("[data-media-drop]");
    var status = picker.querySelector("[data-media-status]");
    var preview = picker.querySelector("[data-media-preview]");
    var target = document.querySelector(picker.getAttribute("data-media-target") || "textarea[data-media-target]");
    if (!form || !fileInput || !window.fetch || !window.FormData) return;

    function say(kind, text) {
      status.className = "message media-status " + kind;
      status.textContent = text;
    }

    function markdownAlt(text) {
      return text.replace(/\s+/g, " ").trim().replace(/[\\\[\]]/g, "\\$&");
    }

    function insert(url) {
      if (urlMode && target) {
        target.value = url;
        target.dispatchEvent(new Event("input", { bubbles: true }));  // preview and autosave follow
        return url;
      }
      var typed = markdownAlt(altInput ? altInput.value : "");
      var alt = typed || "describe the image";
      if (!target) return "![" + alt + "](" + url + ")";
      var start = target.selectionStart || 0;
      var end = target.selectionEnd || 0;
      var before = target.value.slice(0, start);
      var lead = before === "" || /\n\n$/.test(before) ? "" : (/\n$/.test(before) ? "\n" : "\n\n");
      var text = lead + "![" + alt + "](" + url + ")\n\n";
      target.setRangeText(text, start, end, "end");
      target.focus();
      if (!typed) {  // select the placeholder, so the writer types the description over it
        var at = start + lead.length + 2;
        target.setSelectionRange(at, at + alt.length);
      }
      target.dispatchEvent(new Event("input", { bubbles: true }));  // live previews follow
      return text.trim();
    }

    function upload(file) {
      if (!file) return;
      var data = new FormData(form);
      data.set("image", file, file.name || "image");
      say("", "Uploading " + (file.name || "the image") + "…");
      fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      }).then(function (response) {
        return response.json().catch(function () {
          return { error: "the server answered " + response.status };
        });
      }).then(function (answer) {
        if (!answer || !answer.url) {
          say("error", "The image was not stored: " + ((answer && answer.error) || "unknown error") + ".");
          return;
        }
        var markdown = insert(answer.url);
        preview.src = answer.url;
        preview.alt = altInput && altInput.value ? altInput.value : "The uploaded image";
        preview.hidden = false;
        var size = " (" + answer.width + " x " + answer.height + " px)";
        say("ok", urlMode ? "Image stored" + size + " as the feature image."
          : target ? "Image stored" + size + " and added to the text."
          : "Image stored. Put it in an article with: " + markdown);
        fileInput.value = "";
      }).catch(function () {
        say("error", "The image could not be uploaded: check the connection and try again.");
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (fileInput.files && fileInput.files.length) upload(fileInput.files[0]);
      else say("error", "Choose an image file first.");
    });
    fileInput.addEventListener("change", function () {
      if (fileInput.files && fileInput.files.length) upload(fileInput.files[0]);
    });

    function dropTarget(element) {
      if (!element) return;
      element.addEventListener("dragover", function (event) {
        if (!event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) return;
        event.preventDefault();  // allows the drop
        if (drop) drop.classList.add("is-over");
      });
      element.addEventListener("dragleave", function () {
        if (drop) drop.classList.remove("is-over");
      });
      element.addEventListener("drop", function (event) {
        var files = event.dataTransfer && event.dataTransfer.files;
        if (!files || !files.length) return;  // dropped text: the textarea's own behaviour
        event.preventDefault();
        if (drop) drop.classList.remove("is-over");
        upload(files[0]);
      });
    }
    if (drop) drop.hidden = false;
    dropTarget(drop);
    dropTarget(target);
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-media-picker]"), setUp);
})();
