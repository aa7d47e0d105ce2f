// Reads a generation job's server-sent events with the `eventsource` package (the EventSource of browsers, for Node:
// it reconnects on its own with Last-Event-ID, and stops for good at a non-200 answer such as 204) and prints each as
// a JSON line. Usage: node sse-client.mjs <events-url> [api-key] [last-event-id]. Exits 0 once the source is closed
// for good, 2 when that does not happen within 90 s.
import EventSource from "eventsource";

const [url, apiKey, lastEventId] = process.argv.slice(2);
const headers = {};
if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
if (lastEventId) headers["Last-Event-ID"] = lastEventId;
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const source = new EventSource(url, { headers });
source.reconnectInterval = 200;
source.onopen = () => print({ event: "open" });
for (const name of ["queued", "started", "progress", "completed", "failed", "cancelled"]) {
  source.addEventListener(name, (e) => {
    const data = JSON.parse(e.data);
    if (typeof data.preview === "string") data.preview = data.preview.slice(0, 40);
    print({ event: name, id: e.lastEventId, data });
  });
}

const timer = setTimeout(() => process.exit(2), 90_000);
// The source closes itself just after it reports a non-200 answer: look once it has.
source.onerror = (e) => setImmediate(() => {
  const closed = source.readyState === EventSource.CLOSED;
  print({ event: "error", status: e.status ?? null, closed });
  if (closed) {
    clearTimeout(timer);
    process.exit(0);
  }
});
