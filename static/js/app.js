// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function rulesFor(model) {
    var el = document.getElementById("model-rules");
    if (!el || !model) return null;
    var rules = JSON.parse(el.textContent);
    var name = model.trim().toLowerCase().split("/").pop();
    return rules[name] || null;
  }

  var FAMILY_PARAMS = ["style", "background", "moderation", "output_format", "output_compression"];

  function applyModel(form, changed) {
    var model = form.querySelector("[name=model]");
    var rules = rulesFor(model && model.value);
    var note = form.querySelector("#model-note");
    FAMILY_PARAMS.forEach(function (name) {
      var field = form.querySelector('.field[data-param="' + name + '"]');
      if (!field) return;
      var unused = rules && rules.params.indexOf(name) === -1;
      field.classList.toggle("is-unused", !!unused);
      field.title = unused ? model.value + " does not take " + name : "";
    });
    var size = form.querySelector("[name=size]");
    if (rules && changed && size && size.value && size.value !== "custom" && rules.sizes.indexOf(size.value) === -1) {
      size.value = rules.default_size;
    }
    var quality = form.querySelector("[name=quality]");
    if (rules && changed && quality && quality.value && rules.qualities.indexOf(quality.value) === -1) {
      quality.value = "";
    }
    var n = form.querySelector("[name=n]");
    if (n && rules) n.max = rules.n_max;
    if (note) {
      note.textContent = rules
        ? model.value + ": sizes " + rules.sizes.join(", ") + (rules.custom_sizes ? " or custom WxH" : "") +
          "; quality " + rules.qualities.join(", ") + "; up to " + rules.n_max + " image(s); prompt up to " +
          rules.prompt_max.toLocaleString() + " characters. Greyed-out options are not sent to this model."
        : "";
    }
    toggleCustom(form);
  }

  function toggleCustom(form) {
    var size = form.querySelector("[name=size]");
    var custom = form.querySelector('.field[data-param="custom_size"]');
    if (size && custom) custom.hidden = size.value !== "custom" && !form.querySelector("[name=custom_size]").value;
  }

  function init(root) {
    var form = (root || document).querySelector("#generate-form, #edit-form");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    form.addEventListener("input", function (event) {
      if (event.target.name === "model") applyModel(form, true);
    });
    form.addEventListener("change", function (event) {
      if (event.target.name === "size") toggleCustom(form);
      if (event.target.name === "model") applyModel(form, true);
    });
    applyModel(form, false);
  }

  // Forms that destroy something ask first (CSP forbids inline onsubmit handlers).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (event) {
    init(document);
    if (event.detail.target && event.detail.target.id === "results") {
      var empty = document.getElementById("no-runs");
      if (empty) empty.remove();
    }
  });
})();
