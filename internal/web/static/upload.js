// upload.js: sends a file to a case through the restartable upload API in
// chunks, with a progress bar, resuming from the server's received offset
// after a failed chunk.
//
// Markup:
//   <form class="uploader" data-case="CASE_ID" data-slot="any|mesh|dicom|image" [data-chunk="BYTES"]>
//     <label for="f">File</label> <input id="f" type="file" name="file" required>
//     <progress value="0" max="1" aria-label="Upload progress"></progress>
//     <button type="submit">Upload</button>
//     <p class="upload-status" aria-live="polite"></p>
//   </form>
// With data-reload, the page reloads after a successful upload (so the
// server-rendered file list shows the new file) and the form shows the
// finished upload's status and full progress bar again after the reload;
// only the kind, size and file id are kept in sessionStorage for that.
(function () {
  'use strict';
  // Each chunk costs the server one durable commit (a few ms), so chunks
  // are large: 32 MiB keeps that under a tenth of the chunk's time on a
  // fast link. Progress still moves per byte (upload progress events), and
  // a dropped connection re-sends at most one chunk.
  var DEFAULT_CHUNK = 32 << 20;

  function request(method, url, body, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      x.open(method, url);
      Object.keys(headers || {}).forEach(function (k) { x.setRequestHeader(k, headers[k]); });
      if (onProgress) { x.upload.addEventListener('progress', function (e) { onProgress(e.loaded); }); }
      x.addEventListener('load', function () {
        var json = null;
        try { json = JSON.parse(x.responseText); } catch (e) { json = null; }
        resolve({ status: x.status, body: json });
      });
      x.addEventListener('error', function () { reject(new Error('the connection failed')); });
      x.send(body);
    });
  }

  function reason(res) {
    var b = res.body || {};
    if (b.errors) { return Object.keys(b.errors).map(function (k) { return b.errors[k]; }).join('; '); }
    return b.detail || ('the server answered ' + res.status);
  }

  var DONE_KEY = 'custodia.upload.done';

  function describe(body) {
    return 'Uploaded: a ' + String(body.kind).toUpperCase() + ' file of ' + body.size + ' bytes.';
  }

  function setup(form) {
    var input = form.querySelector('input[type=file]');
    var bar = form.querySelector('progress');
    var status = form.querySelector('.upload-status');
    if (form.dataset.reload !== undefined) {
      var done = null;
      try { done = JSON.parse(sessionStorage.getItem(DONE_KEY) || 'null'); } catch (e) { done = null; }
      sessionStorage.removeItem(DONE_KEY);
      if (done && done.caseId === form.dataset.case) {
        bar.max = done.size; bar.value = done.size;
        status.textContent = describe(done);
        form.dataset.fileId = done.id;
      }
    }
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var file = input.files[0];
      if (!file) { status.textContent = 'Choose a file first.'; return; }
      bar.max = file.size; bar.value = 0;
      status.textContent = 'Uploading…';
      var id = null, tries = 0;
      request('POST', '/api/v1/uploads', JSON.stringify({ case_id: form.dataset.case, size: file.size, slot: form.dataset.slot || 'any' }),
        { 'Content-Type': 'application/json' }).then(function (res) {
        if (res.status !== 201) { throw new Error(reason(res)); }
        id = res.body.id;
        return send(res.body.received);
      }).then(function () {
        status.textContent = 'Checking the file…';
        // The name is kept sealed with the file and shown in the case's list.
        return request('POST', '/api/v1/uploads/' + id + '/complete', JSON.stringify({ name: file.name }), { 'Content-Type': 'application/json' });
      }).then(function (res) {
        if (res.status !== 201) { throw new Error(reason(res)); }
        bar.value = bar.max;
        status.textContent = describe(res.body);
        if (form.dataset.reload !== undefined) {
          sessionStorage.setItem(DONE_KEY, JSON.stringify({ caseId: form.dataset.case, id: res.body.id, kind: res.body.kind, size: res.body.size }));
          location.reload();
          return;
        }
        form.dataset.fileId = res.body.id;
      }).catch(function (err) {
        status.textContent = 'The upload failed: ' + err.message;
      });

      function send(from) {
        if (from >= file.size) { return Promise.resolve(); }
        var end = Math.min(file.size, from + (+form.dataset.chunk || DEFAULT_CHUNK));
        return request('PUT', '/api/v1/uploads/' + id, file.slice(from, end),
          { 'Content-Range': 'bytes ' + from + '-' + (end - 1) + '/' + file.size, 'Content-Type': 'application/octet-stream' },
          function (loaded) { bar.value = from + loaded; }).then(function (res) {
          if (res.status === 200) { bar.value = res.body.received; tries = 0; return send(res.body.received); }
          if (res.status === 409 && res.body && typeof res.body.received === 'number' && tries++ < 5) { return send(res.body.received); }
          throw new Error(reason(res));
        }, function (err) {
          // A dropped connection: ask where the server got to and go on.
          if (tries++ >= 5) { throw err; }
          return request('GET', '/api/v1/uploads/' + id, null, {}).then(function (res) { return send(res.body.received); });
        });
      }
    });
  }

  function init() { Array.prototype.forEach.call(document.querySelectorAll('form.uploader'), setup); }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', init); } else { init(); }
}());
