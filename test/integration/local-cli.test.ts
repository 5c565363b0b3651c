/**
 * `npm run local` as an operator runs it: a child process against the
 * emulator, judged by its exit code, stderr and the JSON last line.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { ListQueuesCommand } from "@aws-sdk/client-sqs";
import { sortKeys } from "../../lambdas/core/keyOrder.ts";
import { awkwardKeys, checkObjects, ensureBucket, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { replyS3Error, replyWith, upstreamTo } from "../support/forward.ts";
import { assertOneLineError, lastJson, runOperator } from "../support/localStack.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

describe("npm run local", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  it("copies a bucket of awkward keys it has never seen, over two copy threads, and reports failed: 0 as JSON", async () => {
    const source = bucketName("cli-src");
    const destination = bucketName("cli-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const objects = awkwardKeys().map((k, i) => seedObject(`in/${k}`, i));
    await putObjects(emulator.s3, source, objects);

    const run = await runOperator(
      "local",
      // Its copies in two worker threads: the awkward keys cross the thread boundary too.
      [
        "--source",
        `s3://${source}/in/`,
        "--dest",
        `s3://${destination}/out/`,
        "--endpoint",
        emulator.endpoint,
        "--json",
        "--copy-threads",
        "2",
      ],
      "",
    );

    assert.equal(run.code, 0, run.stderr);
    const last = run.stdout.trim().split("\n").at(-1) ?? "";
    const summary = JSON.parse(last) as Record<string, unknown>;
    for (const field of ["listed", "copied", "skipped", "failed", "bytes", "seconds"]) assert.equal(typeof summary[field], "number", field);
    assert.equal(summary.listed, objects.length);
    assert.equal(summary.copied, objects.length);
    assert.equal(summary.failed, 0);
    assert.equal(
      summary.bytes,
      objects.reduce((n, o) => n + o.body.length, 0),
    );
    assert.deepEqual(await checkObjects(emulator.s3, destination, objects, (k) => `out/${k.slice(3)}`), []);

    // The ledger it names holds every key's outcome: `report --all` has one succeeded row per key.
    assert.equal(typeof summary.ledger, "string");
    const out = join(mkdtempSync(join(tmpdir(), "report-")), "all.csv");
    const report = await runOperator(
      "report",
      ["--ledger", String(summary.ledger), "--job", String(summary.jobId), "--all", "--out", out, "--json"],
      emulator.endpoint,
    );
    assert.equal(report.code, 0, report.stderr);
    assert.deepEqual(lastJson(report), {
      jobId: summary.jobId,
      failed: 0,
      vanished: 0,
      halted: 0,
      rows: objects.length,
      out,
      complete: true,
    });
    const rows = readFileSync(out, "utf8").split("\r\n").slice(1, -1);
    const keys = rows.map((r) => {
      const [bucket, key, version, status, code, http, message] = r.split(",");
      assert.deepEqual([bucket, version, status, code, http, message], [source, "", "succeeded", "", "200", "copied"], r);
      return decodeURIComponent(key ?? "");
    });
    assert.deepEqual(keys, sortKeys(objects.map((o) => o.key)));
  });

  it("refuses a malformed URL with one line and exit 2", async () => {
    const run = await runOperator("local", ["--source", "http://bucket/x", "--dest", "s3://b-dst/", "--endpoint", emulator.endpoint], "");
    assert.equal(run.code, 2);
    assertOneLineError(run, /--source must look like s3:\/\/bucket/);
  });

  it("refuses a missing --dest and unknown flags with exit 2", async () => {
    const missing = await runOperator("local", ["--source", "s3://a-src/"], "");
    assert.equal(missing.code, 2);
    assertOneLineError(missing, /--dest/);
    const unknown = await runOperator("local", ["--source", "s3://a-src/", "--dest", "s3://b-dst/", "--bogus"], "");
    assert.equal(unknown.code, 2);
    assertOneLineError(unknown, /bogus/);
  });

  it("refuses a missing bucket with one line and exit 3", async () => {
    const destination = bucketName("cli-dst");
    await ensureBucket(emulator.s3, destination);
    const run = await runOperator(
      "local",
      ["--source", "s3://no-such-bucket-here/", "--dest", `s3://${destination}/`, "--endpoint", emulator.endpoint],
      "",
    );
    assert.equal(run.code, 3);
    assertOneLineError(run, /source bucket "no-such-bucket-here" does not exist/);
  });

  it("refuses a destination that overlaps the source selection", async () => {
    const bucket = bucketName("cli-same");
    await ensureBucket(emulator.s3, bucket);
    const run = await runOperator(
      "local",
      ["--source", `s3://${bucket}/data/`, "--dest", `s3://${bucket}/data/copy/`, "--endpoint", emulator.endpoint],
      "",
    );
    assert.equal(run.code, 3);
    assertOneLineError(run, /overlaps source/);
  });

  it("refuses a source bucket it may not read with one line and exit 3, before any queue exists", async () => {
    // Prepare: a proxy that denies every request on the source bucket, as S3 does without a grant.
    const source = bucketName("cli-denied");
    const destination = bucketName("cli-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const upstream = upstreamTo(emulator.endpoint);
    let denied = 0;
    const proxy = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if ((req.url ?? "").startsWith(`/${source}`)) {
          denied++;
          replyS3Error(res, 403, "AccessDenied", "Access Denied");
          return;
        }
        upstream.send(req, Buffer.concat(chunks)).then(
          (answer) => replyWith(res, answer),
          () => res.destroy(),
        );
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const queuesBefore = (await emulator.sqs.send(new ListQueuesCommand({}))).QueueUrls?.length ?? 0;
    try {
      // Act
      const run = await runOperator("local", ["--source", `s3://${source}/`, "--dest", `s3://${destination}/`, "--endpoint", endpoint], "");

      // Assess
      assert.equal(run.code, 3, run.stderr);
      assertOneLineError(run, new RegExp(`no access to source bucket "${source}" \\(403 Forbidden\\)`));
      assert.ok(denied > 0, "the proxy denied the preflight");
      assert.equal((await emulator.sqs.send(new ListQueuesCommand({}))).QueueUrls?.length ?? 0, queuesBefore, "no queue created");
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
      upstream.close();
    }
  });

  it("halts on Ctrl-C with its copies spread over threads: HALTED, exit 1, and no copy after it stops", async () => {
    // Prepare: 1,500 objects and a proxy that holds each CopyObject 20 ms, so that the job is mid-way at the signal.
    const source = bucketName("cli-halt-src");
    const destination = bucketName("cli-halt-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const total = 1500;
    await putObjects(
      emulator.s3,
      source,
      Array.from({ length: total }, (_, i) => seedObject(`k/${String(i).padStart(5, "0")}`, i)),
    );
    const upstream = upstreamTo(emulator.endpoint);
    let copies = 0;
    const proxy = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const copy = req.method === "PUT" && req.headers["x-amz-copy-source"] !== undefined;
        if (copy) copies++;
        setTimeout(
          () =>
            upstream.send(req, Buffer.concat(chunks)).then(
              (answer) => replyWith(res, answer),
              () => res.destroy(),
            ),
          copy ? 20 : 0,
        );
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      // Act: two threads of one invocation each, one copy in flight in each; Ctrl-C once copies are under way.
      const child = spawn(
        process.execPath,
        [
          "scripts/bundled.mjs",
          "local",
          ...["--source", `s3://${source}/`, "--dest", `s3://${destination}/`, "--endpoint", endpoint, "--json", "--quiet"],
          ...["--copy-invocations", "2", "--copy-threads", "2", "--copy-concurrency", "1"],
        ],
        { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      while (copies < 50 && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      child.kill("SIGINT");
      const code = await new Promise<number | null>((resolve) => child.once("close", resolve));

      // Assess: halted before the end, and nothing copied once it stopped.
      assert.equal(code, 1, stderr);
      assert.match(stderr, /halting job .*\n[\s\S]*HALTED: job /);
      const summary = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as { copied: number; halted: boolean };
      assert.equal(summary.halted, true);
      assert.ok(summary.copied >= 1 && summary.copied < total, `copied ${summary.copied} of ${total}`);
      const sentAtExit = copies;
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(copies, sentAtExit, "no CopyObject after the process ended");
      // Every copy the destination holds was either recorded or still in flight at the halt (one per thread).
      const held = (await emulator.s3.send(new ListObjectsV2Command({ Bucket: destination }))).KeyCount ?? 0;
      assert.ok(held >= summary.copied && held <= summary.copied + 2, `destination holds ${held}, ledger says ${summary.copied}`);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
      upstream.close();
    }
  });

  it("reports an unreachable endpoint with one line and exit 3", async () => {
    const run = await runOperator("local", ["--source", "s3://a-src/", "--dest", "s3://b-dst/", "--endpoint", "http://127.0.0.1:9"], "");
    assert.equal(run.code, 3);
    assertOneLineError(run, /cannot reach source bucket/);
  });
});
