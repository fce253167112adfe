// viewer3d.js: a small WebGL viewer for the 3D models Custodia stores (STL
// ASCII and binary, OBJ, PLY ASCII and binary with vertex colours, GLB and
// glTF with embedded buffers). No build step and no third-party code, so it
// runs under the strict CSP (script-src 'self').
//
// Markup (the script builds the controls):
//   <div class="viewer3d" data-src="/api/v1/files/ID/view" data-kind="stl|obj|ply|glb|gltf">
//     <div class="v3d-stage"><canvas tabindex="0" aria-label="3D model; drag to rotate"></canvas></div>
//   </div>
// The buttons go above the stage; the canvas follows the stage's size (the
// page's CSS sizes the stage), so the view resizes with the window.
// Mouse: drag rotates, shift-drag or right-drag pans, the wheel zooms.
// Keyboard (canvas focused): arrows rotate, + and - zoom, 0 resets.
// For tests the canvas carries data-loaded="true", data-vertices and
// data-rotation ("yaw,pitch" in radians), updated after every interaction.
(function () {
  'use strict';

  // ---- parsers: each returns {positions, normals?, colors?, indices?, points?}
  function parseSTL(buf) {
    var dv = new DataView(buf);
    if (buf.byteLength >= 84) {
      var n = dv.getUint32(80, true);
      if (84 + 50 * n === buf.byteLength) {
        var pos = new Float32Array(n * 9), nor = new Float32Array(n * 9);
        for (var t = 0; t < n; t++) {
          var o = 84 + 50 * t;
          for (var v = 0; v < 3; v++) {
            for (var c = 0; c < 3; c++) {
              pos[t * 9 + v * 3 + c] = dv.getFloat32(o + 12 + v * 12 + c * 4, true);
              nor[t * 9 + v * 3 + c] = dv.getFloat32(o + c * 4, true);
            }
          }
        }
        return { positions: pos, normals: null };
      }
    }
    var text = new TextDecoder().decode(buf), out = [];
    var re = /vertex\s+(\S+)\s+(\S+)\s+(\S+)/g, m;
    while ((m = re.exec(text)) !== null) { out.push(+m[1], +m[2], +m[3]); }
    return { positions: new Float32Array(out) };
  }

  function parseOBJ(text) {
    var v = [], col = [], pos = [], cols = [], hasColor = false;
    var lines = text.split('\n');
    for (var i = 0; i < lines.length; i++) {
      var f = lines[i].trim().split(/\s+/);
      if (f[0] === 'v') {
        v.push([+f[1], +f[2], +f[3]]);
        if (f.length >= 7) { col.push([+f[4], +f[5], +f[6]]); hasColor = true; } else { col.push([0.8, 0.8, 0.8]); }
      } else if (f[0] === 'f') {
        var idx = [];
        for (var k = 1; k < f.length; k++) {
          var n = parseInt(f[k].split('/')[0], 10);
          idx.push(n < 0 ? v.length + n : n - 1);
        }
        for (var j = 1; j + 1 < idx.length; j++) {
          [idx[0], idx[j], idx[j + 1]].forEach(function (q) {
            var p = v[q] || [0, 0, 0], c = col[q] || [0.8, 0.8, 0.8];
            pos.push(p[0], p[1], p[2]); cols.push(c[0], c[1], c[2]);
          });
        }
      }
    }
    if (pos.length === 0) { // no faces: a point cloud
      v.forEach(function (p, q) { pos.push(p[0], p[1], p[2]); cols.push(col[q][0], col[q][1], col[q][2]); });
      return { positions: new Float32Array(pos), colors: hasColor ? new Float32Array(cols) : null, points: true };
    }
    return { positions: new Float32Array(pos), colors: hasColor ? new Float32Array(cols) : null };
  }

  var plySizes = { char: 1, int8: 1, uchar: 1, uint8: 1, short: 2, int16: 2, ushort: 2, uint16: 2, int: 4, int32: 4, uint: 4, uint32: 4, float: 4, float32: 4, double: 8, float64: 8 };

  function parsePLY(buf) {
    var bytes = new Uint8Array(buf), hdrEnd = -1;
    var head = new TextDecoder().decode(bytes.subarray(0, Math.min(bytes.length, 65536)));
    var at = head.indexOf('end_header');
    if (at < 0) { throw new Error('PLY header not found'); }
    hdrEnd = head.indexOf('\n', at) + 1;
    var lines = head.slice(0, hdrEnd).split('\n'), format = 'ascii', elems = [];
    lines.forEach(function (l) {
      var f = l.trim().split(/\s+/);
      if (f[0] === 'format') { format = f[1]; }
      if (f[0] === 'element') { elems.push({ name: f[1], count: +f[2], props: [] }); }
      if (f[0] === 'property') {
        var e = elems[elems.length - 1];
        if (f[1] === 'list') { e.props.push({ list: true, ct: f[2], it: f[3], name: f[4] }); } else { e.props.push({ t: f[1], name: f[2] }); }
      }
    });
    var le = format === 'binary_little_endian', dv = new DataView(buf), off = hdrEnd;
    var tokens = null, ti = 0;
    if (format === 'ascii') { tokens = new TextDecoder().decode(bytes.subarray(hdrEnd)).trim().split(/\s+/); }
    function read(t) {
      if (tokens) { return +tokens[ti++]; }
      var x;
      switch (t) {
        case 'char': case 'int8': x = dv.getInt8(off); break;
        case 'uchar': case 'uint8': x = dv.getUint8(off); break;
        case 'short': case 'int16': x = dv.getInt16(off, le); break;
        case 'ushort': case 'uint16': x = dv.getUint16(off, le); break;
        case 'int': case 'int32': x = dv.getInt32(off, le); break;
        case 'uint': case 'uint32': x = dv.getUint32(off, le); break;
        case 'float': case 'float32': x = dv.getFloat32(off, le); break;
        default: x = dv.getFloat64(off, le);
      }
      off += plySizes[t];
      return x;
    }
    var vp = [], vc = [], vn = [], tri = [], hasColor = false, hasNormal = false;
    elems.forEach(function (e) {
      for (var r = 0; r < e.count; r++) {
        var row = {};
        e.props.forEach(function (p) {
          if (p.list) {
            var n = read(p.ct), items = [];
            for (var k = 0; k < n; k++) { items.push(read(p.it)); }
            row[p.name] = items;
          } else {
            row[p.name] = read(p.t);
            if (p.name === 'red') { row.colorScale = (p.t === 'float' || p.t === 'float32' || p.t === 'double') ? 1 : 255; }
          }
        });
        if (e.name === 'vertex') {
          vp.push(row.x, row.y, row.z);
          if ('red' in row) { hasColor = true; vc.push(row.red / row.colorScale, row.green / row.colorScale, row.blue / row.colorScale); } else { vc.push(0.8, 0.8, 0.8); }
          if ('nx' in row) { hasNormal = true; vn.push(row.nx, row.ny, row.nz); } else { vn.push(0, 0, 0); }
        } else if (e.name === 'face') {
          var idx = row.vertex_indices || row.vertex_index || [];
          for (var j = 1; j + 1 < idx.length; j++) { tri.push(idx[0], idx[j], idx[j + 1]); }
        }
      }
    });
    return { positions: new Float32Array(vp), colors: hasColor ? new Float32Array(vc) : null, normals: hasNormal ? new Float32Array(vn) : null,
      indices: tri.length ? new Uint32Array(tri) : null, points: tri.length === 0 };
  }

  var compCount = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4 };
  var compType = { 5120: Int8Array, 5121: Uint8Array, 5122: Int16Array, 5123: Uint16Array, 5125: Uint32Array, 5126: Float32Array };

  function b64(uri) {
    var s = atob(uri.slice(uri.indexOf(',') + 1)), b = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) { b[i] = s.charCodeAt(i); }
    return b.buffer;
  }

  function parseGLTF(doc, bin) {
    var buffers = (doc.buffers || []).map(function (b, i) { return b.uri ? b64(b.uri) : (i === 0 ? bin : null); });
    function accessor(i, normalizeTo) {
      var a = doc.accessors[i], v = doc.bufferViews[a.bufferView], T = compType[a.componentType], n = compCount[a.type];
      var buf = buffers[v.buffer], base = (v.byteOffset || 0) + (a.byteOffset || 0), stride = v.byteStride || n * T.BYTES_PER_ELEMENT;
      var dv = new DataView(buf), out = new Float32Array(a.count * n);
      var get = { 5120: 'getInt8', 5121: 'getUint8', 5122: 'getInt16', 5123: 'getUint16', 5125: 'getUint32', 5126: 'getFloat32' }[a.componentType];
      var scale = normalizeTo && a.normalized ? { 5121: 255, 5123: 65535 }[a.componentType] || 1 : 1;
      for (var k = 0; k < a.count; k++) {
        for (var c = 0; c < n; c++) { out[k * n + c] = dv[get](base + k * stride + c * T.BYTES_PER_ELEMENT, true) / scale; }
      }
      return { data: out, n: n };
    }
    var pos = [], nor = [], col = [], idx = [], hasN = true, hasC = false;
    (doc.meshes || []).forEach(function (m) {
      m.primitives.forEach(function (p) {
        if (p.attributes.POSITION === undefined) { return; }
        var start = pos.length / 3, P = accessor(p.attributes.POSITION);
        Array.prototype.push.apply(pos, Array.from(P.data));
        var count = P.data.length / 3;
        if (p.attributes.NORMAL !== undefined) { Array.prototype.push.apply(nor, Array.from(accessor(p.attributes.NORMAL).data)); } else { hasN = false; }
        var base = [0.8, 0.8, 0.8];
        var mat = p.material !== undefined && doc.materials ? doc.materials[p.material] : null;
        if (mat && mat.pbrMetallicRoughness && mat.pbrMetallicRoughness.baseColorFactor) { base = mat.pbrMetallicRoughness.baseColorFactor.slice(0, 3); hasC = true; }
        if (p.attributes.COLOR_0 !== undefined) {
          var C = accessor(p.attributes.COLOR_0, true); hasC = true;
          for (var k = 0; k < count; k++) { col.push(C.data[k * C.n], C.data[k * C.n + 1], C.data[k * C.n + 2]); }
        } else { for (var j = 0; j < count; j++) { col.push(base[0], base[1], base[2]); } }
        if (p.indices !== undefined) { accessor(p.indices).data.forEach(function (x) { idx.push(start + x); }); } else { for (var q = 0; q < count; q++) { idx.push(start + q); } }
      });
    });
    return { positions: new Float32Array(pos), normals: hasN && nor.length === pos.length ? new Float32Array(nor) : null,
      colors: hasC ? new Float32Array(col) : null, indices: new Uint32Array(idx) };
  }

  function parseGLB(buf) {
    var dv = new DataView(buf), jlen = dv.getUint32(12, true);
    var doc = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 20, jlen)));
    var bin = null, off = 20 + jlen;
    if (off + 8 <= buf.byteLength) { bin = buf.slice(off + 8, off + 8 + dv.getUint32(off, true)); }
    return parseGLTF(doc, bin);
  }

  function parse(kind, buf) {
    switch (kind) {
      case 'stl': return parseSTL(buf);
      case 'obj': return parseOBJ(new TextDecoder().decode(buf));
      case 'ply': return parsePLY(buf);
      case 'glb': return parseGLB(buf);
      case 'gltf': return parseGLTF(JSON.parse(new TextDecoder().decode(buf)), null);
    }
    throw new Error('unsupported model kind');
  }

  // expand turns an indexed mesh into flat triangles with per-face normals
  // where the file has none, so one drawArrays call draws it.
  function expand(m) {
    var P = m.positions, C = m.colors, N = m.normals, I = m.indices;
    var n = I ? I.length : P.length / 3;
    var pos = new Float32Array(n * 3), col = new Float32Array(n * 3), nor = new Float32Array(n * 3);
    for (var k = 0; k < n; k++) {
      var s = I ? I[k] : k;
      for (var c = 0; c < 3; c++) {
        pos[k * 3 + c] = P[s * 3 + c];
        col[k * 3 + c] = C ? C[s * 3 + c] : 0.82;
        nor[k * 3 + c] = N ? N[s * 3 + c] : 0;
      }
    }
    if (!N && !m.points) {
      for (var t = 0; t + 2 < n; t += 3) {
        var a = t * 3, b = a + 3, d = a + 6;
        var ux = pos[b] - pos[a], uy = pos[b + 1] - pos[a + 1], uz = pos[b + 2] - pos[a + 2];
        var vx = pos[d] - pos[a], vy = pos[d + 1] - pos[a + 1], vz = pos[d + 2] - pos[a + 2];
        var nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx, l = Math.hypot(nx, ny, nz) || 1;
        for (var q = 0; q < 3; q++) { nor[a + q * 3] = nx / l; nor[a + q * 3 + 1] = ny / l; nor[a + q * 3 + 2] = nz / l; }
      }
    }
    return { positions: pos, colors: col, normals: nor, count: n, points: !!m.points };
  }

  // ---- matrices (column-major, as WebGL wants)
  function perspective(fovy, aspect, near, far) {
    var f = 1 / Math.tan(fovy / 2), nf = 1 / (near - far);
    return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0];
  }
  function mul(a, b) {
    var o = new Array(16);
    for (var i = 0; i < 4; i++) { for (var j = 0; j < 4; j++) { var s = 0; for (var k = 0; k < 4; k++) { s += a[k * 4 + j] * b[i * 4 + k]; } o[i * 4 + j] = s; } }
    return o;
  }
  function view(yaw, pitch, dist, target) {
    var cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    // rotation: pitch about x after yaw about y, then translate.
    var r = [cy, sp * sy, -cp * sy, 0, 0, cp, sp, 0, sy, -sp * cy, cp * cy, 0, 0, 0, 0, 1];
    var t = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, -target[0], -target[1], -target[2], 1];
    var back = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, -dist, 1];
    return mul(back, mul(r, t));
  }

  var VS = 'attribute vec3 p; attribute vec3 n; attribute vec3 c; uniform mat4 mvp; uniform mat4 mv; uniform float ps;' +
    'varying vec3 vn; varying vec3 vc; void main(){ gl_Position = mvp * vec4(p,1.0); vn = mat3(mv) * n; vc = c; gl_PointSize = ps; }';
  var FS = 'precision mediump float; varying vec3 vn; varying vec3 vc; uniform float lit;' +
    'void main(){ vec3 L = normalize(vec3(0.4,0.6,1.0)); float d = abs(dot(normalize(vn + vec3(1e-6)), L));' +
    ' float k = mix(1.0, 0.3 + 0.7*d, lit); gl_FragColor = vec4(vc * k, 1.0); }';

  function setup(root) {
    var canvas = root.querySelector('canvas');
    var status = document.createElement('p');
    status.className = 'viewer-status';
    status.setAttribute('aria-live', 'polite');
    status.textContent = 'Loading the model…';
    var bar = document.createElement('div');
    bar.className = 'viewer-controls';
    bar.setAttribute('role', 'group');
    bar.setAttribute('aria-label', '3D view controls');
    root.insertBefore(bar, root.firstChild);
    root.appendChild(status);
    var stage = canvas.parentNode;
    var st = { yaw: 0.6, pitch: 0.4, dist: 3, target: [0, 0, 0], radius: 1, center: [0, 0, 0] };
    var gl = null, prog = null, mesh = null, bufs = null;

    function publish() {
      canvas.dataset.rotation = st.yaw.toFixed(3) + ',' + st.pitch.toFixed(3);
      canvas.dataset.zoom = st.dist.toFixed(3);
    }
    function draw() {
      publish();
      if (!gl || !mesh) { return; }
      gl.viewport(0, 0, canvas.width, canvas.height);
      gl.clearColor(0.12, 0.13, 0.15, 1);
      gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
      gl.enable(gl.DEPTH_TEST);
      var mv = view(st.yaw, st.pitch, st.dist, st.target);
      var pr = perspective(Math.PI / 4, canvas.width / canvas.height, st.radius * 0.01, st.dist + st.radius * 10);
      gl.uniformMatrix4fv(gl.getUniformLocation(prog, 'mvp'), false, new Float32Array(mul(pr, mv)));
      gl.uniformMatrix4fv(gl.getUniformLocation(prog, 'mv'), false, new Float32Array(mv));
      gl.uniform1f(gl.getUniformLocation(prog, 'ps'), 2.0);
      gl.uniform1f(gl.getUniformLocation(prog, 'lit'), mesh.points ? 0.0 : 1.0);
      gl.drawArrays(mesh.points ? gl.POINTS : gl.TRIANGLES, 0, mesh.count);
    }
    // resize gives the canvas as many device pixels as the stage shows.
    function resize() {
      var dpr = window.devicePixelRatio || 1;
      var w = Math.max(1, Math.round(stage.clientWidth * dpr)), h = Math.max(1, Math.round(stage.clientHeight * dpr));
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; draw(); }
      canvas.dataset.size = canvas.width + 'x' + canvas.height;
    }
    if (stage !== root) { // without a stage the canvas keeps its width and height attributes
      if (window.ResizeObserver) { new ResizeObserver(resize).observe(stage); }
      resize();
    }
    function fit() {
      st.target = st.center.slice();
      st.dist = st.radius / Math.sin(Math.PI / 8) * 1.1;
      st.yaw = 0.6; st.pitch = 0.4;
      draw();
    }
    function rotate(dy, dp) { st.yaw += dy; st.pitch = Math.max(-1.55, Math.min(1.55, st.pitch + dp)); draw(); }
    function zoom(f) { st.dist = Math.max(st.radius * 0.05, Math.min(st.radius * 50, st.dist * f)); draw(); }
    function pan(dx, dy) {
      var s = st.dist / canvas.height, cy = Math.cos(st.yaw), sy = Math.sin(st.yaw);
      st.target[0] -= (dx * cy) * s; st.target[2] -= (dx * sy) * s; st.target[1] += dy * s;
      draw();
    }

    [['Rotate left', function () { rotate(-0.26, 0); }], ['Rotate right', function () { rotate(0.26, 0); }],
      ['Tilt up', function () { rotate(0, -0.2); }], ['Tilt down', function () { rotate(0, 0.2); }],
      ['Zoom in', function () { zoom(0.8); }], ['Zoom out', function () { zoom(1.25); }], ['Reset view', fit]
    ].forEach(function (b) {
      var btn = document.createElement('button');
      btn.type = 'button';
      btn.textContent = b[0];
      btn.addEventListener('click', b[1]);
      bar.appendChild(btn);
    });

    var drag = null;
    canvas.addEventListener('contextmenu', function (e) { e.preventDefault(); });
    canvas.addEventListener('pointerdown', function (e) {
      drag = { x: e.clientX, y: e.clientY, pan: e.shiftKey || e.button === 2 };
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener('pointermove', function (e) {
      if (!drag) { return; }
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      drag.x = e.clientX; drag.y = e.clientY;
      if (drag.pan) { pan(dx, dy); } else { rotate(dx * 0.01, dy * 0.01); }
    });
    canvas.addEventListener('pointerup', function () { drag = null; });
    canvas.addEventListener('wheel', function (e) { e.preventDefault(); zoom(e.deltaY > 0 ? 1.1 : 0.9); }, { passive: false });
    canvas.addEventListener('keydown', function (e) {
      var k = e.key, used = true;
      if (k === 'ArrowLeft') { rotate(-0.1, 0); } else if (k === 'ArrowRight') { rotate(0.1, 0); } else if (k === 'ArrowUp') { rotate(0, -0.1); } else if (k === 'ArrowDown') { rotate(0, 0.1); } else if (k === '+' || k === '=') { zoom(0.9); } else if (k === '-') { zoom(1.1); } else if (k === '0') { fit(); } else { used = false; }
      if (used) { e.preventDefault(); }
    });

    fetch(root.dataset.src, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (!r.ok) { throw new Error('the server answered ' + r.status); }
      return r.arrayBuffer();
    }).then(function (buf) {
      var m = parse(root.dataset.kind, buf);
      mesh = expand(m);
      var P = mesh.positions, lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
      for (var i = 0; i < P.length; i += 3) {
        for (var c = 0; c < 3; c++) { lo[c] = Math.min(lo[c], P[i + c]); hi[c] = Math.max(hi[c], P[i + c]); }
      }
      st.center = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2];
      st.radius = Math.max(1e-6, Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]) / 2);
      canvas.dataset.vertices = String(m.positions.length / 3);
      gl = canvas.getContext('webgl', { antialias: true }) || canvas.getContext('experimental-webgl');
      if (gl) {
        prog = gl.createProgram();
        [[gl.VERTEX_SHADER, VS], [gl.FRAGMENT_SHADER, FS]].forEach(function (s) {
          var sh = gl.createShader(s[0]); gl.shaderSource(sh, s[1]); gl.compileShader(sh); gl.attachShader(prog, sh);
        });
        gl.linkProgram(prog);
        gl.useProgram(prog);
        bufs = {};
        [['p', mesh.positions], ['n', mesh.normals], ['c', mesh.colors]].forEach(function (a) {
          var b = gl.createBuffer(), loc = gl.getAttribLocation(prog, a[0]);
          gl.bindBuffer(gl.ARRAY_BUFFER, b); gl.bufferData(gl.ARRAY_BUFFER, a[1], gl.STATIC_DRAW);
          gl.enableVertexAttribArray(loc); gl.vertexAttribPointer(loc, 3, gl.FLOAT, false, 0, 0);
          bufs[a[0]] = b;
        });
        status.textContent = 'Model loaded: ' + canvas.dataset.vertices + ' vertices' + (mesh.points ? ' (point cloud)' : '') + '. Drag to rotate, shift-drag to pan, scroll to zoom.';
      } else {
        status.textContent = 'Model loaded (' + canvas.dataset.vertices + ' vertices), but this browser cannot draw 3D (WebGL is unavailable).';
      }
      fit();
      canvas.dataset.loaded = 'true';
    }).catch(function (err) {
      status.textContent = 'The model could not be shown: ' + err.message;
      canvas.dataset.loaded = 'error';
    });
  }

  function init() { Array.prototype.forEach.call(document.querySelectorAll('.viewer3d'), setup); }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', init); } else { init(); }
}());
