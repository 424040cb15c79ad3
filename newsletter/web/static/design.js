// The design page's live preview: the iframe follows the form as the editor types. Optional:
// without JavaScript the page's "Preview" button does the same through the server.
(function () {
  "use strict";
  var form = document.getElementById("design-form");
  var frame = document.getElementById("design-preview");
  if (!form || !frame) {
    return;
  }
  var picker = document.getElementById("accent_color");
  var text = document.getElementById("accent_text");
  var hex = /^#[0-9a-fA-F]{6}$/;
  var timer = null;

  function refresh() {
    var params = new URLSearchParams();
    if (frame.dataset.list) {  // another list than the first: its saved design under the changes
      params.set("list", frame.dataset.list);
    }
    ["logo_url", "font_family", "footer_text"].forEach(function (name) {
      params.set(name, form.elements[name].value);
    });
    // An unfinished colour keeps the saved one rather than flashing an error.
    if (hex.test(text.value.trim())) {
      params.set("accent_color", text.value.trim());
    }
    frame.src = "/admin/design/preview.html?" + params.toString();
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  }

  picker.addEventListener("input", function () {
    text.value = picker.value;
    later();
  });
  text.addEventListener("input", function () {
    if (hex.test(text.value.trim())) {
      picker.value = text.value.trim().toLowerCase();
    }
    later();
  });
  ["logo_url", "footer_text"].forEach(function (name) {
    form.elements[name].addEventListener("input", later);
  });
  form.elements.font_family.addEventListener("change", refresh);
})();
