// Messages beside fields, shared by the admin's editors (editor.js, article_editor.js): each
// [data-error-for=NAME] under ROOT shows errors[NAME], and the field NAME is marked
// aria-invalid while it has one. Loaded (defer) before the scripts that use it.
(function () {
  "use strict";
  window.newsletterForms = {
    showErrors: function (root, errors) {
      root.querySelectorAll("[data-error-for]").forEach(function (element) {
        var name = element.getAttribute("data-error-for");
        var message = errors[name] || "";
        element.textContent = message;
        var input = document.getElementById(name);
        if (!input) return;
        if (message) input.setAttribute("aria-invalid", "true");
        else input.removeAttribute("aria-invalid");
      });
    },
  };
})();
