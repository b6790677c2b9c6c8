// The gallery's enhancements: a lightbox (←, →, Esc), copy prompt, and picking runs or images to
// compare or export. Progressive enhancement only: without this file every tile links to its run
// page, every image to a page of its own, and the selection checkboxes submit a plain form.
(function () {
  "use strict";

  var pickedImages = new Set();
  var current = -1;
  var opener = null;
  var wantNext = false;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $$(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  // ---- lightbox -------------------------------------------------------------------------------
  // The sequence is every image of every run loaded in the grid, in order; a run's tile lists its
  // images' viewer URLs in data-views.
  function sequence() {
    var list = [];
    $$("#gallery-grid .tile[data-views]").forEach(function (tile) {
      tile.dataset.views.split(" ").forEach(function (url) { if (url) list.push(url); });
    });
    return list;
  }

  function moreSentinel() { return $("#gallery-grid a.more"); }

  function updateBar(total) {
    var dialog = $("#lightbox");
    var more = moreSentinel() ? "+" : "";
    $(".lb-pos", dialog).textContent = (current + 1) + " / " + total + more;
    $(".lb-prev", dialog).disabled = current <= 0;
    $(".lb-next", dialog).disabled = current >= total - 1 && !more;
  }

  function show(index) {
    var list = sequence();
    var dialog = $("#lightbox");
    if (!dialog || index < 0 || index >= list.length) return;
    current = index;
    if (!dialog.open) dialog.showModal();
    updateBar(list.length);
    dialog.setAttribute("aria-busy", "true");
    htmx.ajax("GET", list[index], { target: "#lightbox-body", swap: "innerHTML" }).then(function () {
      dialog.removeAttribute("aria-busy");
      syncPicks();
    });
  }

  function step(delta) {
    var list = sequence();
    var target = current + delta;
    if (target >= 0 && target < list.length) return show(target);
    var more = moreSentinel();
    if (delta > 0 && more) {
      // At the end of what is loaded: load the next page, then move on (see afterSettle below).
      wantNext = true;
      htmx.trigger(more, "gallery:more");
    }
  }

  function close() {
    var dialog = $("#lightbox");
    if (dialog && dialog.open) dialog.close();
  }

  function onDialogClosed() {
    $("#lightbox-body").innerHTML = "";
    current = -1;
    wantNext = false;
    if (opener && document.contains(opener)) opener.focus();
    opener = null;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a.tile-link[data-lightbox]");
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      var tile = link.closest(".tile");
      var first = tile.dataset.views.split(" ")[0];
      var index = sequence().indexOf(first);
      if (index >= 0) {
        event.preventDefault();
        opener = link;
        show(index);
      }
      return;
    }
    var dialog = $("#lightbox");
    if (!dialog) return;
    if (event.target === dialog) return close(); // a click on the backdrop
    if (event.target.closest(".lb-prev")) return step(-1);
    if (event.target.closest(".lb-next")) return step(1);
    if (event.target.closest(".lb-close")) return close();
  });

  document.addEventListener("keydown", function (event) {
    var dialog = $("#lightbox");
    if (!dialog || !dialog.open || event.altKey || event.ctrlKey || event.metaKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    if (event.key === "ArrowRight") { event.preventDefault(); step(1); }
    else if (event.key === "ArrowLeft") { event.preventDefault(); step(-1); }
    // Esc: the <dialog> closes itself (its "cancel" event), which ends in onDialogClosed.
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!wantNext) return;
    var list = sequence();
    if (current + 1 < list.length) {
      wantNext = false;
      show(current + 1);
    }
  });

  // ---- copy prompt ----------------------------------------------------------------------------
  function copyText(button) {
    var source = $(button.dataset.copy);
    if (!source) return;
    var text = source.innerText.trim();
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(source) && done(); });
    } else if (fallbackCopy(source)) {
      done();
    }
  }

  function fallbackCopy(source) {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (button) copyText(button);
  });

  // ---- selection for compare and export -------------------------------------------------------
  function selectionForm() { return $("#selection"); }

  function pickedRuns() {
    return $$('input[type=checkbox][name=run][form=selection]').filter(function (box) { return box.checked; });
  }

  function updateSelection() {
    var form = selectionForm();
    if (!form) return;
    $$("input[type=hidden][name=image]", form).forEach(function (input) { input.remove(); });
    pickedImages.forEach(function (id) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "image";
      input.value = id;
      form.appendChild(input);
    });
    var count = pickedRuns().length + pickedImages.size;
    var note = $(".selection-picked", form);
    if (!note) {
      note = document.createElement("span");
      note.className = "selection-picked";
      $(".selection-count", form).after(note);
    }
    note.textContent = count ? count + " selected" : "";
    form.classList.toggle("has-picks", count > 0);
    $$("button[data-needs]", form).forEach(function (button) {
      var needs = button.dataset.needs.split("-").map(Number);
      var max = needs.length > 1 ? needs[1] : Infinity;
      button.disabled = count < needs[0] || count > max;
      button.title = button.disabled
        ? (needs.length > 1 ? "Pick " + needs[0] + " to " + max + " runs or images" : "Pick at least one run or image")
        : "";
    });
  }

  function syncPicks() {
    $$("#lightbox-body .pick").forEach(function (label) {
      label.hidden = false;
      var box = $("input.pick-image", label);
      box.checked = pickedImages.has(box.value);
    });
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches("input.pick-image")) {
      if (box.checked) pickedImages.add(box.value); else pickedImages.delete(box.value);
      updateSelection();
    } else if (box.matches("input[type=checkbox][name=run][form=selection]")) {
      box.closest(".tile").classList.toggle("is-picked", box.checked);
      updateSelection();
    }
  });

  // ---- filters --------------------------------------------------------------------------------
  // Leave empty filters out of the URL so a shared link reads like what it shows.
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt || event.detail.elt.id !== "gallery-filters") return;
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (name) {
      if (params[name] === "") delete params[name];
    });
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "gallery-results") {
      pickedImages.clear();
    }
    if (event.detail.target && event.detail.target.id === "lightbox-body") {
      var title = $("#lightbox-title");
      if (title) $("#lightbox").setAttribute("aria-labelledby", "lightbox-title");
    }
    updateSelection();
  });

  function init() {
    $$("button[data-copy][hidden]").forEach(function (button) { button.hidden = false; });
    var dialog = $("#lightbox");
    if (dialog && !dialog.dataset.ready) {
      dialog.dataset.ready = "1";
      dialog.addEventListener("close", onDialogClosed);
    }
    updateSelection();
  }

  // htmx:load fires for the page and for every piece of content swapped in later (including a
  // whole body put back by the back button), so new buttons and a new dialog get wired up too.
  if (window.htmx) htmx.onLoad(init); else document.addEventListener("DOMContentLoaded", init);
})();
