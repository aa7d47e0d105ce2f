// RunPod's JavaScript SDK (runpod-sdk) against the API's RunPod-shaped endpoint; prints each answer as a JSON line.
// Usage: node runpod-client.mjs <base-url> <api-key> <scenario> [input-json]
//   flow:    run -> status -> stream (every chunk) -> status
//   runsync: runSync (POST /runsync?wait=, then GET /status-sync until finished)
//   cancel:  run -> cancel -> status
//   health:  health
// Exits 0 when the scenario ran, 1 when the SDK threw (the error is printed as {"event": "error"}).
import runpodSdk from "runpod-sdk";

const [baseUrl, apiKey, scenario, inputJson] = process.argv.slice(2);
const print = (event, payload = {}) => process.stdout.write(JSON.stringify({ event, ...payload }) + "\n");

// The base URL as a RunPod client sets it to reach this service instead of https://api.runpod.ai/v2.
const runpod = runpodSdk(apiKey, { baseUrl: new URL("/runpod/v2", baseUrl).toString() });
const endpoint = runpod.endpoint("a1111");
const request = { input: inputJson ? JSON.parse(inputJson) : {} };

try {
  if (scenario === "flow") {
    const run = await endpoint.run(request);
    print("run", run);
    print("status", await endpoint.status(run.id));
    for await (const chunk of endpoint.stream(run.id)) {
      print("chunk", chunk);
    }
    print("final", await endpoint.status(run.id));
  } else if (scenario === "runsync") {
    print("result", await endpoint.runSync(request, 60_000));
  } else if (scenario === "cancel") {
    const run = await endpoint.run(request);
    print("run", run);
    print("cancel", await endpoint.cancel(run.id));
    print("status", await endpoint.status(run.id));
  } else if (scenario === "health") {
    print("health", await endpoint.health());
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  process.exit(0);
} catch (error) {
  print("error", { message: String(error?.message ?? error), status: error?.response?.status ?? null });
  process.exit(1);
}
