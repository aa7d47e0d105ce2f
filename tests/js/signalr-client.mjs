// Subscribes to one generation job through the SignalR JS client and prints each event as a JSON line.
// Usage: node signalr-client.mjs <base-url> <job-id> [api-key]. Exits 0 after a terminal event, 1 on an error,
// 2 when nothing terminal arrives within 90 s.
import signalR from "@microsoft/signalr";

const [baseUrl, jobId, apiKey] = process.argv.slice(2);
const print = (event, payload = {}) => {
  // A preview is a long data URL: its head is enough to check its type.
  const line = { event, ...payload };
  if (typeof line.preview === "string") line.preview = line.preview.slice(0, 40);
  process.stdout.write(JSON.stringify(line) + "\n");
};

const connection = new signalR.HubConnectionBuilder()
  .withUrl(new URL("/hubs/generations", baseUrl).toString(), apiKey ? { accessTokenFactory: () => apiKey } : {})
  .configureLogging(signalR.LogLevel.Warning)
  .build();

let finish;
const finished = new Promise((resolve) => (finish = resolve));
for (const name of ["queued", "started", "progress", "completed", "failed", "cancelled"]) {
  connection.on(name, (payload) => {
    print(name, payload);
    if (name === "completed" || name === "failed" || name === "cancelled") finish(0);
  });
}

const timer = setTimeout(() => finish(2), 90_000);
try {
  await connection.start();
  print("connected", { transport: connection.connection?.transport?.constructor?.name ?? null });
  await connection.invoke("Subscribe", jobId);
  print("subscribed");
} catch (error) {
  print("error", { message: String(error?.message ?? error) });
  finish(1);
}

const code = await finished;
clearTimeout(timer);
await connection.stop();
process.exit(code);
