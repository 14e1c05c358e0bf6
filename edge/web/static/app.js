// affect-edge live view: reads the daemon's event stream (Server-Sent Events) and draws it.
// No libraries, nothing from the internet: text is set with textContent, charts on <canvas>.
"use strict";

const WINDOW_S = 60;                 // seconds of history on each chart, at most
const MIN_SPAN_S = 10;               // a chart spans at least this much, from its first point
const ADV = ["arousal", "dominance", "valence"];
const EXPRESSIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const COLORS = {
  arousal: "#d9480f", dominance: "#5f3dc4", valence: "#2b8a3e",
  angry: "#e03131", disgust: "#66a80f", fear: "#7048e8", happy: "#f59f00",
  sad: "#1c7ed6", surprise: "#0ca678", neutral: "#adb5bd",
};
const MAX_FACES = 3;

const state = {
  offset: null,          // server time minus this page's clock (seconds)
  speech: [],            // {t, a, d, v}
  faces: new Map(),      // id -> {points: [{t, p: {...}}], last}
  eeg: [],               // {t, span, level, ok, flags: [[name, electrodes]]}
  status: null,
  hello: null,
  events: 0,
};

const $ = (id) => document.getElementById(id);
const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(d));

function serverNow() {
  return state.offset === null ? 0 : performance.now() / 1000 + state.offset;
}

function trim(list, now) {
  const keep = now - 2 * WINDOW_S;
  let i = 0;
  while (i < list.length && list[i].t < keep) i++;
  if (i) list.splice(0, i);
}

// --- events in -------------------------------------------------------------------------------
function onAffect(t, e) {
  state.events++;
  document.body.dataset.events = String(state.events);
  const v = e.values || {};
  if (e.modality === "speech") {
    if (v.arousal === undefined) return;
    state.speech.push({ t, a: v.arousal, d: v.dominance, v: v.valence });
    for (const k of ADV) $("speech-" + k).textContent = fmt(v[k]);
    const q = e.quality || {};
    $("speech-note").textContent = e.updated
      ? `speech in ${Math.round(100 * (q.speech_ratio ?? 1))}% of the last window`
      : "no speech just now: last estimate held";
    trim(state.speech, t);
  } else if (e.modality === "face") {
    const id = e.subject && e.subject.id !== undefined ? String(e.subject.id) : "0";
    if (!Object.keys(v).length) return;
    let face = state.faces.get(id);
    if (!face) {
      face = { points: [], last: t };
      state.faces.set(id, face);
    }
    face.points.push({ t, p: v });
    face.last = t;
    trim(face.points, t);
    updateFaceText(id, v);
  } else if (e.modality === "eeg") {
    const q = e.quality || {};
    const flags = Object.entries(q).filter(([, x]) => Array.isArray(x));
    state.eeg.push({
      t, span: Math.max(0.1, (e.end_s ?? 0) - (e.start_s ?? 0)),
      level: v.level, ok: q.ok !== false, flags,
    });
    trim(state.eeg, t);
    $("eeg-level").textContent = v.level === undefined ? "calibrating" : fmt(v.level);
    const el = $("eeg-flags");
    if (flags.length) {
      el.textContent = "flagged: " + flags.map(([n, ch]) => `${n} on ${ch.join(", ")}`).join("; ") +
        (e.updated ? "" : " (level held)");
      el.className = "val flags bad";
    } else if (q.ok === false) {
      el.textContent = "flagged window (level held)";
      el.className = "val flags bad";
    } else {
      el.textContent = "all electrodes clean";
      el.className = "val flags good";
    }
  }
}

function faceBox(id) {
  let box = document.querySelector(`.face[data-face="${CSS.escape(id)}"]`);
  if (box) return box;
  $("face-note").textContent = "";
  box = document.createElement("div");
  box.className = "face";
  box.dataset.face = id;
  const title = document.createElement("div");
  title.className = "title";
  const name = document.createElement("span");
  name.textContent = `face #${id}: `;
  const top = document.createElement("b");
  top.className = "top";
  top.id = "face-top-" + id;
  title.append(name, top);
  const canvas = document.createElement("canvas");
  canvas.className = "chart chart-face";
  box.append(title, canvas);
  $("face-list").append(box);
  return box;
}

function updateFaceText(id, v) {
  const box = faceBox(id);
  let best = null;
  for (const [k, x] of Object.entries(v)) if (best === null || x > v[best]) best = k;
  box.querySelector(".top").textContent = `${best} ${Math.round(100 * v[best])}%`;
}

function legend() {
  const el = $("face-legend");
  for (const k of EXPRESSIONS) {
    const s = document.createElement("span");
    const sw = document.createElement("i");
    sw.className = "sw";
    sw.style.background = COLORS[k];
    s.append(sw, document.createTextNode(k));
    el.append(s);
  }
}

// --- status ------------------------------------------------------------------------------------
function onStatus(s) {
  state.status = s;
  state.offset = s.t - performance.now() / 1000;
  $("uptime").textContent = s.uptime_s ? `(up ${duration(s.uptime_s)})` : "";
  $("st-cpu").textContent = s.cpu_share === null || s.cpu_share === undefined
    ? "measuring…" : `${(100 * s.cpu_share).toFixed(1)}% of one core`;
  const rss = s.rss_mb === null ? "–" : `${s.rss_mb.toFixed(0)} MiB`;
  $("st-rss").textContent = s.rss_budget_mb ? `${rss} of ${s.rss_budget_mb.toFixed(0)} MiB budget` : rss;
  const bus = s.bus || {};
  const lost = (bus.dropped || 0) + (s.sinks_dropped || 0);
  let windows = 0;
  for (const m of Object.values(s.modalities || {})) windows += m.dropped_windows || 0;
  $("st-drops").textContent = `${lost} events, ${windows} model windows skipped`;
  const w = s.web || {};
  $("st-web").textContent = `${w.clients} watching, ${w.clients_dropped} dropped (too slow)`;
  const body = $("st-models").querySelector("tbody");
  body.replaceChildren();
  let lastError = null;
  for (const [name, m] of Object.entries(s.modalities || {})) {
    const tr = document.createElement("tr");
    tr.id = "st-" + name;
    const cells = [name, m.state || "–"];
    const p99 = m.p99_target_ms ?? m.p99_ms;
    cells.push(p99 === null || p99 === undefined ? "–" : `${p99.toFixed(1)} ms`);
    cells.push(m.budget_p99_ms ? `${m.budget_p99_ms} ms` : "none");
    cells.push(String(m.restarts ?? 0));
    cells.forEach((text, i) => {
      const td = document.createElement(i ? "td" : "th");
      td.textContent = text;
      if (i === 3 && m.ok !== null && m.ok !== undefined) {
        td.className = m.ok ? "ok" : "over";
        td.textContent += m.ok ? " ✓" : " over";
      }
      tr.append(td);
    });
    body.append(tr);
    if (m.last_error) lastError = `${name}: ${m.last_error}`;
  }
  const h = state.hello || {};
  $("st-basis").textContent = h.latency_scale
    ? `Latency as on the ${h.profile} target: ${h.latency_basis}.`
    : (h.profile ? `Budgets from the ${h.profile} profile; ${h.latency_basis || ""}` : "No device profile: no budgets.");
  const err = $("st-error");
  err.textContent = lastError || "none";
  err.className = lastError ? "error" : "error none";
}

function duration(s) {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

// --- drawing -----------------------------------------------------------------------------------
function prepare(canvas) {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(50, Math.round(r.width)), h = Math.max(40, Math.round(r.height));
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) {
    canvas.width = w * dpr;
    canvas.height = h * dpr;
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  return { g, w, h };
}

// One time axis for every chart: its right edge is now while a source runs, else the moment the
// last event came (so a finished run stays in view); it spans the last minute, or from the first
// event on.
function viewport() {
  let first, last;
  const seen = (t) => {
    if (first === undefined || t < first) first = t;
    if (last === undefined || t > last) last = t;
  };
  if (state.speech.length) { seen(state.speech[0].t); seen(state.speech[state.speech.length - 1].t); }
  for (const face of state.faces.values()) if (face.points.length) { seen(face.points[0].t); seen(face.last); }
  if (state.eeg.length) { seen(state.eeg[0].t - state.eeg[0].span); seen(state.eeg[state.eeg.length - 1].t); }
  const mods = (state.status && state.status.modalities) || {};
  const live = !Object.keys(mods).length ||
    Object.values(mods).some((m) => m.state === "running" || m.state === "starting" || (m.state || "").startsWith("failed"));
  const now = serverNow();
  const right = live || last === undefined ? now : Math.min(now, last + 1);
  return { right, span: spanOf(first, right), live: live || last === undefined };
}

// Seconds shown: the last minute, or from the first point on (at least MIN_SPAN_S).
function spanOf(firstT, right) {
  if (firstT === undefined) return WINDOW_S;
  return Math.min(WINDOW_S, Math.max(MIN_SPAN_S, Math.ceil(right - firstT + 0.5)));
}

function frame(g, w, h, { right, span, live }, lo, hi, ticks, label) {
  const L = 34, R = 8, T = 6, B = 18;
  const x = (t) => L + ((t - (right - span)) / span) * (w - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (h - T - B);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#868e96";
  g.strokeStyle = "#e9ecef";
  g.lineWidth = 1;
  for (const v of ticks) {
    g.beginPath();
    g.moveTo(L, y(v));
    g.lineTo(w - R, y(v));
    g.stroke();
    g.textAlign = "right";
    g.textBaseline = "middle";
    g.fillText(label(v), L - 4, y(v));
  }
  g.textBaseline = "top";
  const step = [2, 5, 10, 15, 30].find((d) => span / d <= 5) || 30;
  for (let s = 0; s <= span; s += step) {
    g.textAlign = s === 0 ? "right" : "center";
    g.fillText(s === 0 ? (live ? "now" : "end of run") : `-${s} s`, x(right - s), h - B + 4);
  }
  return { x, y, L, R, T, B, span };
}

function line(g, points, x, y, key, color, right, span) {
  g.strokeStyle = color;
  g.lineWidth = 2;
  g.beginPath();
  let started = false;
  for (const p of points) {
    if (p.t < right - span - 2 || p[key] === undefined || p[key] === null) continue;
    if (started) g.lineTo(x(p.t), y(p[key]));
    else { g.moveTo(x(p.t), y(p[key])); started = true; }
  }
  g.stroke();
}

function drawSpeech(view) {
  const { right, span } = view;
  const { g, w, h } = prepare($("chart-speech"));
  const f = frame(g, w, h, view, 0, 1, [0, 0.5, 1], (v) => v.toFixed(1));
  g.save();
  g.beginPath();
  g.rect(f.L, 0, w - f.L - f.R, h);
  g.clip();
  line(g, state.speech, f.x, f.y, "a", COLORS.arousal, right, span);
  line(g, state.speech, f.x, f.y, "d", COLORS.dominance, right, span);
  line(g, state.speech, f.x, f.y, "v", COLORS.valence, right, span);
  g.restore();
}

function drawFaces(view) {
  const { right, span } = view;
  const ids = [...state.faces.entries()].sort((a, b) => b[1].last - a[1].last).map(([id]) => id);
  ids.forEach((id, i) => {
    const box = faceBox(id);
    box.hidden = i >= MAX_FACES;
    if (box.hidden) return;
    const face = state.faces.get(id);
    const { g, w, h } = prepare(box.querySelector("canvas"));
    const f = frame(g, w, h, view, 0, 1, [0, 0.5, 1], (v) => `${Math.round(100 * v)}%`);
    const pts = face.points.filter((p) => p.t >= right - span - 2);
    if (!pts.length) return;
    g.save();
    g.beginPath();
    g.rect(f.L, 0, w - f.L - f.R, h);
    g.clip();
    // Stacked areas: each expression's band is its probability; the bands fill 0..1.
    const base = new Array(pts.length).fill(0);
    for (const k of EXPRESSIONS) {
      const top = pts.map((p, j) => base[j] + (p.p[k] || 0));
      g.fillStyle = COLORS[k];
      g.beginPath();
      pts.forEach((p, j) => (j ? g.lineTo(f.x(p.t), f.y(top[j])) : g.moveTo(f.x(p.t), f.y(top[j]))));
      for (let j = pts.length - 1; j >= 0; j--) g.lineTo(f.x(pts[j].t), f.y(base[j]));
      g.closePath();
      g.fill();
      top.forEach((v, j) => (base[j] = v));
    }
    g.restore();
  });
}

function drawEeg(view) {
  const { right, span } = view;
  const { g, w, h } = prepare($("chart-eeg"));
  const f = frame(g, w, h, view, 1, 5, [1, 2, 3, 4, 5], (v) => String(v));
  g.save();
  g.beginPath();
  g.rect(f.L, 0, w - f.L - f.R, h);
  g.clip();
  for (const p of state.eeg) {
    if (p.ok) continue;
    const x0 = f.x(p.t - p.span), x1 = f.x(p.t);
    g.fillStyle = "rgba(224, 49, 49, 0.16)";
    g.fillRect(x0, f.T, x1 - x0, h - f.T - f.B);
    g.fillStyle = "#c92a2a";
    g.font = "11px system-ui, sans-serif";
    g.textAlign = "left";
    g.textBaseline = "top";
    let row = 0;
    for (const [name, ch] of p.flags) {
      g.fillText(name, x0 + 2, f.T + 2 + 13 * row++);
      g.fillText(ch.join(" "), x0 + 2, f.T + 2 + 13 * row++);
    }
  }
  g.strokeStyle = "#1971c2";
  g.lineWidth = 2;
  g.beginPath();
  let started = false;
  for (const p of state.eeg) {
    if (p.level === undefined) continue;
    if (started) g.lineTo(f.x(p.t), f.y(p.level));
    else { g.moveTo(f.x(p.t), f.y(p.level)); started = true; }
  }
  g.stroke();
  g.fillStyle = "#1971c2";
  for (const p of state.eeg) {
    if (p.level === undefined || !p.ok) continue;
    g.beginPath();
    g.arc(f.x(p.t), f.y(p.level), 3, 0, 2 * Math.PI);
    g.fill();
  }
  g.restore();
}

function draw() {
  const view = viewport();
  drawSpeech(view);
  drawFaces(view);
  drawEeg(view);
}

// --- the stream ----------------------------------------------------------------------------------
function connect() {
  const conn = $("conn");
  const source = new EventSource("events");
  source.addEventListener("hello", (m) => {
    const h = JSON.parse(m.data);
    state.hello = h;
    state.offset = h.now - performance.now() / 1000;
    $("device").textContent = h.device;
    $("profile").textContent = h.profile || "none";
    document.title = `affect-edge: ${h.device}`;
    // A reconnect replays the history: start from it afresh.
    state.speech = [];
    state.faces.clear();
    state.eeg = [];
    document.querySelectorAll(".face").forEach((el) => el.remove());
  });
  source.addEventListener("affect", (m) => {
    const d = JSON.parse(m.data);
    onAffect(d.t, d.event);
  });
  source.addEventListener("status", (m) => onStatus(JSON.parse(m.data)));
  source.onopen = () => {
    conn.textContent = "live";
    conn.className = "conn live";
  };
  source.onerror = () => {
    conn.textContent = source.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…";
    conn.className = "conn lost";
  };
}

legend();
connect();
setInterval(draw, 250);
window.addEventListener("resize", draw);
