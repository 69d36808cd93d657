// Following a job's progress: Server-Sent Events read through fetch(), polling as the fallback.
//
// Why not EventSource: it cannot send an Authorization header, and a token in the URL would
// end up in access logs and browser history. So the stream is read with fetch() and a
// ReadableStream, and parsed here by the rules of the HTML standard's "event stream
// interpretation" (id, event, data, retry fields; comments start with ':'), reconnecting
// with Last-Event-ID like EventSource does.

/** Parse an event stream fed in text chunks; call onEvent({type, data, id}) per event. */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.data = [];
    this.type = "";
    this.lastEventId = "";
    this.retry = null;
    this.started = false;
  }

  /** Feed a decoded chunk; complete lines are interpreted, a partial one is kept. */
  feed(chunk) {
    let text = this.buffer + chunk;
    if (!this.started && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // one leading BOM is ignored
      this.started = true;
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c !== "\n" && c !== "\r") continue;
      // A CR at the very end may be the first half of CRLF: wait for the next chunk.
      if (c === "\r" && i === text.length - 1) break;
      this.line(text.slice(start, i));
      if (c === "\r" && text[i + 1] === "\n") i++;
      start = i + 1;
    }
    this.buffer = text.slice(start);
  }

  /** The stream ended: a CR left over ends its line; an event without its blank line is dropped. */
  end() {
    if (this.buffer.endsWith("\r")) this.line(this.buffer.slice(0, -1));
    this.buffer = "";
    this.data = [];
    this.type = "";
  }

  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return; // a comment, e.g. a keep-alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^[0-9]+$/.test(value)) this.retry = Number(value);
  }

  dispatch() {
    const data = this.data;
    const type = this.type || "message";
    this.data = [];
    this.type = "";
    if (data.length === 0) return;
    this.onEvent({ type, data: data.join("\n"), id: this.lastEventId });
  }
}

const TERMINAL = new Set(["succeeded", "failed", "deleted"]);

/**
 * Follow one job until it finishes, is deleted, or stop() is called.
 *
 * handlers.onStatus(doc): a status document (GET /v1/jobs/{id}).
 * handlers.onProgress(data): a progress event's data.
 * handlers.onGone(): the job is gone (404 or a `deleted` event).
 * handlers.onMode(mode): "stream" or "polling", for the page to say how it follows.
 */
export function followJob({ id, token, handlers, pollMs = 1500, maxStreamFailures = 3 }) {
  const auth = { Authorization: `Bearer ${token}` };
  const controller = new AbortController();
  let finished = false;
  let lastEventId = "";
  let retryMs = 1000;

  const finish = () => {
    finished = true;
    controller.abort();
  };
  const seeStatus = (doc) => {
    handlers.onStatus(doc);
    if (TERMINAL.has(doc.status)) finish();
  };
  const gone = () => {
    handlers.onGone();
    finish();
  };
  const wait = (ms) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      controller.signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    });

  async function fetchStatus() {
    const response = await fetch(`/v1/jobs/${id}`, { headers: auth, cache: "no-store", signal: controller.signal });
    if (response.status === 404) return gone();
    if (!response.ok) throw new Error(`status ${response.status}`);
    seeStatus(await response.json());
  }

  function onEvent(event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // not ours to understand
    }
    if (event.type === "status") seeStatus(data);
    else if (event.type === "deleted") gone();
    else if (event.type === "progress") {
      handlers.onProgress(data);
      // The progress event says "finished" before we hold the result's facts: ask for them.
      if (TERMINAL.has(data.status) && !finished) fetchStatus().catch(() => {});
    }
  }

  async function streamOnce() {
    const headers = { ...auth, Accept: "text/event-stream" };
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    const response = await fetch(`/v1/jobs/${id}/events`, { headers, cache: "no-store", signal: controller.signal });
    if (response.status === 404) return gone();
    const type = response.headers.get("content-type") || "";
    if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
      throw new Error(`events answered ${response.status}`);
    }
    handlers.onMode?.("stream");
    const parser = new SseParser(onEvent);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
        lastEventId = parser.lastEventId;
        if (parser.retry !== null) retryMs = parser.retry;
        if (finished) break;
      }
      parser.end();
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  async function run() {
    let failures = 0;
    while (!finished && failures < maxStreamFailures) {
      try {
        await streamOnce();
        failures = 0;
      } catch (error) {
        if (finished || controller.signal.aborted) return;
        failures++;
      }
      if (!finished) await wait(retryMs); // the stream closed early: reconnect from lastEventId
    }
    handlers.onMode?.("polling");
    while (!finished) {
      try {
        await fetchStatus();
      } catch {
        // offline for a moment: keep trying at the same pace
      }
      if (!finished) await wait(pollMs);
    }
  }

  run();
  return { stop: finish };
}
