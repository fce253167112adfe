// dicomviewer.js: a DICOM series viewer. The series opens as one audited
// request (GET data-series) that lists its images — every frame of every
// instance, in instance order — and returns the URL they are fetched from.
// Each image arrives as raw samples (modality values, X-Pixel-Format int16
// or float32, or rgba8 for colour) and is windowed here, on a canvas, so
// scrolling, window presets and drag-to-window do not wait for the server.
// URLs carry only an opaque grant and an image index, never PHI.
//
// Markup (the script builds the controls):
//   <div class="dicomviewer" data-series="/api/v1/files/ID/series">
//     <div class="dv-viewport" tabindex="0"><canvas></canvas></div>
//   </div>
// Scroll: the wheel, the slider, arrow keys, Page Up/Down, Home/End.
// Window: presets (keys 1-9), or drag on the image (left/right: width,
// up/down: level). Pan: shift-drag, middle- or right-drag, or the Pan tool.
// Zoom: ctrl-wheel, + and -, 0 or double-click fits. Play (space) loops
// through the stack, for cine loops.
// For tests the root carries data-loaded (images received), data-shown
// (the index drawn last), data-window ("centre/width") and data-step-ms.
(function () {
  'use strict';

  var CONCURRENCY = 6;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function button(label, title) {
    var b = el('button', 'secondary', label);
    b.type = 'button';
    if (title) { b.title = title; }
    return b;
  }
  function round(v) { return Math.round(v * 10) / 10; }

  function setup(root) {
    var viewport = root.querySelector('.dv-viewport');
    var canvas = viewport.querySelector('canvas');
    var ctx = canvas.getContext('2d');
    var off = document.createElement('canvas');
    var offCtx = off.getContext('2d');

    // ---- controls
    var bar = el('div', 'dv-toolbar');
    bar.setAttribute('role', 'toolbar');
    bar.setAttribute('aria-label', 'Image controls');
    var presetGroup = el('div', 'dv-group dv-presets');
    presetGroup.setAttribute('role', 'group');
    presetGroup.setAttribute('aria-label', 'Window presets');
    var toolGroup = el('div', 'dv-group');
    toolGroup.setAttribute('role', 'group');
    toolGroup.setAttribute('aria-label', 'Drag to');
    toolGroup.appendChild(el('span', 'dv-label', 'Drag:'));
    var toolWindow = button('Window', 'Drag left/right for width, up/down for level');
    var toolPan = button('Pan', 'Drag to move the image');
    toolGroup.appendChild(toolWindow);
    toolGroup.appendChild(toolPan);
    var zoomGroup = el('div', 'dv-group');
    zoomGroup.setAttribute('role', 'group');
    zoomGroup.setAttribute('aria-label', 'Zoom');
    var zoomOut = button('−', 'Zoom out (-)'), zoomIn = button('+', 'Zoom in (+)'), fitBtn = button('Fit', 'Fit the image (0, or double-click)');
    var invertBtn = button('Invert', 'Invert the grey scale');
    var playBtn = button('Play', 'Play through the images as a loop (space)');
    playBtn.setAttribute('aria-pressed', 'false');
    zoomOut.setAttribute('aria-label', 'Zoom out'); zoomIn.setAttribute('aria-label', 'Zoom in');
    [zoomOut, zoomIn, fitBtn, invertBtn].forEach(function (b) { zoomGroup.appendChild(b); });
    bar.appendChild(presetGroup);
    bar.appendChild(toolGroup);
    bar.appendChild(zoomGroup);
    root.insertBefore(bar, viewport);

    var ov = {};
    ['tl', 'tr', 'bl', 'br'].forEach(function (k) { ov[k] = el('div', 'dv-ov dv-' + k); viewport.appendChild(ov[k]); });
    var wait = el('div', 'dv-wait', 'Opening the series…');
    viewport.appendChild(wait);

    var stackBar = el('div', 'dv-stack');
    var sliderId = 'dv-' + Math.random().toString(36).slice(2);
    var sliderLabel = el('label', 'dv-label', 'Image');
    sliderLabel.setAttribute('for', sliderId);
    var slider = el('input');
    slider.type = 'range'; slider.id = sliderId; slider.name = 'image'; slider.min = '0'; slider.max = '0'; slider.value = '0';
    var counter = el('output', 'dv-counter');
    counter.setAttribute('for', sliderId);
    stackBar.appendChild(playBtn);
    stackBar.appendChild(sliderLabel);
    stackBar.appendChild(slider);
    stackBar.appendChild(counter);
    root.appendChild(stackBar);
    var status = el('p', 'viewer-status');
    status.setAttribute('aria-live', 'polite');
    root.appendChild(status);

    // ---- state
    var meta = null, stack = [], cache = [], requested = [], inflight = 0, loaded = 0;
    var idx = 0, t0 = 0;
    // mode: 'file' (each image's own window, else its range), 'auto' (each
    // image's range) or 'fixed' (c, w).
    var win = { mode: 'file', c: 0, w: 1, name: '' };
    var view = { zoom: 1, panX: 0, panY: 0, invert: false };
    var tool = 'window';
    var drawn = { key: '', w: 0, h: 0 };
    var lut = { key: '', table: null };
    var reopening = false;
    var playing = null;

    function imagesURL(n) { return meta.images.replace('{n}', String(n)); }

    // ---- loading
    function nextWanted() {
      for (var d = 0; d < stack.length; d++) {
        var cands = d === 0 ? [idx] : [idx + d, idx - d];
        for (var k = 0; k < cands.length; k++) {
          var i = cands[k];
          if (i >= 0 && i < stack.length && !cache[i] && !requested[i] && stack[i].viewable) { return i; }
        }
      }
      return -1;
    }
    function pump() {
      while (inflight < CONCURRENCY) {
        var n = nextWanted();
        if (n < 0) { return; }
        load(n);
      }
    }
    function load(n) {
      requested[n] = true;
      inflight++;
      fetch(imagesURL(n), { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
        if (r.status === 404) { throw { expired: true }; }
        if (!r.ok) { throw new Error('the server answered ' + r.status); }
        var fmt = r.headers.get('X-Pixel-Format');
        return r.arrayBuffer().then(function (buf) {
          var data = fmt === 'int16' ? new Int16Array(buf) : fmt === 'float32' ? new Float32Array(buf) : new Uint8ClampedArray(buf);
          return { fmt: fmt, data: data, w: stack[n].width, h: stack[n].height, range: null };
        });
      }).then(function (px) {
        cache[n] = px;
        loaded++;
        root.dataset.loaded = String(loaded);
        if (n === idx) { draw(); }
        showStatus();
      }).catch(function (err) {
        requested[n] = false;
        if (err && err.expired) { reopen(); return; }
        stack[n].failed = true;
        if (n === idx) { draw(); }
      }).then(function () {
        inflight--;
        if (!reopening) { pump(); }
      });
    }
    // reopen asks for a new grant when the old one expired; the images
    // already received are kept unless the series changed meanwhile.
    function reopen() {
      if (reopening) { return; }
      reopening = true;
      openSeries().then(function (m) {
        if (m.stack.length !== stack.length) {
          stack = m.stack; cache = []; loaded = 0; drawn.key = '';
          slider.max = String(stack.length - 1);
          idx = Math.min(idx, stack.length - 1);
        }
        meta = m;
        reopening = false;
        requested = [];
        draw();
        pump();
      }).catch(function (err) { status.textContent = 'The series could not be opened again: ' + err.message; });
    }
    function openSeries() {
      return fetch(root.dataset.series, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error(body.detail || 'the server refused'); }
          return body;
        });
      });
    }

    // ---- windowing and drawing
    function range(px) {
      if (!px.range) {
        var lo = Infinity, hi = -Infinity, d = px.data;
        for (var i = 0; i < d.length; i++) { var v = d[i]; if (v < lo) { lo = v; } if (v > hi) { hi = v; } }
        px.range = [lo, hi];
      }
      return px.range;
    }
    function windowFor(im, px) {
      if (win.mode === 'fixed') { return [win.c, win.w]; }
      if (win.mode === 'file' && im.window_width >= 1) { return [im.window_center, im.window_width]; }
      var r = range(px);
      return [(r[0] + r[1]) / 2 + 0.5, Math.max(1, r[1] - r[0] + 1)];
    }
    // grey maps a modality value to 0..255 (PS3.3 C.11.2.1.2, linear).
    function greyFn(c, w, inv) {
      var lo = c - 0.5 - (w - 1) / 2, hi = c - 0.5 + (w - 1) / 2, span = Math.max(1, w - 1);
      return function (v) {
        var y = v <= lo ? 0 : v > hi ? 255 : ((v - (c - 0.5)) / span + 0.5) * 255;
        y = Math.max(0, Math.min(255, Math.round(y)));
        return inv ? 255 - y : y;
      };
    }
    function render(px, c, w, inv) {
      if (off.width !== px.w || off.height !== px.h) { off.width = px.w; off.height = px.h; }
      var img = offCtx.createImageData(px.w, px.h);
      var out32 = new Uint32Array(img.data.buffer), d = px.data, n = px.w * px.h, i;
      if (px.fmt === 'rgba8') {
        img.data.set(d.subarray(0, n * 4));
        if (inv) { for (i = 0; i < n; i++) { out32[i] = (out32[i] & 0xff000000) | (~out32[i] & 0x00ffffff); } }
      } else if (px.fmt === 'int16') {
        var key = c + '/' + w + '/' + inv;
        if (lut.key !== key) {
          var g = greyFn(c, w, inv), t = new Uint32Array(65536);
          for (i = 0; i < 65536; i++) { var y = g(i - 32768); t[i] = 0xff000000 | (y << 16) | (y << 8) | y; }
          lut.key = key; lut.table = t;
        }
        var tb = lut.table;
        for (i = 0; i < n; i++) { out32[i] = tb[d[i] + 32768]; }
      } else {
        var gf = greyFn(c, w, inv);
        for (i = 0; i < n; i++) { var yy = gf(d[i]); out32[i] = 0xff000000 | (yy << 16) | (yy << 8) | yy; }
      }
      offCtx.putImageData(img, 0, 0);
    }
    function sizeCanvas() {
      var dpr = window.devicePixelRatio || 1;
      var w = Math.max(1, Math.round(viewport.clientWidth * dpr)), h = Math.max(1, Math.round(viewport.clientHeight * dpr));
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      return dpr;
    }
    function paint() {
      var dpr = sizeCanvas();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      if (!drawn.key) { return; }
      var vw = viewport.clientWidth, vh = viewport.clientHeight;
      var s = Math.min(vw / drawn.w, vh / drawn.h) * view.zoom;
      var dw = drawn.w * s, dh = drawn.h * s;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.imageSmoothingEnabled = s < 4;
      ctx.drawImage(off, (vw - dw) / 2 + view.panX, (vh - dh) / 2 + view.panY, dw, dh);
      ov.br.textContent = ov.br.textContent.replace(/Zoom \d+%/, 'Zoom ' + Math.round(s * 100) + '%');
      root.dataset.zoom = String(Math.round(s * 100));
    }
    function draw() {
      if (!meta) { return; }
      var im = stack[idx], px = cache[idx];
      counter.textContent = (idx + 1) + ' / ' + stack.length;
      overlay(im, null);
      if (!im.viewable || im.failed) {
        drawn.key = '';
        wait.textContent = im.viewable ? 'This image could not be loaded.' : im.not_viewable;
        wait.hidden = false;
        paint();
        publish(null);
        return;
      }
      if (!px) {
        wait.textContent = 'Loading image ' + (idx + 1) + '…';
        wait.hidden = false;
        pump();
        return; // the previous image stays until this one arrives
      }
      wait.hidden = true;
      var cw = windowFor(im, px), inv = view.invert !== !!im.invert;
      var key = idx + '|' + cw[0] + '|' + cw[1] + '|' + inv;
      if (drawn.key !== key || drawn.px !== px) {
        render(px, cw[0], cw[1], inv);
        drawn.key = key; drawn.px = px; drawn.w = px.w; drawn.h = px.h;
      }
      overlay(im, cw);
      paint();
      publish(cw);
    }
    function publish(cw) {
      root.dataset.shown = String(idx);
      if (cw) { root.dataset.window = round(cw[0]) + '/' + round(cw[1]); }
      if (t0) { root.dataset.stepMs = (performance.now() - t0).toFixed(2); t0 = 0; }
    }
    function overlay(im, cw) {
      ov.tl.textContent = [meta.study_description, meta.study_date].filter(Boolean).join('\n');
      ov.tr.textContent = [meta.series_description, [meta.modality, meta.series_number ? 'series ' + meta.series_number : ''].filter(Boolean).join(' · '), meta.series_date].filter(Boolean).join('\n');
      // One multi-frame file: its frames are the stack, so say frames only.
      var lines = meta.instances > 1 || im.frames < 2 ? ['Image ' + (idx + 1) + ' of ' + stack.length] : [];
      if (im.frames > 1) { lines.push('Frame ' + (im.frame + 1) + ' of ' + im.frames + (meta.instances > 1 && im.instance ? ', instance ' + im.instance : '')); } else if (im.instance) { lines.push('Instance ' + im.instance); }
      lines.push(im.width + ' × ' + im.height);
      ov.bl.textContent = lines.join('\n');
      if (cw) {
        ov.br.textContent = (win.name ? win.name + '\n' : '') + 'W ' + Math.round(cw[1]) + '  L ' + Math.round(cw[0]) + '\nZoom 0%' + (view.invert ? '\nInverted' : '');
      }
    }
    function showStatus() {
      var viewable = stack.filter(function (s) { return s.viewable; }).length;
      status.textContent = (loaded < viewable ? 'Loaded ' + loaded + ' of ' + viewable + ' images. ' : '') +
        (stack.length > 1 ? 'Wheel or ↑/↓ scrolls, space plays, ' : '') + 'drag windows, shift-drag pans, ctrl-wheel zooms.';
    }

    // ---- actions
    function setIndex(n) {
      n = Math.max(0, Math.min(stack.length - 1, n));
      if (n === idx && root.dataset.shown === String(n)) { return; }
      t0 = performance.now();
      idx = n;
      slider.value = String(n);
      draw();
    }
    function setWindow(mode, c, w, name) {
      win = { mode: mode, c: c, w: Math.max(1, w), name: name || '' };
      Array.prototype.forEach.call(presetGroup.querySelectorAll('button'), function (b) {
        b.setAttribute('aria-pressed', String(b.dataset.preset === win.name));
      });
      draw();
    }
    function setTool(t) {
      tool = t;
      toolWindow.setAttribute('aria-pressed', String(t === 'window'));
      toolPan.setAttribute('aria-pressed', String(t === 'pan'));
      viewport.dataset.tool = t;
    }
    // play steps through the stack in a loop, about 15 images a second,
    // showing only images already received.
    function play(on) {
      clearInterval(playing);
      playing = null;
      if (on && stack.length > 1) {
        playing = setInterval(function () {
          var n = (idx + 1) % stack.length;
          if (cache[n] || !stack[n].viewable) { setIndex(n); } else { pump(); }
        }, 66);
      }
      playBtn.textContent = playing ? 'Pause' : 'Play';
      playBtn.setAttribute('aria-pressed', String(!!playing));
    }
    function zoomBy(f) { view.zoom = Math.max(0.1, Math.min(40, view.zoom * f)); paint(); }
    function fit() { view.zoom = 1; view.panX = 0; view.panY = 0; paint(); }

    function addPreset(name, mode, c, w, title) {
      var b = button(name, title);
      b.dataset.preset = name;
      b.addEventListener('click', function () { setWindow(mode, c, w, name); });
      presetGroup.appendChild(b);
    }

    toolWindow.addEventListener('click', function () { setTool('window'); });
    toolPan.addEventListener('click', function () { setTool('pan'); });
    zoomIn.addEventListener('click', function () { zoomBy(1.25); });
    zoomOut.addEventListener('click', function () { zoomBy(0.8); });
    fitBtn.addEventListener('click', fit);
    invertBtn.addEventListener('click', function () {
      view.invert = !view.invert;
      invertBtn.setAttribute('aria-pressed', String(view.invert));
      draw();
    });
    slider.addEventListener('input', function () { play(false); setIndex(+slider.value); });
    playBtn.addEventListener('click', function () { play(!playing); });
    viewport.addEventListener('wheel', function (e) {
      e.preventDefault();
      if (e.ctrlKey || e.metaKey) { zoomBy(e.deltaY > 0 ? 0.9 : 1.1); return; }
      if (e.deltaY !== 0) { play(false); setIndex(idx + (e.deltaY > 0 ? 1 : -1)); }
    }, { passive: false });
    root.addEventListener('keydown', function (e) {
      if (e.target === slider || e.target.tagName === 'BUTTON' && (e.key === ' ' || e.key === 'Enter')) { return; }
      var step = { ArrowDown: 1, ArrowRight: 1, PageDown: 10, ArrowUp: -1, ArrowLeft: -1, PageUp: -10 }[e.key];
      var used = true;
      if (step || e.key === 'Home' || e.key === 'End') { play(false); }
      if (e.key === ' ' && e.target === viewport) { play(!playing); } else if (step) { setIndex(idx + step); } else if (e.key === 'Home') { setIndex(0); } else if (e.key === 'End') { setIndex(stack.length - 1); } else if (e.key === '+' || e.key === '=') { zoomBy(1.25); } else if (e.key === '-') { zoomBy(0.8); } else if (e.key === '0') { fit(); } else if (/^[1-9]$/.test(e.key) && presetGroup.children[+e.key - 1]) { presetGroup.children[+e.key - 1].click(); } else { used = false; }
      if (used) { e.preventDefault(); }
    });
    viewport.addEventListener('dblclick', fit);
    viewport.addEventListener('contextmenu', function (e) { e.preventDefault(); });
    var drag = null;
    viewport.addEventListener('pointerdown', function (e) {
      viewport.focus();
      var im = stack[idx], px = cache[idx];
      var cw = im && px ? windowFor(im, px) : [win.c, win.w];
      var pan = tool === 'pan' || e.shiftKey || e.button === 1 || e.button === 2;
      drag = { x: e.clientX, y: e.clientY, c: cw[0], w: cw[1], pan: pan, zoom: e.ctrlKey, px0: view.panX, py0: view.panY, z0: view.zoom };
      viewport.setPointerCapture(e.pointerId);
    });
    viewport.addEventListener('pointermove', function (e) {
      if (!drag) { return; }
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (drag.zoom) { view.zoom = Math.max(0.1, Math.min(40, drag.z0 * Math.exp(-dy / 200))); paint(); return; }
      if (drag.pan) { view.panX = drag.px0 + dx; view.panY = drag.py0 + dy; paint(); return; }
      var scale = Math.max(0.5, drag.w / 300);
      setWindow('fixed', drag.c + dy * scale, drag.w + dx * scale, '');
    });
    function endDrag() { drag = null; }
    viewport.addEventListener('pointerup', endDrag);
    viewport.addEventListener('pointercancel', endDrag);
    if (window.ResizeObserver) { new ResizeObserver(paint).observe(viewport); }

    setTool('window');
    openSeries().then(function (m) {
      meta = m;
      stack = m.stack;
      if (!stack.length) { throw new Error('the series holds no images'); }
      slider.max = String(stack.length - 1);
      stackBar.hidden = stack.length < 2;
      if (m.instances === 1 && stack.length > 1) { sliderLabel.textContent = 'Frame'; }
      var hasFileWindow = stack.some(function (s) { return s.window_width >= 1; });
      if (hasFileWindow) { addPreset('File default', 'file', 0, 1, 'The window stored in each image'); }
      (m.presets || []).forEach(function (p) { addPreset(p.name, 'fixed', p.center, p.width, 'Level ' + p.center + ', width ' + p.width); });
      addPreset('Full range', 'auto', 0, 1, 'From the lowest to the highest value of each image');
      if (stack.every(function (s) { return !s.viewable; })) { root.dataset.loaded = 'not-viewable'; }
      idx = Math.max(0, Math.min(stack.length - 1, m.start || 0));
      slider.value = String(idx);
      setWindow(hasFileWindow ? 'file' : 'auto', 0, 1, hasFileWindow ? 'File default' : 'Full range');
      showStatus();
      pump();
      viewport.focus({ preventScroll: true });
    }).catch(function (err) {
      wait.textContent = 'The series could not be opened: ' + err.message;
      status.textContent = wait.textContent;
      root.dataset.loaded = 'error';
    });
  }

  function init() { Array.prototype.forEach.call(document.querySelectorAll('.dicomviewer'), setup); }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', init); } else { init(); }
}());
