/** The lean path's connections (lambdas/aws/leanHttp.ts) against a local HTTP server: bounded, ordered, and never lost to a failure. */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Connections } from "../../lambdas/aws/leanHttp.ts";

describe("Connections", () => {
  let server: http.Server;
  let origin: string;
  let inFlight = 0;
  let maxInFlight = 0;
  const ports = new Set<number>();

  before(async () => {
    server = http.createServer((req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      ports.add(req.socket.remotePort ?? 0);
      if (req.url === "/reset") {
        inFlight--;
        req.socket.destroy();
        return;
      }
      setTimeout(() => {
        inFlight--;
        res.writeHead(req.url === "/missing" ? 404 : 200, { "x-amz-request-id": `id-${req.url}` });
        res.end(req.url === "/missing" ? "<Error><Code>NoSuchKey</Code></Error>" : `body of ${req.url}`);
      }, 5);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("answers every request, each with its own answer, on at most `connections` sockets", {
    timeout: 30_000,
  }, async () => {
    const connections = await Connections.open(origin, { connections: 3, connectTimeoutMs: 5_000, responseTimeoutMs: 5_000 });
    maxInFlight = 0;
    ports.clear();
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => connections.request({ method: "GET", path: `/${i}`, headers: { host: "test" } })),
    );
    assert.deepEqual(
      responses.map((r) => [r.status, r.body, r.requestId]),
      Array.from({ length: 40 }, (_, i) => [200, `body of /${i}`, `id-/${i}`]),
    );
    assert.ok(maxInFlight <= 3, `${maxInFlight} requests at once`);
    assert.ok(ports.size <= 3, `${ports.size} sockets`);
  });

  it("serves requests queued behind one connection in the order they were asked", { timeout: 30_000 }, async () => {
    const connections = await Connections.open(origin, { connections: 1, connectTimeoutMs: 5_000, responseTimeoutMs: 5_000 });
    const answered: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        connections.request({ method: "GET", path: `/q${i}`, headers: { host: "test" } }).then(() => answered.push(i)),
      ),
    );
    assert.deepEqual(
      answered,
      Array.from({ length: 12 }, (_, i) => i),
    );
  });

  it("hands back an error status with its body, and frees the connection of a request that failed", { timeout: 30_000 }, async () => {
    const connections = await Connections.open(origin, { connections: 1, connectTimeoutMs: 5_000, responseTimeoutMs: 5_000 });
    const missing = await connections.request({ method: "PUT", path: "/missing", headers: { host: "test" } });
    assert.deepEqual([missing.status, missing.body], [404, "<Error><Code>NoSuchKey</Code></Error>"]);
    await assert.rejects(connections.request({ method: "GET", path: "/reset", headers: { host: "test" } }));
    // The one connection is free again: these would wait forever otherwise.
    const after = await Promise.all(
      [1, 2].map((i) => connections.request({ method: "GET", path: `/after-${i}`, headers: { host: "test" } })),
    );
    assert.deepEqual(
      after.map((r) => r.body),
      ["body of /after-1", "body of /after-2"],
    );
  });
});
