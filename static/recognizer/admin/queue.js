// One-key labeling queue. Keys 0-9 label the drawing shown and move on at once (the next ones are already
// fetched and their images preloaded); s skips, u undoes the last label. Writes go to the server one after
// another, in order, so an undo never overtakes the label it undoes.
(function () {
  "use strict";

  const root = document.getElementById("queue");
  if (!root) return;
  const urls = {
    next: root.dataset.nextUrl,
    label: root.dataset.labelUrl,
    skip: root.dataset.skipUrl,
    undo: root.dataset.undoUrl,
    reset: root.dataset.resetUrl,
  };
  const csrf = root.dataset.csrf;
  const $ = (id) => document.getElementById(id);
  const BUFFER = 8; // drawings fetched ahead (the server hands out at most 10 at a time)

  let current = null;
  let buffer = [];
  let fetching = null;
  let writes = Promise.resolve();
  let pending = 0;
  let labeled = 0;
  const inFlight = new Set(); // ids written but not yet confirmed: never fetched again meanwhile

  function setPending(delta) {
    pending += delta;
    root.dataset.pending = String(pending);
  }

  function message(text, isError) {
    const el = $("queue-message");
    el.textContent = text || "";
    el.classList.toggle("error", Boolean(isError));
  }

  function updateCounts(state) {
    if (!state) return;
    if (typeof state.remaining === "number") {
      $("queue-remaining").textContent = String(state.remaining) + (state.remaining_more ? "+" : "");
    }
    if (typeof state.skipped === "number") $("queue-skipped").textContent = String(state.skipped);
  }

  async function request(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const detail = (data && data.detail) || response.status + " " + response.statusText;
      const error = new Error(detail);
      error.status = response.status;
      error.code = data && data.error;
      throw error;
    }
    return data;
  }

  function preload(drawing) {
    new Image().src = drawing.image_url;
    new Image().src = drawing.input_url;
  }

  function held() {
    const ids = buffer.map((d) => d.id);
    if (current) ids.push(current.id);
    inFlight.forEach((id) => ids.push(id));
    return ids;
  }

  function fetchMore() {
    if (fetching) return fetching;
    const want = BUFFER - buffer.length;
    if (want <= 0) return Promise.resolve();
    const url = urls.next + "?count=" + want + "&exclude=" + held().join(",");
    fetching = request("GET", url)
      .then((data) => {
        const known = new Set(held());
        data.drawings.forEach((d) => {
          if (!known.has(d.id)) {
            buffer.push(d);
            preload(d);
          }
        });
        updateCounts(data);
        return data.drawings.length > 0;
      })
      .catch((e) => {
        message("Could not fetch the next drawing: " + e.message, true);
        return false;
      })
      .then((gotSome) => {
        fetching = null;
        // Labeling faster than one fetch: keep topping up while there is more to get.
        if (gotSome && buffer.length < BUFFER) fetchMore();
      });
    return fetching;
  }

  function render() {
    const empty = !current;
    $("queue-main").hidden = empty;
    $("queue-empty").hidden = !empty || root.dataset.state === "loading";
    root.dataset.currentId = current ? String(current.id) : "";
    if (empty) return;
    $("queue-image").src = current.image_url;
    $("queue-input").src = current.input_url;
    $("queue-id").textContent = String(current.id);
    $("queue-link").href = current.change_url;
    $("queue-created").textContent = new Date(current.created).toLocaleString();
    current.answers.forEach((a) => {
      const digit = $("answer-" + a.model);
      if (!digit) return;
      digit.textContent = String(a.digit);
      $("confidence-" + a.model).textContent = (100 * a.confidence).toFixed(1) + "%";
    });
    $("queue-agree").textContent = current.agree ? "the models agree" : "the models disagree";
    $("queue-agree").classList.toggle("disagree", !current.agree);
    $("queue-user-label").textContent =
      current.label_source === "user" ? "The person who drew it said " + current.label + "." : "";
  }

  function show(drawing) {
    current = drawing || null;
    root.dataset.state = current ? "ready" : "empty";
    render();
    if (buffer.length < BUFFER) fetchMore();
  }

  function advance() {
    if (buffer.length) {
      show(buffer.shift());
      return;
    }
    current = null;
    root.dataset.state = "loading";
    root.dataset.waits = String(Number(root.dataset.waits || 0) + 1); // times the person had to wait
    render();
    fetchMore().then(() => {
      if (!current) show(buffer.shift());
    });
  }

  // Writes run one at a time, in the order they were asked for.
  function write(id, url, body, onDone) {
    setPending(1);
    if (id !== null) inFlight.add(id);
    writes = writes
      .then(() => request("POST", url, body))
      .then((data) => {
        updateCounts(data);
        if (onDone) onDone(data);
      })
      .catch((e) => message(e.message, true))
      .finally(() => {
        if (id !== null) inFlight.delete(id);
        setPending(-1);
      });
  }

  function label(digit) {
    if (!current) return;
    const id = current.id;
    message("");
    inFlight.add(id); // before advance(): the fetch it may start must not get this drawing back
    advance();
    write(id, urls.label, { id, label: digit }, () => {
      labeled += 1;
      root.dataset.labeled = String(labeled);
      $("queue-labeled").textContent = String(labeled);
      message("#" + id + " labeled " + digit + " (u to undo)");
    });
  }

  function skip() {
    if (!current) return;
    const id = current.id;
    message("");
    inFlight.add(id);
    advance();
    write(id, urls.skip, { id });
  }

  function undo() {
    message("");
    write(null, urls.undo, {}, (data) => {
      labeled = Math.max(0, labeled - 1);
      root.dataset.labeled = String(labeled);
      $("queue-labeled").textContent = String(labeled);
      if (current) buffer.unshift(current);
      buffer = buffer.filter((d) => d.id !== data.drawing.id);
      show(data.drawing);
      message("Undone: #" + data.drawing.id + " is back.");
    });
  }

  function resetSkips() {
    write(null, urls.reset, {}, () => advance());
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    if (/^[0-9]$/.test(event.key)) {
      event.preventDefault();
      label(Number(event.key));
    } else if (event.key === "s" || event.key === "S") {
      event.preventDefault();
      skip();
    } else if (event.key === "u" || event.key === "U") {
      event.preventDefault();
      undo();
    }
  });

  $("queue-keys").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    button.blur(); // keep keyboard focus on the page, not on the button
    if (button.dataset.label !== undefined) label(Number(button.dataset.label));
    else if (button.dataset.action === "skip") skip();
    else if (button.dataset.action === "undo") undo();
  });
  $("queue-reset").addEventListener("click", resetSkips);

  advance();
})();
