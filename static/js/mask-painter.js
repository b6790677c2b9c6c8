// The edit page's mask painter and upload previews. Progressive enhancement: without this file
// the page still works (masks are uploaded or given by URL).
//
// The painter paints a selection over the first reference, at that image's exact pixel size.
// The selection is kept in a canvas (opaque where painted); the exported mask is a PNG of the same
// size, opaque black where the image is kept and fully transparent where it is to be edited.
(function () {
  "use strict";

  var TYPES = ["image/png", "image/jpeg", "image/webp"];

  function $(root, selector) { return root.querySelector(selector); }
  function all(root, selector) { return Array.prototype.slice.call(root.querySelectorAll(selector)); }

  function loadImage(src) {
    return new Promise(function (resolve, reject) {
      var img = new Image();
      img.onload = function () { resolve(img); };
      img.onerror = function () { reject(new Error("could not load " + src)); };
      img.src = src;
    });
  }

  function formatBytes(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " bytes";
  }

  // --- which image is the first reference (the server's order: kept, gallery, uploads, URLs) ---

  function Refs(form) {
    this.form = form;
    this.fileUrls = [];
  }

  Refs.prototype.files = function () {
    var input = $(this.form, "input[name=files]");
    return input && input.files ? Array.prototype.slice.call(input.files) : [];
  };

  Refs.prototype.first = function () {
    var kept = all(this.form, ".chosen input[name=references]:checked");
    if (kept.length) {
      var li = kept[0].closest(".chosen");
      if (!li.dataset.src) return { kind: "url" };
      return { kind: "image", key: li.dataset.src, src: li.dataset.src, label: "kept reference 1" };
    }
    var picked = all(this.form, "input[name=gallery]:checked");
    if (picked.length) {
      return { kind: "image", key: picked[0].dataset.src, src: picked[0].dataset.src, label: "the first gallery pick" };
    }
    var files = this.files();
    if (files.length && this.fileUrls[0]) {
      return { kind: "image", key: "file:" + files[0].name + ":" + files[0].size, src: this.fileUrls[0], label: files[0].name };
    }
    var urls = $(this.form, "[name=urls]");
    if (urls && urls.value.trim()) return { kind: "url" };
    return null;
  };

  // --- upload previews ----------------------------------------------------------------------

  function previewUploads(form, refs) {
    var box = $(form, "#upload-previews");
    refs.fileUrls.forEach(function (url) { URL.revokeObjectURL(url); });
    refs.fileUrls = [];
    if (!box) return;
    box.textContent = "";
    var max = parseInt(form.dataset.maxUpload || "0", 10);
    refs.files().forEach(function (file) {
      var url = URL.createObjectURL(file);
      refs.fileUrls.push(url);
      var figure = document.createElement("figure");
      var img = document.createElement("img");
      img.alt = "Preview of " + file.name;
      var caption = document.createElement("figcaption");
      caption.textContent = file.name + " · " + formatBytes(file.size);
      var problem = "";
      if (TYPES.indexOf(file.type) === -1) problem = "not a PNG, JPEG or WebP file";
      else if (max && file.size > max) problem = "larger than " + formatBytes(max);
      if (problem) {
        figure.classList.add("has-error");
        caption.textContent += " — " + problem;
      } else {
        img.onload = function () { caption.textContent = file.name + " · " + img.naturalWidth + "×" + img.naturalHeight + " · " + formatBytes(file.size); };
        img.src = url;
        figure.appendChild(img);
      }
      figure.appendChild(caption);
      box.appendChild(figure);
    });
  }

  // --- the painter --------------------------------------------------------------------------

  function Painter(form, root) {
    this.form = form;
    this.root = root;
    this.stage = $(root, "#painter-stage");
    this.base = $(root, "#painter-base");
    this.canvas = $(root, "#painter-canvas");
    this.preview = $(root, "#painter-preview");
    this.status = $(root, "#painter-status");
    this.size = $(root, "#painter-size");
    this.sizeValue = $(root, "#painter-size-value");
    this.overlay = $(root, "#painter-overlay");
    this.output = $(form, "input[name=mask_painted]");
    this.ctx = this.canvas.getContext("2d");
    this.key = null;
    this.touched = false;   // the user painted: the mask is sent as "painted"
    this.hasSelection = false;
    this.exporting = null;
    this.previewUrl = null;
    this.loadedKept = false;
    this.version = 0;
    this.exports = 0;
    this.bind();
  }

  Painter.prototype.bind = function () {
    var self = this;
    var drawing = false;
    var last = null;
    this.canvas.addEventListener("pointerdown", function (event) {
      if (!self.key) return;
      drawing = true;
      self.canvas.setPointerCapture(event.pointerId);
      last = self.point(event);
      self.dab(last, last);
      event.preventDefault();
    });
    this.canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      var point = self.point(event);
      self.dab(last, point);
      last = point;
    });
    var stop = function () {
      if (!drawing) return;
      drawing = false;
      self.changed();
    };
    this.canvas.addEventListener("pointerup", stop);
    this.canvas.addEventListener("pointercancel", stop);
    this.size.addEventListener("input", function () { self.sizeValue.textContent = self.size.value; });
    this.root.addEventListener("click", function (event) {
      var action = event.target.dataset && event.target.dataset.action;
      if (action === "clear") self.clear();
      if (action === "invert") self.invert();
    });
    this.overlay.addEventListener("change", function () { self.showMode(); });
  };

  Painter.prototype.tool = function () {
    var checked = $(this.root, "input[name=painter_tool]:checked");
    return checked ? checked.value : "brush";
  };

  Painter.prototype.point = function (event) {
    var box = this.canvas.getBoundingClientRect();
    var scale = this.canvas.width / box.width;
    return { x: (event.clientX - box.left) * scale, y: (event.clientY - box.top) * scale, scale: scale };
  };

  Painter.prototype.dab = function (from, to) {
    var ctx = this.ctx;
    ctx.save();
    ctx.globalCompositeOperation = this.tool() === "eraser" ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = "#ff2d7a";
    ctx.lineCap = ctx.lineJoin = "round";
    // The brush size is in screen pixels, whatever the image's own resolution.
    ctx.lineWidth = parseInt(this.size.value, 10) * to.scale;
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x + 0.01, to.y);
    ctx.stroke();
    ctx.restore();
    if (this.tool() !== "eraser") this.hasSelection = true;
  };

  Painter.prototype.clear = function () {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.hasSelection = false;
    this.changed();
  };

  Painter.prototype.invert = function () {
    if (!this.key) return;
    var w = this.canvas.width, h = this.canvas.height;
    var copy = document.createElement("canvas");
    copy.width = w; copy.height = h;
    copy.getContext("2d").drawImage(this.canvas, 0, 0);
    var ctx = this.ctx;
    ctx.save();
    ctx.globalCompositeOperation = "copy";
    ctx.fillStyle = "#ff2d7a";
    ctx.fillRect(0, 0, w, h);
    ctx.globalCompositeOperation = "destination-out";
    ctx.drawImage(copy, 0, 0);
    ctx.restore();
    this.hasSelection = true;
    this.changed();
  };

  // The selection as the mask the API wants: transparent where painted, opaque elsewhere.
  Painter.prototype.maskCanvas = function () {
    var out;
    if (window.OffscreenCanvas) {
      out = new OffscreenCanvas(this.canvas.width, this.canvas.height);
    } else {
      out = document.createElement("canvas");
      out.width = this.canvas.width;
      out.height = this.canvas.height;
    }
    var ctx = out.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.globalCompositeOperation = "destination-out";
    ctx.drawImage(this.canvas, 0, 0);
    return out;
  };

  Painter.prototype.changed = function () {
    this.touched = true;
    var keep = $(this.form, "input[name=mask_keep]");
    if (keep) keep.checked = false;  // a painted mask replaces the kept one
    this.exporting = this.export();
  };

  Painter.prototype.export = function () {
    var self = this;
    var version = ++this.version;
    if (!this.hasSelection) {
      this.setOutput(null);
      return Promise.resolve();
    }
    return toPng(this.maskCanvas()).then(function (blob) {
      if (version === self.version) self.setOutput(blob);  // a newer stroke wins
    });
  };

  // OffscreenCanvas encodes at once; a page canvas's toBlob may wait for an idle moment.
  function toPng(canvas) {
    if (canvas.convertToBlob) return canvas.convertToBlob({ type: "image/png" });
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/png"); });
  }

  Painter.prototype.setOutput = function (blob) {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = null;
    if (!this.output) return;
    var transfer = new DataTransfer();
    if (blob) {
      transfer.items.add(new File([blob], "painted-mask.png", { type: "image/png" }));
      this.previewUrl = URL.createObjectURL(blob);
      this.preview.src = this.previewUrl;
    } else {
      this.preview.removeAttribute("src");
    }
    this.output.files = transfer.files;
    this.root.dataset.exported = String(++this.exports);  // tests wait on this
    this.describe();
  };

  Painter.prototype.describe = function () {
    var text = this.target ? "Painting over " + this.target.label + " (" + this.canvas.width + "×" + this.canvas.height + "). " : "";
    if (this.hasSelection && this.touched) text += "The painted mask will be sent as a " + this.canvas.width + "×" + this.canvas.height + " PNG.";
    else if (this.hasSelection) text += "Showing the kept mask; paint to change it.";
    else text += "Paint where the image is to be edited.";
    this.status.textContent = text;
  };

  Painter.prototype.showMode = function () {
    var overlay = this.overlay.checked;
    this.base.hidden = !overlay;
    this.canvas.classList.toggle("is-preview-hidden", !overlay);
    this.preview.hidden = overlay;
    if (!overlay && !this.previewUrl) {
      var self = this;
      toPng(this.maskCanvas()).then(function (blob) {
        self.previewUrl = URL.createObjectURL(blob);
        self.preview.src = self.previewUrl;
      });
    }
  };

  Painter.prototype.setTarget = function (target) {
    var self = this;
    if (!target || target.kind !== "image") {
      this.key = null;
      this.target = null;
      this.stage.hidden = true;
      this.status.textContent = target
        ? "The first reference is a URL: it cannot be painted over here. Upload a mask or give its URL, or pick or upload the image instead."
        : "Pick or upload a reference to paint over it.";
      if (this.touched) this.setOutput(null);
      return Promise.resolve();
    }
    if (target.key === this.key) return Promise.resolve();
    this.key = target.key;
    this.target = target;
    return loadImage(target.src).then(function (img) {
      if (self.key !== target.key) return;
      var w = img.naturalWidth, h = img.naturalHeight;
      var sameSize = self.canvas.width === w && self.canvas.height === h;
      self.base.src = target.src;
      // The stage has the image's shape before the picture itself is decoded.
      self.stage.style.aspectRatio = w + " / " + h;
      if (!sameSize) {
        self.canvas.width = w;
        self.canvas.height = h;  // resizing clears the selection: it belonged to another image
        if (self.hasSelection && self.touched) {
          self.hasSelection = false;
          self.setOutput(null);
          self.status.textContent = "The first reference changed size, so the painted mask was cleared.";
        } else {
          self.hasSelection = false;
        }
      }
      self.stage.hidden = false;
      self.showMode();
      return self.loadKept().then(function () { self.describe(); });
    }).catch(function () {
      self.status.textContent = "The first reference could not be loaded for painting.";
    });
  };

  // A mask kept from an earlier submission is shown in the painter until the user paints.
  Painter.prototype.loadKept = function () {
    var self = this;
    var box = $(this.form, ".kept-mask");
    var keep = box && $(box, "input[name=mask_keep]");
    if (!box || !keep || !keep.checked || !box.dataset.src || this.touched) return Promise.resolve();
    if (parseInt(box.dataset.width, 10) !== this.canvas.width || parseInt(box.dataset.height, 10) !== this.canvas.height) {
      return Promise.resolve();
    }
    return loadImage(box.dataset.src).then(function (mask) {
      var ctx = self.ctx;
      ctx.save();
      ctx.globalCompositeOperation = "copy";
      ctx.fillStyle = "#ff2d7a";
      ctx.fillRect(0, 0, self.canvas.width, self.canvas.height);
      ctx.globalCompositeOperation = "destination-out";
      ctx.drawImage(mask, 0, 0);  // opaque parts of the mask are kept, so not selected
      ctx.restore();
      self.hasSelection = true;
      self.loadedKept = true;
    }).catch(function () { /* the mask stays kept as it is */ });
  };

  Painter.prototype.keptToggled = function (checked) {
    if (checked || this.touched || !this.loadedKept) return;
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.hasSelection = false;
    this.loadedKept = false;
    this.describe();
  };

  // --- wiring -------------------------------------------------------------------------------

  function init() {
    var form = document.getElementById("edit-form");
    if (!form || form.dataset.painterReady) return;
    form.dataset.painterReady = "1";
    var refs = new Refs(form);
    var root = document.getElementById("mask-painter");
    var painter = null;
    if (root && window.DataTransfer && document.createElement("canvas").getContext) {
      root.hidden = false;
      painter = new Painter(form, root);
    }
    var refresh = function () { if (painter) painter.setTarget(refs.first()); };

    form.addEventListener("change", function (event) {
      var name = event.target.name;
      if (name === "files") previewUploads(form, refs);
      if (name === "mask_keep" && painter) painter.keptToggled(event.target.checked);
      if (name === "files" || name === "gallery" || name === "references" || name === "urls") refresh();
    });
    form.addEventListener("submit", function (event) {
      // The server refuses a request whose text fields are too large before any form sees it.
      var limit = parseInt(form.dataset.maxText || "0", 10);
      var text = all(form, "textarea, input[type=text], input:not([type])")
        .reduce(function (sum, el) { return sum + el.value.length; }, 0);
      var tooLarge = $(form, "#text-too-large");
      if (tooLarge) tooLarge.hidden = !(limit && text > limit * 0.95);
      if (tooLarge && !tooLarge.hidden) {
        event.preventDefault();
        tooLarge.scrollIntoView({ block: "center" });
        return;
      }
      if (!painter || !painter.exporting) return;
      // Wait for the last stroke's PNG before the form goes out.
      event.preventDefault();
      var pending = painter.exporting;
      painter.exporting = null;
      pending.then(function () { form.submit(); });
    });
    previewUploads(form, refs);
    refresh();
  }

  document.addEventListener("DOMContentLoaded", init);
  if (document.readyState !== "loading") init();
})();
