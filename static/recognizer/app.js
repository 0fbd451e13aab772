// Digit Recognizer drawing page: pointer-event canvas, both models' answers, feedback, recent drawings.
// Plain JavaScript, no dependencies, no requests to anything but this server.
"use strict";

(() => {
  const SIZE = 280; // logical canvas size, CSS px; also the size of the image sent
  const LINE_WIDTH = 20; // ~2 px at 28×28, like MNIST pen strokes
  const RECENT_LIMIT = 10;

  const app = document.getElementById("app");
  const urls = {
    predict: app.dataset.predictUrl,
    mine: app.dataset.mineUrl,
    feedback: (id) => app.dataset.feedbackUrl.replace("{id}", encodeURIComponent(id)),
  };
  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const ink = $("ink");
  const ctx = ink.getContext("2d");
  const buttons = { recognise: $("recognise"), undo: $("undo"), clear: $("clear") };
  const results = $("results");
  const answerEls = [...document.querySelectorAll(".answer")];
  const modelTitles = Object.fromEntries(
    answerEls.map((el) => [el.dataset.model, el.querySelector(".answer-title").textContent.trim()]),
  );

  // ---- drawing -------------------------------------------------------------------------------

  const strokes = []; // each stroke: array of {x, y} in logical px
  let current = null;
  let activePointer = null;
  let version = 0; // bumps on every change, so a drawing is only sent once
  let dpr = 1;
  let framePending = false;

  function setupCanvas() {
    // Backing store at device pixels keeps strokes sharp on high-DPI screens.
    dpr = Math.max(1, window.devicePixelRatio || 1);
    ink.width = Math.round(SIZE * dpr);
    ink.height = Math.round(SIZE * dpr);
    redraw();
  }

  function traceStroke(c, pts) {
    c.beginPath();
    if (pts.length === 1) {
      c.arc(pts[0].x, pts[0].y, LINE_WIDTH / 2, 0, Math.PI * 2);
      c.fill();
      return;
    }
    c.moveTo(pts[0].x, pts[0].y);
    // Quadratic curves through the midpoints smooth out the jitter of raw pointer samples.
    for (let i = 1; i < pts.length - 1; i++) {
      const mx = (pts[i].x + pts[i + 1].x) / 2;
      const my = (pts[i].y + pts[i + 1].y) / 2;
      c.quadraticCurveTo(pts[i].x, pts[i].y, mx, my);
    }
    const last = pts[pts.length - 1];
    c.lineTo(last.x, last.y);
    c.stroke();
  }

  function paint(c, scale, colour) {
    c.save();
    c.scale(scale, scale);
    c.lineCap = "round";
    c.lineJoin = "round";
    c.lineWidth = LINE_WIDTH;
    c.strokeStyle = colour;
    c.fillStyle = colour;
    for (const s of strokes) traceStroke(c, s);
    c.restore();
  }

  function redraw() {
    framePending = false;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, ink.width, ink.height);
    paint(ctx, dpr, "#14181f");
  }

  function scheduleRedraw() {
    if (!framePending) {
      framePending = true;
      requestAnimationFrame(redraw);
    }
  }

  function toLocal(e) {
    const r = ink.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * SIZE) / r.width, y: ((e.clientY - r.top) * SIZE) / r.height };
  }

  function changed() {
    version += 1;
    const empty = strokes.length === 0;
    pad.classList.toggle("has-ink", !empty);
    buttons.undo.disabled = empty;
    buttons.clear.disabled = empty;
    if (shown && shown.version !== version) markStale(true);
    if (!empty) hideError();
    // Mid-stroke, redraw once per frame; otherwise (undo, clear) show the change at once.
    if (activePointer === null) redraw();
    else scheduleRedraw();
  }

  ink.addEventListener("pointerdown", (e) => {
    if (activePointer !== null) return; // one stroke at a time; ignore a second finger
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    try {
      ink.setPointerCapture(e.pointerId); // keep the stroke when the pointer leaves the pad
    } catch {
      // a synthetic event without an active pointer: draw anyway
    }
    activePointer = e.pointerId;
    ink.dataset.lastPointerType = e.pointerType;
    current = [toLocal(e)];
    strokes.push(current);
    changed();
  });

  ink.addEventListener("pointermove", (e) => {
    if (e.pointerId !== activePointer || !current) return;
    e.preventDefault();
    const samples = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const s of samples.length ? samples : [e]) {
      const p = toLocal(s);
      const last = current[current.length - 1];
      if (Math.hypot(p.x - last.x, p.y - last.y) >= 0.75) current.push(p);
    }
    scheduleRedraw();
  });

  function endStroke(e) {
    if (e.pointerId !== activePointer) return;
    activePointer = null;
    current = null;
    redraw();
  }
  ink.addEventListener("pointerup", endStroke);
  ink.addEventListener("pointercancel", endStroke);
  ink.addEventListener("lostpointercapture", endStroke);
  // No long-press menu or drag ghost on the pad.
  ink.addEventListener("contextmenu", (e) => e.preventDefault());

  function undo() {
    if (activePointer !== null || !strokes.length) return;
    strokes.pop();
    changed();
  }

  function clear() {
    if (activePointer !== null || !strokes.length) return;
    strokes.length = 0;
    changed();
  }

  // The strokes alone, black on white at 280×280: the guide and the backing-store scale are left out.
  // Sent as an 8-bit greyscale PNG: the server decodes it in about a third of the CPU an RGBA PNG costs, and the
  // 28×28 input is the same (each grey is the luma the server's RGBA→grey conversion gives, and every pixel is
  // opaque; tests/test_predict_fast_path.py). Without CompressionStream, or should a pixel not be opaque, the
  // canvas's own RGBA PNG is sent as before.
  async function exportImage() {
    const c = document.createElement("canvas");
    c.width = SIZE;
    c.height = SIZE;
    const x = c.getContext("2d");
    x.fillStyle = "#ffffff";
    x.fillRect(0, 0, SIZE, SIZE);
    paint(x, 1, "#000000");
    try {
      const png = await greyPng(x.getImageData(0, 0, SIZE, SIZE));
      if (png) return png;
    } catch {
      // fall through: the canvas's own PNG
    }
    return c.toDataURL("image/png");
  }

  const CRC_TABLE = (() => {
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[n] = c >>> 0;
    }
    return t;
  })();

  function crc32(bytes) {
    let c = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  function pngChunk(type, data) {
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
    out.set(data, 8);
    view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
    return out;
  }

  // ImageData → data URL of a greyscale PNG (color type 0, 8 bits, filter 0 on every row), or null if a pixel is
  // not opaque. Grey = Pillow's luma, (19595 R + 38470 G + 7471 B + 32768) >> 16: black and white stay 0 and 255.
  async function greyPng(image) {
    if (typeof CompressionStream === "undefined") return null;
    const { width, height, data } = image;
    const raw = new Uint8Array((width + 1) * height);
    for (let y = 0, i = 0, o = 0; y < height; y++) {
      raw[o++] = 0;
      for (let xx = 0; xx < width; xx++, i += 4) {
        if (data[i + 3] !== 255) return null;
        raw[o++] = (data[i] * 19595 + data[i + 1] * 38470 + data[i + 2] * 7471 + 32768) >>> 16;
      }
    }
    // "deflate" is the zlib format PNG's IDAT holds.
    const zipped = new Uint8Array(
      await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate"))).arrayBuffer(),
    );
    const header = new Uint8Array(13);
    const hv = new DataView(header.buffer);
    hv.setUint32(0, width);
    hv.setUint32(4, height);
    header[8] = 8; // bits per sample
    header[9] = 0; // greyscale; compression, filter and interlace methods 0
    const parts = [
      new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk("IHDR", header),
      pngChunk("IDAT", zipped),
      pngChunk("IEND", new Uint8Array(0)),
    ];
    let text = "";
    for (const part of parts) {
      for (let i = 0; i < part.length; i += 0x8000) text += String.fromCharCode.apply(null, part.subarray(i, i + 0x8000));
    }
    return "data:image/png;base64," + btoa(text);
  }

  // ---- talking to the API --------------------------------------------------------------------

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function api(url, { method = "GET", body, extraHeaders = {} } = {}) {
    const headers = { Accept: "application/json", ...extraHeaders };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    const res = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null; // an HTML error page or an empty body
    }
    return { res, data };
  }

  function describeFailure(res, data) {
    const code = data && data.error;
    const detail = data && typeof data.detail === "string" ? data.detail : "";
    if (res.status === 422 || code === "empty_drawing") {
      return "Draw a digit first — the server found nothing drawn on the canvas.";
    }
    if (res.status === 429) {
      const wait = parseInt(res.headers.get("Retry-After") || "", 10);
      const when = Number.isFinite(wait) && wait > 0 ? `in ${wait} second${wait === 1 ? "" : "s"}` : "in a moment";
      return `Too many drawings in a short time — the rate limit was reached. Please try again ${when}.`;
    }
    if (res.status >= 500) {
      return `The server had a problem (error ${res.status}) and could not answer. Please try again in a moment.`;
    }
    if (res.status === 403 && /csrf/i.test(detail)) {
      return "Your session has expired. Reload the page and try again.";
    }
    if (res.status === 413) return "That drawing is too large to send.";
    return detail ? `${detail} (error ${res.status})` : `The request failed (error ${res.status}).`;
  }

  function describeNetworkError() {
    if (navigator.onLine === false) {
      return "You are offline. Reconnect to the internet and press Recognise again.";
    }
    return "Could not reach the server — check your connection and try again.";
  }

  // ---- messages ------------------------------------------------------------------------------

  const messageEl = $("message");
  const errorEl = $("error");

  function say(text) {
    messageEl.textContent = text;
  }
  function showError(text) {
    say("");
    errorEl.textContent = text;
    errorEl.hidden = false;
  }
  function hideError() {
    errorEl.hidden = true;
    errorEl.textContent = "";
  }

  // ---- recognise -----------------------------------------------------------------------------

  let inFlight = false;
  let shown = null; // {id, version, agree, digits: {model: digit}}
  // One Idempotency-Key per drawing version: pressing Recognise again after a lost answer (offline, timeout) returns
  // the drawing the server already stored instead of storing it twice.
  const pageKey = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0"))
    .join("");

  function setBusy(busy) {
    inFlight = busy;
    buttons.recognise.disabled = busy;
    buttons.recognise.setAttribute("aria-busy", String(busy));
    buttons.recognise.textContent = busy ? "Recognising…" : "Recognise";
  }

  async function recognise() {
    if (inFlight) return;
    if (!strokes.length) {
      showError("Draw a digit first.");
      return;
    }
    if (shown && shown.version === version) {
      hideError();
      say("These answers are for this drawing already — change it or draw another digit.");
      return;
    }
    hideError();
    setBusy(true);
    say("Recognising…");
    const sentVersion = version;
    try {
      const { res, data } = await api(urls.predict, {
        method: "POST",
        body: { image: await exportImage(), source: "web" },
        extraHeaders: { "Idempotency-Key": `web-${pageKey}-${sentVersion}` },
      });
      if (!res.ok || !data || !data.predictions) {
        showError(res.ok ? "The server sent an answer this page cannot read." : describeFailure(res, data));
        return;
      }
      say("");
      showAnswer(data, sentVersion);
      refreshRecent();
    } catch {
      showError(describeNetworkError());
    } finally {
      setBusy(false);
    }
  }

  const pct = (p) => {
    const v = p * 100;
    if (v >= 99.95) return "100%";
    if (v >= 0.1) return `${v.toFixed(1)}%`;
    return v > 0 ? "<0.1%" : "0%";
  };

  function showAnswer(data, sentVersion) {
    const digits = {};
    for (const el of answerEls) {
      const name = el.dataset.model;
      const p = data.predictions[name];
      if (!p) continue;
      digits[name] = p.digit;
      el.querySelector('[data-field="digit"]').textContent = String(p.digit);
      el.querySelector('[data-field="confidence"]').textContent = `${pct(p.confidence)} sure`;
      el.querySelectorAll(".bar").forEach((bar) => {
        const d = Number(bar.dataset.digit);
        const prob = Number(p.probabilities[d]) || 0;
        bar.querySelector(".bar-fill").style.setProperty("--p", `${Math.max(0, Math.min(1, prob)) * 100}%`);
        bar.querySelector(".bar-value").textContent = pct(prob);
        bar.classList.toggle("top", d === p.digit);
      });
    }
    const names = Object.keys(digits);
    const agree = typeof data.agree === "boolean" ? data.agree : new Set(Object.values(digits)).size === 1;
    const verdict = $("verdict");
    verdict.classList.toggle("disagree", !agree);
    for (const el of answerEls) {
      el.classList.toggle("disagree", !agree);
      el.querySelector(".disagree-badge")?.remove();
      if (!agree) {
        const badge = document.createElement("span");
        badge.className = "disagree-badge";
        badge.textContent = "≠ disagrees";
        el.querySelector(".answer-title").after(badge);
      }
    }
    const summary = names.map((n) => `${modelTitles[n]} says ${digits[n]}`).join(", ");
    verdict.textContent = agree
      ? `✓ Both models say ${digits[names[0]]}.`
      : `≠ The models disagree: ${summary}.`;
    $("seen").src = data.input;
    $("placeholder").hidden = true;
    $("answered").hidden = false;
    results.dataset.state = "answered";
    results.dataset.drawingId = String(data.id);
    shown = { id: data.id, version: sentVersion, agree, digits };
    markStale(sentVersion !== version);
    resetFeedback();
    const spoken = `${summary}. ${agree ? "Both agree." : "They disagree."}`;
    if (document.querySelector(".answers").getBoundingClientRect().top + 80 > window.innerHeight) {
      // On a phone the answers are below the pad: say them next to the button too.
      $("announce").textContent = "";
      say(`${spoken} Details below.`);
    } else {
      $("announce").textContent = spoken;
    }
  }

  function markStale(stale) {
    results.classList.toggle("stale", stale);
    let note = results.querySelector(".stale-note");
    if (stale && !note) {
      note = document.createElement("p");
      note.className = "stale-note";
      note.textContent = "These answers are for your previous drawing. Press Recognise for the new one.";
      $("answered").before(note);
    } else if (!stale && note) {
      note.remove();
    }
  }

  // ---- feedback ------------------------------------------------------------------------------

  const fbYes = $("fb-yes");
  const fbWhich = $("fb-which");
  const fbWhichButtons = $("fb-which-buttons");
  const fbStatus = $("fb-status");
  const digitButtons = [...document.querySelectorAll(".btn.digit")];
  let fbBusy = false;

  function resetFeedback() {
    fbWhich.hidden = true;
    fbStatus.textContent = "";
    fbStatus.classList.remove("error");
    fbYes.setAttribute("aria-expanded", "false");
    fbYes.textContent = shown.agree ? `Yes, it was ${Object.values(shown.digits)[0]}` : "Yes, one of them";
    if (shown.agree) fbYes.removeAttribute("aria-expanded");
    fbWhichButtons.replaceChildren(
      ...Object.entries(shown.digits).map(([name, digit]) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "btn";
        b.dataset.label = String(digit);
        b.textContent = `${modelTitles[name]}: it was ${digit}`;
        return b;
      }),
    );
    for (const b of document.querySelectorAll("#feedback button")) b.setAttribute("aria-pressed", "false");
    fbYes.removeAttribute("aria-pressed");
  }

  async function sendFeedback(label, button) {
    if (fbBusy || !shown) return;
    const drawing = shown;
    fbBusy = true;
    fbStatus.classList.remove("error");
    fbStatus.textContent = "Saving…";
    try {
      const { res, data } = await api(urls.feedback(drawing.id), { method: "POST", body: { label } });
      if (!res.ok) {
        fbStatus.classList.add("error");
        fbStatus.textContent = `Not saved: ${describeFailure(res, data)}`;
        return;
      }
      for (const b of document.querySelectorAll("#feedback button[aria-pressed]")) {
        b.setAttribute("aria-pressed", "false");
      }
      if (button && button !== fbYes) button.setAttribute("aria-pressed", "true");
      const stored = data && Number.isInteger(data.label) ? data.label : label;
      fbStatus.textContent = `Thanks — saved: it was ${stored}.`;
      fbStatus.dataset.saved = String(stored);
      refreshRecent();
    } catch {
      fbStatus.classList.add("error");
      fbStatus.textContent = `Not saved: ${describeNetworkError()}`;
    } finally {
      fbBusy = false;
    }
  }

  fbYes.addEventListener("click", () => {
    if (!shown) return;
    if (shown.agree) {
      sendFeedback(Object.values(shown.digits)[0], fbYes);
    } else {
      fbWhich.hidden = false;
      fbYes.setAttribute("aria-expanded", "true");
      fbWhichButtons.querySelector("button")?.focus();
    }
  });
  fbWhichButtons.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-label]");
    if (b) sendFeedback(Number(b.dataset.label), b);
  });
  for (const b of digitButtons) b.addEventListener("click", () => sendFeedback(Number(b.dataset.label), b));

  // ---- recent drawings -----------------------------------------------------------------------

  const recentList = $("recent-list");
  let recentRequest = 0;

  function predictionsOf(item) {
    // Accept {keras: {...}, custom: {...}} or [{model_name, digit, ...}, ...].
    const p = item.predictions || {};
    if (Array.isArray(p)) return Object.fromEntries(p.map((x) => [x.model_name || x.model, x]));
    return p;
  }

  function recentItem(item) {
    const li = document.createElement("li");
    li.className = "recent-item";
    li.dataset.id = String(item.id);
    const thumbSrc = item.input || item.input_url;
    if (typeof thumbSrc === "string" && /^(data:image\/png;base64,|\/)/.test(thumbSrc)) {
      const img = document.createElement("img");
      img.src = thumbSrc;
      img.alt = "";
      img.width = 42;
      img.height = 42;
      li.append(img);
    } else {
      const blank = document.createElement("span");
      blank.className = "thumb-missing";
      li.append(blank);
    }
    const body = document.createElement("div");
    const answers = document.createElement("div");
    answers.className = "recent-answers";
    const preds = predictionsOf(item);
    const parts = Object.keys(modelTitles)
      .filter((n) => preds[n])
      .map((n) => `${modelTitles[n].split(" ")[0]} ${preds[n].digit} (${pct(preds[n].confidence)})`);
    answers.textContent = parts.join(" · ") || "no answers";
    const digits = new Set(Object.values(preds).map((p) => p.digit));
    if (digits.size > 1) {
      const mark = document.createElement("span");
      mark.className = "mismatch";
      mark.textContent = " ≠";
      mark.title = "The models disagree";
      answers.append(mark);
    }
    const meta = document.createElement("div");
    meta.className = "recent-meta";
    const when = item.created ? new Date(item.created) : null;
    meta.append(`#${item.id}${when && !Number.isNaN(when.getTime()) ? ` · ${when.toLocaleTimeString()}` : ""} · `);
    const label = document.createElement("span");
    if (item.label !== null && item.label !== undefined) {
      label.className = "recent-label";
      label.textContent = `it was ${item.label}${item.label_source === "staff" ? " (checked)" : ""}`;
    } else {
      label.textContent = "no label yet";
    }
    meta.append(label);
    body.append(answers, meta);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "recent-delete";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete drawing #${item.id}`);
    remove.addEventListener("click", () => deleteDrawing(item.id, remove));
    li.append(body, remove);
    return li;
  }

  // The person who drew it may delete it (their drawer cookie), predictions included.
  async function deleteDrawing(id, button) {
    button.disabled = true;
    try {
      const { res, data } = await api(`${urls.mine.replace(/mine\/$/, "")}${id}/`, { method: "DELETE" });
      if (res.status !== 204 && res.status !== 404) {
        showError(describeFailure(res, data));
        button.disabled = false;
        return;
      }
      say(`Drawing #${id} deleted.`);
      refreshRecent();
    } catch {
      showError(describeNetworkError());
      button.disabled = false;
    }
  }

  async function refreshRecent() {
    const ticket = ++recentRequest;
    try {
      const { res, data } = await api(urls.mine);
      if (!res.ok || ticket !== recentRequest) return;
      const items = (Array.isArray(data) ? data : (data && data.results) || []).slice(0, RECENT_LIMIT);
      recentList.replaceChildren(...items.map(recentItem));
      $("recent-empty").hidden = items.length > 0;
    } catch {
      // The list is a convenience: a failed refresh keeps the old one and the main flow reports errors.
    }
  }

  // ---- wiring --------------------------------------------------------------------------------

  buttons.recognise.addEventListener("click", recognise);
  buttons.undo.addEventListener("click", undo);
  buttons.clear.addEventListener("click", clear);
  // A mouse click leaves focus where it was, so Enter keeps meaning "recognise" afterwards.
  for (const b of Object.values(buttons)) b.addEventListener("mousedown", (e) => e.preventDefault());

  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.isComposing || e.altKey) return;
    const t = e.target instanceof Element ? e.target : null;
    if (t && t.closest("input, textarea, select, [contenteditable='true']")) return;
    // Enter on a focused button or link keeps its own meaning (keyboard users press the feedback buttons).
    const onControl = t && t.closest("button, a, summary");
    const mod = e.ctrlKey || e.metaKey;
    if (e.key === "Enter" && !mod && !e.shiftKey && !onControl) {
      e.preventDefault();
      recognise();
    } else if ((e.key === "Backspace" && !mod) || (mod && !e.shiftKey && e.key.toLowerCase() === "z")) {
      e.preventDefault();
      undo();
    } else if (e.key === "Escape") {
      e.preventDefault();
      clear();
    }
  });

  window.addEventListener("resize", () => {
    if ((window.devicePixelRatio || 1) !== dpr) setupCanvas();
  });
  window.addEventListener("online", () => {
    if (!errorEl.hidden && /offline/.test(errorEl.textContent)) {
      hideError();
      say("Back online.");
    }
  });

  setupCanvas();
  changed();
  version = 0;
  refreshRecent();
  app.dataset.ready = "true";
})();
