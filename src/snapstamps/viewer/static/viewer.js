/* snapstamps PSI viewer: WebGL point map coloured by mean LOS velocity, click for the time series.
 * No network access: data come from data/*.js (script tags work from file://); the only optional
 * remote resource is a user-configured XYZ tile URL for the background.
 * Test hooks: window.snapstampsViewer (ready, drawnCount, project(), selectIndex(), selected, ...). */
(function () {
  "use strict";
  var META = window.SNAPSTAMPS_META;
  var api = (window.snapstampsViewer = {
    ready: false, drawnCount: 0, nPoints: 0, selected: null, hovered: null, errors: [], frames: 0,
    lastFrameMs: 0, webgl: false,
  });
  window.addEventListener("error", function (e) { api.errors.push(String(e.message || e)); });
  if (!META || typeof window.SNAPSTAMPS_POINTS !== "string") {
    document.getElementById("hint").textContent = "data/meta.js or data/points.js missing";
    api.errors.push("data missing");
    return;
  }

  // ------------------------------------------------------------------ data
  function decode(b64) {
    var s = atob(b64), n = s.length, u = new Uint8Array(n);
    for (var i = 0; i < n; i++) u[i] = s.charCodeAt(i);
    return u.buffer;
  }
  var N = META.n_points;
  api.nPoints = N;
  var buf = decode(window.SNAPSTAMPS_POINTS);
  window.SNAPSTAMPS_POINTS = null;
  var pos = new Float32Array(buf, 0, 2 * N);
  var vel = new Float32Array(buf, 8 * N, N);
  var coh = new Float32Array(buf, 12 * N, N);
  var pid = new Int32Array(buf, 16 * N, N);
  var dates = META.dates || [];
  var ND = dates.length;
  var attrNames = META.attributes;
  var NA = attrNames.length;
  var R = 6378137.0;
  var ORIGIN = META.origin_merc;

  // ------------------------------------------------------------------ colour scale (ColorBrewer RdBu, red = away)
  var STOPS = ["#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7", "#d1e5f0", "#92c5de", "#4393c3",
    "#2166ac", "#053061"].map(function (h) { return [parseInt(h.substr(1, 2), 16), parseInt(h.substr(3, 2), 16), parseInt(h.substr(5, 2), 16)]; });
  function cmap(t) {
    t = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
    var i = Math.min(STOPS.length - 2, Math.floor(t)), f = t - i, a = STOPS[i], b = STOPS[i + 1];
    return [Math.round(a[0] + f * (b[0] - a[0])), Math.round(a[1] + f * (b[1] - a[1])), Math.round(a[2] + f * (b[2] - a[2]))];
  }

  var state = {
    cx: 0, cy: 0, res: 1, vmin: META.velocity_limits[0], vmax: META.velocity_limits[1], cohMin: 0, size: 5,
    hover: -1, sel: -1,
  };

  // ------------------------------------------------------------------ DOM
  var $ = function (id) { return document.getElementById(id); };
  var mapEl = $("map"), bgCv = $("bg"), glCv = $("gl"), ovCv = $("overlay"), tip = $("tooltip");
  $("title").textContent = META.title;
  document.title = META.title + " — snapstamps viewer";
  $("subtitle").textContent = N.toLocaleString("en") + " PS · " + ND + " dates" +
    (ND ? " (" + dates[0] + " – " + dates[ND - 1] + ")" : "") + (META.master ? " · master " + META.master : "") +
    (META.sensor ? " · " + META.sensor : "");
  $("vlabel").textContent = META.velocity_label;
  $("attribution").textContent = (META.background && META.background.attribution) || "";

  // ------------------------------------------------------------------ WebGL points
  var gl = null, prog = null, loc = {};
  try {
    gl = glCv.getContext("webgl", { antialias: false, preserveDrawingBuffer: true, premultipliedAlpha: false }) ||
      glCv.getContext("experimental-webgl", { preserveDrawingBuffer: true });
  } catch (e) { gl = null; }
  var VS = "attribute vec2 a_pos; attribute float a_v; attribute float a_coh;" +
    "uniform vec2 u_center; uniform vec2 u_scale; uniform float u_vmin; uniform float u_vmax;" +
    "uniform float u_cohmin; uniform float u_size; varying float v_t;" +
    "void main(){ if (a_coh < u_cohmin || a_v != a_v) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); gl_PointSize = 0.0; v_t = 0.0; return; }" +
    " gl_Position = vec4((a_pos - u_center) * u_scale, 0.0, 1.0); gl_PointSize = u_size;" +
    " v_t = clamp((a_v - u_vmin) / (u_vmax - u_vmin), 0.0, 1.0); }";
  var FS = "precision mediump float; uniform sampler2D u_cmap; uniform float u_edge; varying float v_t;" +
    "void main(){ vec2 d = gl_PointCoord - vec2(0.5); float r = length(d) * 2.0; if (r > 1.0) discard;" +
    " vec3 c = texture2D(u_cmap, vec2(v_t, 0.5)).rgb; if (r > u_edge) c *= 0.45; gl_FragColor = vec4(c, 1.0); }";
  function shader(type, src) {
    var s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }
  function buffer(data, name, size) {
    var b = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, b);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
    var l = gl.getAttribLocation(prog, name);
    gl.enableVertexAttribArray(l);
    gl.vertexAttribPointer(l, size, gl.FLOAT, false, 0, 0);
  }
  if (gl) {
    try {
      prog = gl.createProgram();
      gl.attachShader(prog, shader(gl.VERTEX_SHADER, VS));
      gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, FS));
      gl.linkProgram(prog);
      if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
      gl.useProgram(prog);
      buffer(pos, "a_pos", 2);
      buffer(vel, "a_v", 1);
      buffer(coh, "a_coh", 1);
      ["u_center", "u_scale", "u_vmin", "u_vmax", "u_cohmin", "u_size", "u_cmap", "u_edge"].forEach(function (n) {
        loc[n] = gl.getUniformLocation(prog, n);
      });
      var tex = new Uint8Array(256 * 4);
      for (var i = 0; i < 256; i++) {
        var c = cmap(i / 255);
        tex[4 * i] = c[0]; tex[4 * i + 1] = c[1]; tex[4 * i + 2] = c[2]; tex[4 * i + 3] = 255;
      }
      var t = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, t);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, tex);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      gl.uniform1i(loc.u_cmap, 0);
      api.webgl = true;
    } catch (e) {
      api.errors.push("WebGL: " + e.message);
      gl = null;
    }
  }
  if (!gl) $("hint").innerHTML = '<span class="err">WebGL is not available in this browser: points cannot be drawn.</span>';

  // ------------------------------------------------------------------ picking grid (counting sort into cells)
  var grid = (function () {
    var b = META.bounds_merc, w = Math.max(b[2] - b[0], 1), h = Math.max(b[3] - b[1], 1);
    var cs = Math.max(Math.sqrt((w * h * 8) / Math.max(N, 1)), 0.5);
    var nx = Math.min(4096, Math.floor(w / cs) + 1), ny = Math.min(4096, Math.floor(h / cs) + 1);
    var csx = w / nx + 1e-9, csy = h / ny + 1e-9;
    var cell = new Int32Array(N), start = new Int32Array(nx * ny + 1), idx = new Int32Array(N), i, k;
    for (i = 0; i < N; i++) {
      var gx = Math.min(nx - 1, Math.max(0, Math.floor((pos[2 * i] - b[0]) / csx)));
      var gy = Math.min(ny - 1, Math.max(0, Math.floor((pos[2 * i + 1] - b[1]) / csy)));
      k = gy * nx + gx; cell[i] = k; start[k + 1]++;
    }
    for (k = 0; k < nx * ny; k++) start[k + 1] += start[k];
    var fill = start.slice(0, nx * ny);
    for (i = 0; i < N; i++) idx[fill[cell[i]]++] = i;
    return { x0: b[0], y0: b[1], csx: csx, csy: csy, nx: nx, ny: ny, start: start, idx: idx };
  })();
  function visible(i) { return coh[i] >= state.cohMin && vel[i] === vel[i]; }
  function pickWorld(X, Y, r) {
    var gx0 = Math.max(0, Math.floor((X - r - grid.x0) / grid.csx)), gx1 = Math.min(grid.nx - 1, Math.floor((X + r - grid.x0) / grid.csx));
    var gy0 = Math.max(0, Math.floor((Y - r - grid.y0) / grid.csy)), gy1 = Math.min(grid.ny - 1, Math.floor((Y + r - grid.y0) / grid.csy));
    var best = -1, bd = r * r;
    for (var gy = gy0; gy <= gy1; gy++) {
      for (var gx = gx0; gx <= gx1; gx++) {
        var k = gy * grid.nx + gx;
        for (var j = grid.start[k]; j < grid.start[k + 1]; j++) {
          var i = grid.idx[j];
          if (!visible(i)) continue;
          var dx = pos[2 * i] - X, dy = pos[2 * i + 1] - Y, d = dx * dx + dy * dy;
          if (d <= bd) { bd = d; best = i; }
        }
      }
    }
    return best;
  }

  // ------------------------------------------------------------------ view
  var W = 1, H = 1, DPR = 1;
  function toScreen(X, Y) { return [(X - state.cx) / state.res + W / 2, H / 2 - (Y - state.cy) / state.res]; }
  function toWorld(sx, sy) { return [state.cx + (sx - W / 2) * state.res, state.cy - (sy - H / 2) * state.res]; }
  function fit() {
    var b = META.bounds_merc, w = Math.max(b[2] - b[0], 50), h = Math.max(b[3] - b[1], 50);
    state.cx = (b[0] + b[2]) / 2; state.cy = (b[1] + b[3]) / 2;
    state.res = Math.max(w / W, h / H) * 1.08;
    redraw();
  }
  function resize() {
    DPR = window.devicePixelRatio || 1;
    W = Math.max(1, mapEl.clientWidth); H = Math.max(1, mapEl.clientHeight);
    [bgCv, glCv, ovCv].forEach(function (c) { c.width = Math.round(W * DPR); c.height = Math.round(H * DPR); });
  }

  // ------------------------------------------------------------------ background
  var bg = META.background || { kind: "none" }, bgImg = null, tiles = {};
  if (bg.kind === "image") {
    bgImg = new Image();
    bgImg.onload = function () { redraw(); };
    bgImg.src = bg.src;
  }
  function drawBackground() {
    var c = bgCv.getContext("2d");
    c.setTransform(DPR, 0, 0, DPR, 0, 0);
    c.clearRect(0, 0, W, H);
    if (bg.kind === "image" && bgImg && bgImg.complete && bgImg.naturalWidth) {
      var a = toScreen(bg.bounds[0], bg.bounds[3]), b = toScreen(bg.bounds[2], bg.bounds[1]);
      c.imageSmoothingEnabled = true;
      c.drawImage(bgImg, a[0], a[1], b[0] - a[0], b[1] - a[1]);
    } else if (bg.kind === "tiles") {
      var world = 2 * Math.PI * R, z = Math.max(0, Math.min(19, Math.round(Math.log2(world / (256 * state.res)))));
      var ts = world / Math.pow(2, z), n = Math.pow(2, z);
      var tl = toWorld(0, 0), br = toWorld(W, H);
      var X0 = tl[0] + ORIGIN[0], X1 = br[0] + ORIGIN[0], Y0 = tl[1] + ORIGIN[1], Y1 = br[1] + ORIGIN[1];
      var tx0 = Math.floor((X0 + world / 2) / ts), tx1 = Math.floor((X1 + world / 2) / ts);
      var ty0 = Math.floor((world / 2 - Y0) / ts), ty1 = Math.floor((world / 2 - Y1) / ts);
      for (var ty = Math.max(0, ty0); ty <= Math.min(n - 1, ty1); ty++) {
        for (var tx = tx0; tx <= tx1; tx++) {
          var wx = ((tx % n) + n) % n, key = z + "/" + wx + "/" + ty, im = tiles[key];
          if (!im) {
            im = tiles[key] = new Image();
            im.onload = function () { redraw(); };
            im.src = bg.url.replace("{z}", z).replace("{x}", wx).replace("{y}", ty);
          }
          if (im.complete && im.naturalWidth) {
            var p = toScreen(tx * ts - world / 2 - ORIGIN[0], world / 2 - ty * ts - ORIGIN[1]);
            c.drawImage(im, p[0], p[1], ts / state.res + 0.5, ts / state.res + 0.5);
          }
        }
      }
    }
  }

  // ------------------------------------------------------------------ drawing
  function countVisible() {
    var n = 0;
    for (var i = 0; i < N; i++) if (coh[i] >= state.cohMin && vel[i] === vel[i]) n++;
    return n;
  }
  function drawPoints() {
    if (!gl) return;
    var t0 = performance.now();
    gl.viewport(0, 0, glCv.width, glCv.height);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.uniform2f(loc.u_center, state.cx, state.cy);
    gl.uniform2f(loc.u_scale, 2 / (W * state.res), 2 / (H * state.res));
    gl.uniform1f(loc.u_vmin, state.vmin);
    gl.uniform1f(loc.u_vmax, state.vmax === state.vmin ? state.vmin + 1e-6 : state.vmax);
    gl.uniform1f(loc.u_cohmin, state.cohMin);
    gl.uniform1f(loc.u_size, state.size * DPR);
    gl.uniform1f(loc.u_edge, state.size >= 5 ? 0.72 : 1.01);
    gl.drawArrays(gl.POINTS, 0, N);
    api.lastFrameMs = performance.now() - t0;
    api.frames++;
  }
  function drawOverlay() {
    var c = ovCv.getContext("2d");
    c.setTransform(DPR, 0, 0, DPR, 0, 0);
    c.clearRect(0, 0, W, H);
    var ref = META.reference || {}, m = ref.merc;
    c.strokeStyle = "#111"; c.lineWidth = 2; c.setLineDash([6, 4]);
    if (ref.kind === "circle" && m) {
      var p = toScreen(m.cx, m.cy);
      c.beginPath(); c.arc(p[0], p[1], Math.max(3, m.r / state.res), 0, 2 * Math.PI); c.stroke();
    } else if (ref.kind === "box" && m) {
      var a = toScreen(m.x0, m.y1), b = toScreen(m.x1, m.y0);
      c.strokeRect(a[0], a[1], b[0] - a[0], b[1] - a[1]);
    }
    c.setLineDash([]);
    if (ref.centroid_merc) {
      var q = toScreen(ref.centroid_merc[0], ref.centroid_merc[1]);
      c.fillStyle = "#ffd400"; c.strokeStyle = "#111"; c.lineWidth = 1.5;
      c.beginPath(); c.moveTo(q[0], q[1] - 9); c.lineTo(q[0] + 8, q[1] + 6); c.lineTo(q[0] - 8, q[1] + 6); c.closePath();
      c.fill(); c.stroke();
      c.fillStyle = "#111"; c.font = "bold 10px sans-serif"; c.textAlign = "center"; c.fillText("R", q[0], q[1] + 4);
    }
    [[state.hover, "#333", 1.5], [state.sel, "#000", 3]].forEach(function (h) {
      if (h[0] < 0) return;
      var s = toScreen(pos[2 * h[0]], pos[2 * h[0] + 1]);
      c.strokeStyle = h[1]; c.lineWidth = h[2];
      c.beginPath(); c.arc(s[0], s[1], state.size / 2 + 5, 0, 2 * Math.PI); c.stroke();
      if (h[0] === state.sel) { c.strokeStyle = "#fff"; c.lineWidth = 1.2; c.beginPath(); c.arc(s[0], s[1], state.size / 2 + 7.5, 0, 2 * Math.PI); c.stroke(); }
    });
    // scale bar (ground metres at the centre latitude)
    var latc = 2 * Math.atan(Math.exp((state.cy + ORIGIN[1]) / R)) - Math.PI / 2;
    var mpp = state.res * Math.cos(latc), target = mpp * 100, e = Math.pow(10, Math.floor(Math.log10(target)));
    var len = [1, 2, 5, 10].map(function (f) { return f * e; }).filter(function (v) { return v <= target; }).pop() || e;
    var sb = $("scale");
    sb.style.width = Math.round(len / mpp) + "px";
    sb.innerHTML = "<span>" + (len >= 1000 ? len / 1000 + " km" : len + " m") + "</span>";
  }
  var pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; drawBackground(); drawPoints(); drawOverlay(); });
  }
  function drawNow() { drawBackground(); drawPoints(); drawOverlay(); }

  // ------------------------------------------------------------------ legend and filter
  function fmt(v, d) { return (v > 0 ? "+" : "") + v.toFixed(d); }
  function updateLegend() {
    var cb = $("colorbar"), c = cb.getContext("2d"), img = c.createImageData(cb.width, cb.height);
    for (var x = 0; x < cb.width; x++) {
      var col = cmap(x / (cb.width - 1));
      for (var y = 0; y < cb.height; y++) {
        var o = 4 * (y * cb.width + x);
        img.data[o] = col[0]; img.data[o + 1] = col[1]; img.data[o + 2] = col[2]; img.data[o + 3] = 255;
      }
    }
    c.putImageData(img, 0, 0);
    $("tmin").textContent = "≤ " + fmt(state.vmin, 1);
    $("tmid").textContent = fmt((state.vmin + state.vmax) / 2, 1);
    $("tmax").textContent = "≥ " + fmt(state.vmax, 1);
    $("vmin").value = state.vmin; $("vmax").value = state.vmax;
  }
  function updateCount() {
    api.drawnCount = countVisible();
    $("count").textContent = api.drawnCount.toLocaleString("en") + " of " + N.toLocaleString("en") + " points shown";
    $("cohval").textContent = state.cohMin.toFixed(2);
  }
  function setLimits(a, b) {
    if (!(isFinite(a) && isFinite(b)) || a === b) return;
    state.vmin = Math.min(a, b); state.vmax = Math.max(a, b);
    updateLegend(); redraw();
  }
  function setCohMin(x) {
    state.cohMin = Math.max(0, Math.min(1, +x));
    $("coh").value = state.cohMin;
    if (state.sel >= 0 && !visible(state.sel)) state.sel = state.sel; // keep selection, just redraw
    updateCount(); redraw();
  }
  $("vmin").addEventListener("change", function () { setLimits(parseFloat($("vmin").value), state.vmax); });
  $("vmax").addEventListener("change", function () { setLimits(state.vmin, parseFloat($("vmax").value)); });
  $("vreset").addEventListener("click", function () { setLimits(META.velocity_limits[0], META.velocity_limits[1]); });
  $("coh").addEventListener("input", function () { setCohMin(parseFloat($("coh").value)); });
  $("psize").addEventListener("input", function () { state.size = +$("psize").value; redraw(); });
  $("fit").addEventListener("click", function () { fit(); });
  (function refInfo() {
    var ref = META.reference || {}, s;
    if (ref.kind === "circle") s = "Reference area (dashed): circle of radius " + ref.radius_m + " m around " + ref.centre_lonlat[0].toFixed(5) + ", " + ref.centre_lonlat[1].toFixed(5);
    else if (ref.kind === "box") s = "Reference area (dashed): lon " + ref.lon[0].toFixed(5) + " – " + ref.lon[1].toFixed(5) + ", lat " + ref.lat[0].toFixed(5) + " – " + ref.lat[1].toFixed(5);
    else s = "Reference: the mean of all PS";
    if (ref.n_reference_ps != null) s += " (" + ref.n_reference_ps + " reference PS; R marks their centroid)";
    $("refinfo").textContent = s + ".";
  })();

  // ------------------------------------------------------------------ time series (chunks loaded on demand)
  var chunks = {}, waiting = {};
  window.SNAPSTAMPS_CHUNK = function (k, b64) {
    var n = Math.min(META.chunk_size, N - k * META.chunk_size), b = decode(b64);
    chunks[k] = { ll: new Float64Array(b, 0, n * 2), attrs: new Float32Array(b, n * 16, n * (NA - 2)),
      ts: new Float32Array(b, n * 16 + n * (NA - 2) * 4, n * ND) };
    (waiting[k] || []).forEach(function (f) { f[0](chunks[k]); });
    delete waiting[k];
  };
  function loadChunk(k) {
    return new Promise(function (resolve, reject) {
      if (chunks[k]) return resolve(chunks[k]);
      if (waiting[k]) { waiting[k].push([resolve, reject]); return; }
      waiting[k] = [[resolve, reject]];
      var s = document.createElement("script");
      s.src = "data/ts/c" + k + ".js";
      s.onerror = function () {
        (waiting[k] || []).forEach(function (f) { f[1](new Error("cannot load " + s.src)); });
        delete waiting[k];
      };
      document.head.appendChild(s);
    });
  }
  var chart = null;
  function showSeries(i, ch) {
    var j = i % META.chunk_size, values = [], attrs = {};
    for (var d = 0; d < ND; d++) values.push(ch.ts[j * ND + d]);
    attrs[attrNames[0]] = ch.ll[2 * j]; attrs[attrNames[1]] = ch.ll[2 * j + 1];
    for (var a = 2; a < NA; a++) attrs[attrNames[a]] = ch.attrs[j * (NA - 2) + a - 2];
    api.selected = { index: i, pid: pid[i], dates: dates.slice(), values: values, attributes: attrs };
    $("ts").hidden = false;
    $("ts-title").textContent = "PS " + pid[i] + ": " + fmt(vel[i], 2) + " mm/yr";
    var units = META.attribute_units || {};
    var rows = ["<tr><th>pid</th><td class='num'>" + pid[i] + "</td></tr>"];
    attrNames.forEach(function (n) {
      var v = attrs[n], d = n === "longitude" || n === "latitude" ? 6 : n === "line" || n === "pixel" ? 0 : 3;
      rows.push("<tr><th>" + n.replace(/_/g, " ") + "</th><td class='num'>" + (v === v ? v.toFixed(d) : "–") + " " + (units[n] || "") + "</td></tr>");
    });
    $("attrs").innerHTML = rows.join("");
    var tr = ["<tr><th>date</th><th>mm</th></tr>"];
    for (d = 0; d < ND; d++) {
      tr.push("<tr data-date='" + dates[d] + "'" + (dates[d] === META.master ? " class='master'" : "") + "><td>" + dates[d] +
        (dates[d] === META.master ? " (master)" : "") + "</td><td class='num'>" + values[d].toFixed(2) + "</td></tr>");
    }
    $("ts-table").innerHTML = tr.join("");
    var xs = dates.map(function (s) { return Date.parse(s + "T00:00:00Z") / 1000; });
    var el = $("chart");
    if (chart) { chart.destroy(); chart = null; }
    el.innerHTML = "";
    if (window.uPlot) {
      chart = new uPlot({
        width: Math.max(200, el.clientWidth || 330), height: 200,
        scales: { x: { time: true } },
        legend: { show: true },
        series: [{ label: "date", value: function (u, v) { return v == null ? "–" : new Date(v * 1000).toISOString().slice(0, 10); } },
          { label: "LOS displacement (mm)", stroke: "#2166ac", width: 1.5, points: { show: true, size: 5, fill: "#2166ac" },
            value: function (u, v) { return v == null ? "–" : v.toFixed(2) + " mm"; } }],
        axes: [{}, { label: "mm", size: 50 }],
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      }, [xs, values], el);
    }
  }
  function selectIndex(i) {
    state.sel = i;
    redraw();
    if (i < 0) { $("ts").hidden = true; api.selected = null; return Promise.resolve(null); }
    return loadChunk(Math.floor(i / META.chunk_size)).then(function (ch) {
      if (state.sel === i) showSeries(i, ch);
      return api.selected;
    });
  }

  // ------------------------------------------------------------------ interaction
  var drag = null;
  function local(e) { var r = mapEl.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }
  function pickScreen(p) { var w = toWorld(p[0], p[1]); return pickWorld(w[0], w[1], (state.size / 2 + 4) * state.res); }
  mapEl.addEventListener("pointerdown", function (e) {
    var p = local(e);
    drag = { x: p[0], y: p[1], cx: state.cx, cy: state.cy, moved: false };
    mapEl.setPointerCapture && mapEl.setPointerCapture(e.pointerId);
  });
  mapEl.addEventListener("pointermove", function (e) {
    var p = local(e);
    if (drag) {
      var dx = p[0] - drag.x, dy = p[1] - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; mapEl.classList.add("dragging"); }
      if (drag.moved) { state.cx = drag.cx - dx * state.res; state.cy = drag.cy + dy * state.res; tip.hidden = true; redraw(); return; }
    }
    var i = pickScreen(p);
    if (i !== state.hover) { state.hover = i; redraw(); }
    api.hovered = i >= 0 ? { index: i, pid: pid[i], velocity: vel[i], coherence: coh[i] } : null;
    if (i >= 0) {
      tip.hidden = false;
      tip.innerHTML = "PS <b>" + pid[i] + "</b><br>" + fmt(vel[i], 2) + " mm/yr<br>coherence " + coh[i].toFixed(2);
      tip.style.left = Math.min(p[0] + 12, W - 140) + "px";
      tip.style.top = Math.max(p[1] - 10, 0) + "px";
    } else tip.hidden = true;
  });
  mapEl.addEventListener("pointerleave", function () { tip.hidden = true; state.hover = -1; api.hovered = null; redraw(); });
  mapEl.addEventListener("pointerup", function (e) {
    var p = local(e), wasDrag = drag && drag.moved;
    drag = null; mapEl.classList.remove("dragging");
    if (!wasDrag) {
      var i = pickScreen(p);
      selectIndex(i).catch(function (err) { api.errors.push(String(err)); });
    }
  });
  mapEl.addEventListener("wheel", function (e) {
    e.preventDefault();
    var p = local(e), w0 = toWorld(p[0], p[1]);
    state.res *= Math.pow(1.0018, e.deltaY * (e.deltaMode === 1 ? 30 : 1));
    state.res = Math.min(Math.max(state.res, 0.02), 2e5);
    var w1 = toWorld(p[0], p[1]);
    state.cx += w0[0] - w1[0]; state.cy += w0[1] - w1[1];
    redraw();
  }, { passive: false });
  window.addEventListener("resize", function () { resize(); redraw(); });

  // ------------------------------------------------------------------ test and scripting hooks
  function merc(lon, lat) {
    var la = Math.max(-85.05112878, Math.min(85.05112878, lat)) * Math.PI / 180;
    return [R * lon * Math.PI / 180 - ORIGIN[0], R * Math.log(Math.tan(Math.PI / 4 + la / 2)) - ORIGIN[1]];
  }
  function client(X, Y) {
    var s = toScreen(X, Y), r = mapEl.getBoundingClientRect();
    return [s[0] + r.left, s[1] + r.top];
  }
  api.project = function (lon, lat) { var m = merc(lon, lat); return client(m[0], m[1]); };
  api.projectIndex = function (i) { return client(pos[2 * i], pos[2 * i + 1]); };
  api.indexOfPid = function (p) { for (var i = 0; i < N; i++) if (pid[i] === p) return i; return -1; };
  api.selectIndex = selectIndex;
  api.setCohMin = function (x) { setCohMin(x); drawNow(); return api.drawnCount; };
  api.setLimits = function (a, b) { setLimits(a, b); drawNow(); };
  api.view = function () { return { cx: state.cx, cy: state.cy, res: state.res, width: W, height: H }; };
  api.zoomTo = function (lon, lat, res) { var m = merc(lon, lat); state.cx = m[0]; state.cy = m[1]; if (res) state.res = res; drawNow(); };
  api.redraw = function () { drawNow(); return api.lastFrameMs; };

  resize();
  // default point size from the density: small dots for dense scenes, ringed discs for sparse ones
  state.size = Math.max(2, Math.min(6, Math.round(0.7 * Math.sqrt((W * H) / Math.max(N, 1)))));
  $("psize").value = state.size;
  updateLegend();
  updateCount();
  fit();
  requestAnimationFrame(function () {
    drawNow();
    api.ready = true;
    document.body.setAttribute("data-ready", "1");
  });
})();
