// Calls the OpenAI images API through the official openai SDK, streamed, and prints each event as a JSON line.
// Usage: node openai-images.mjs <base-url> <api-key> generate|edit '<params as JSON>'. For edit, params.image is the
// path of a PNG to upload. Prints {"error": {...}} and exits 1 when the SDK raises an error (before or during the
// stream); exits 0 after the stream ends.
import { readFile } from "node:fs/promises";
import OpenAI, { toFile } from "openai";

const [baseUrl, apiKey, call, json] = process.argv.slice(2);
const params = JSON.parse(json);
const client = new OpenAI({ apiKey, baseURL: new URL("/v1", baseUrl).toString(), maxRetries: 0, timeout: 90_000 });
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

try {
  const stream =
    call === "edit"
      ? await client.images.edit({
          ...params,
          image: await toFile(await readFile(params.image), "image.png", { type: "image/png" }),
          stream: true,
        })
      : await client.images.generate({ ...params, stream: true });
  for await (const event of stream) print(event);
  process.exitCode = 0;
} catch (error) {
  print({
    error: {
      name: error?.constructor?.name ?? null,
      status: error?.status ?? null,
      message: String(error?.message ?? error),
      type: error?.type ?? null,
      param: error?.param ?? null,
      code: error?.code ?? null,
    },
  });
  process.exitCode = 1;
}
