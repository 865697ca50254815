// Starts fauxqs (a fast SQS emulator) on 127.0.0.1 only: its own CLI binds 0.0.0.0.
// Usage: node fauxqs.mjs PORT
import { buildApp } from "fauxqs";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node fauxqs.mjs PORT");
  process.exit(2);
}
const app = buildApp({ logger: false, defaultRegion: "us-east-1" });
await app.listen({ port, host: "127.0.0.1" });
console.log(`fauxqs listening on 127.0.0.1:${port}`);
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => app.close().then(() => process.exit(0)));
}
