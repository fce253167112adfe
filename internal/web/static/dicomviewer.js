// dicomviewer.js: shows DICOM frames rendered to PNG on the server, with
// window/level and frame controls. The query string carries only the frame
// number and the window (no PHI).
//
// Markup (the script builds the controls):
//   <div class="dicomviewer" data-meta="/api/v1/files/ID/meta" data-render="/api/v1/files/ID/render">
//     <img alt="DICOM frame">
//   </div>
// Drag on the image: left/right changes the window width, up/down the
// centre. The wheel, the slider, and the arrow/Page keys (image focused)
// change the frame.
(function () {
  'use strict';

  function field(root, label, attrs) {
    var id = 'dv-' + Math.random().toString(36).slice(2);
    var wrap = document.createElement('label');
    wrap.setAttribute('for', id);
    wrap.textContent = label + ' ';
    var input = document.createElement('input');
    input.id = id;
    Object.keys(attrs).forEach(function (k) { input.setAttribute(k, attrs[k]); });
    wrap.appendChild(input);
    root.appendChild(wrap);
    return input;
  }

  function setup(root) {
    var img = root.querySelector('img');
    img.tabIndex = 0;
    var controls = document.createElement('div');
    controls.className = 'dicom-controls';
    root.appendChild(controls);
    var status = document.createElement('p');
    status.className = 'viewer-status';
    status.setAttribute('aria-live', 'polite');
    root.appendChild(status);
    var wc = field(controls, 'Window centre', { type: 'number', step: 'any', name: 'wc' });
    var ww = field(controls, 'Window width', { type: 'number', step: 'any', min: '1', name: 'ww' });
    var frame = field(controls, 'Frame', { type: 'range', min: '0', max: '0', value: '0', name: 'frame' });
    var st = { frame: 0, frames: 1, c: null, w: null };
    var timer = null;

    function url() {
      var q = '?frame=' + st.frame;
      if (st.c !== null && st.w !== null) { q += '&wc=' + Math.round(st.c * 100) / 100 + '&ww=' + Math.round(st.w * 100) / 100; }
      return root.dataset.render + q;
    }
    function show() {
      clearTimeout(timer);
      // A short delay coalesces a drag into few requests.
      timer = setTimeout(function () {
        img.src = url();
        root.dataset.frame = String(st.frame);
        status.textContent = 'Frame ' + (st.frame + 1) + ' of ' + st.frames + (st.c !== null ? ', window ' + Math.round(st.c) + '/' + Math.round(st.w) : '');
      }, 40);
    }
    function setFrame(f) {
      st.frame = Math.max(0, Math.min(st.frames - 1, f));
      frame.value = String(st.frame);
      show();
    }
    function setWindow(c, w) {
      st.c = c; st.w = Math.max(1, w);
      wc.value = String(Math.round(st.c)); ww.value = String(Math.round(st.w));
      show();
    }
    img.addEventListener('error', function () { status.textContent = 'This frame could not be shown.'; });
    img.addEventListener('load', function () { root.dataset.loaded = 'true'; });
    wc.addEventListener('change', function () { if (wc.value !== '' && ww.value !== '') { setWindow(+wc.value, +ww.value); } });
    ww.addEventListener('change', function () { if (wc.value !== '' && ww.value !== '') { setWindow(+wc.value, +ww.value); } });
    frame.addEventListener('input', function () { setFrame(+frame.value); });
    img.addEventListener('wheel', function (e) { e.preventDefault(); setFrame(st.frame + (e.deltaY > 0 ? 1 : -1)); }, { passive: false });
    img.addEventListener('keydown', function (e) {
      var d = { ArrowDown: 1, ArrowRight: 1, PageDown: 10, ArrowUp: -1, ArrowLeft: -1, PageUp: -10 }[e.key];
      if (d) { e.preventDefault(); setFrame(st.frame + d); }
      if (e.key === 'Home') { e.preventDefault(); setFrame(0); }
      if (e.key === 'End') { e.preventDefault(); setFrame(st.frames - 1); }
    });
    var drag = null;
    img.addEventListener('dragstart', function (e) { e.preventDefault(); });
    img.addEventListener('pointerdown', function (e) {
      drag = { x: e.clientX, y: e.clientY, c: st.c === null ? 128 : st.c, w: st.w === null ? 256 : st.w };
      img.setPointerCapture(e.pointerId);
    });
    img.addEventListener('pointermove', function (e) {
      if (!drag) { return; }
      var scale = Math.max(1, drag.w / 200);
      setWindow(drag.c + (e.clientY - drag.y) * scale, drag.w + (e.clientX - drag.x) * scale);
    });
    img.addEventListener('pointerup', function () { drag = null; });

    fetch(root.dataset.meta, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      var m = res.body;
      if (!res.ok) { throw new Error(m.detail || 'the server refused'); }
      if (!m.viewable) { status.textContent = m.not_viewable; root.dataset.loaded = 'not-viewable'; return; }
      st.frames = Math.max(1, m.frames || 1);
      frame.max = String(st.frames - 1);
      frame.disabled = st.frames < 2;
      if (m.window_width) { st.c = m.window_center; st.w = m.window_width; wc.value = String(st.c); ww.value = String(st.w); }
      setFrame(Math.floor((st.frames - 1) / 2));
    }).catch(function (err) { status.textContent = 'The image could not be shown: ' + err.message; });
  }

  function init() { Array.prototype.forEach.call(document.querySelectorAll('.dicomviewer'), setup); }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', init); } else { init(); }
}());
