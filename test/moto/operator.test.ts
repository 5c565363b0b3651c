/**
 * The operator commands against moto's server (the second emulator, issue
 * 15), each a child process as an operator runs it, against the stack that
 * `npm run serve -- --endpoint` runs in a child process of its own: kickoff,
 * status, report, redrive and halt, judged by exit code, JSON line, CSV and
 * the destination bucket.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { encodeS3ListKey } from "../../lambdas/core/keyCodec.ts";
import { connect, type JobStatus, jobStatus } from "../../scripts/lib/operator.ts";
import { checkObjects, ensureBucket, generatedKeys, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { bucketName, type TestEmulator } from "../support/emulator.ts";
import { lastJson, listKeys, runOperator, stderrLines, waitFor } from "../support/localStack.ts";
import { MOTO_DIFFERENCES, motoKeys, motoTier, startMoto } from "../support/moto.ts";

const tier = await motoTier();
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** Archived: moto, like AWS, refuses to copy it (ObjectNotInActiveTierError, 403), so its key fails for good. */
const ARCHIVED = "archived/frozen ❄.bin";

describe("operator commands on moto, against `npm run serve -- --endpoint`", { skip: tier.skip }, () => {
  let moto: TestEmulator;
  let dir: string;
  let outputs: string;
  let serve: ChildProcess;
  let served: Promise<void>;

  before(async () => {
    moto = await startMoto(tier.server ?? "");
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-moto-op-"));
    outputs = join(dir, "outputs.json");
    serve = spawn(
      process.execPath,
      ["--import", "tsx", "scripts/serve.ts", "--endpoint", moto.endpoint, "--outputs", outputs, "--stack", `MotoStack-${process.pid}`],
      { cwd: ROOT, env: { ...process.env, POWERTOOLS_LOG_LEVEL: "SILENT" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    served = new Promise((resolve) => serve.once("exit", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      let out = "";
      let err = "";
      serve.stdout?.on("data", (d: Buffer) => {
        // The functions log on stdout: keep only a tail.
        out = (out + d.toString()).slice(-4_000);
        if (out.includes("serving on")) resolve();
      });
      serve.stderr?.on("data", (d: Buffer) => {
        err = (err + d.toString()).slice(-4_000);
      });
      serve.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
    });
  });

  after(async () => {
    serve?.kill("SIGTERM");
    await served;
    await moto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (command: string, args: readonly string[]) => runOperator(command, [...args, "--outputs", outputs], moto.endpoint);

  async function statusOf(jobId: string): Promise<JobStatus> {
    const c = await connect({ outputs, endpoint: moto.endpoint });
    try {
      return await jobStatus(c, jobId);
    } finally {
      c.s3.destroy();
      c.sqs.destroy();
    }
  }

  const settled = (jobId: string, failed: number) => async () => {
    const s = await statusOf(jobId);
    return s.complete && s.failed === failed ? s : undefined;
  };

  async function seeded(keys: readonly string[]) {
    const source = bucketName("moto-op-src");
    const destination = bucketName("moto-op-dst");
    await ensureBucket(moto.s3, source);
    await ensureBucket(moto.s3, destination);
    const objects = keys.map(seedObject);
    await putObjects(moto.s3, source, objects, 16);
    return { source, destination, objects };
  }

  describe("a job with a key that fails for good", () => {
    let source: string;
    let destination: string;
    let objects: ReturnType<typeof seedObject>[];
    let jobId: string;

    before(async () => {
      ({ source, destination, objects } = await seeded([...motoKeys(), ...generatedKeys(300, "g/")]));
      await moto.s3.send(new PutObjectCommand({ Bucket: source, Key: ARCHIVED, Body: "cold", StorageClass: "GLACIER" }));
    });

    it("kickoff starts it; status follows it to the end with the archived key failed and every other key copied", async () => {
      // Act
      const kicked = await run("kickoff", ["--source", `s3://${source}/`, "--dest", `s3://${destination}/`, "--json"]);
      assert.equal(kicked.code, 0, kicked.stderr);
      jobId = String(lastJson(kicked).jobId);
      await waitFor("the job to end", settled(jobId, 1), 180_000, 1_000);
      const status = await run("status", ["--job", jobId, "--json"]);

      // Assess
      assert.equal(status.code, 0, status.stderr);
      const s = lastJson(status);
      assert.deepEqual(
        [s.state, s.complete, s.listed, s.copied, s.failed, s.halted],
        ["complete", true, objects.length + 1, objects.length, 1, 0],
      );
      assert.deepEqual(s.queues, { list: 0, copy: 0, listDlq: 0, copyDlq: 1 });
      assert.deepEqual(await checkObjects(moto.s3, destination, objects), []);
    });

    it("report names the failed key with moto's error code, as CSV, and exits 1", async () => {
      // Act
      const report = await run("report", ["--job", jobId]);

      // Assess
      assert.equal(report.code, 1, report.stderr);
      const lines = report.stdout.split("\r\n").filter((l) => l !== "");
      assert.equal(lines[0], "Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage");
      assert.equal(lines.length, 2, report.stdout);
      assert.ok(
        lines[1]?.startsWith(`${source},${encodeURIComponent(ARCHIVED)},,failed,ObjectNotInActiveTierError,403,`),
        `${lines[1]} (key as ${encodeS3ListKey(ARCHIVED)})`,
      );
    });

    // On moto, StartMessageMoveTask is a 500 HTML page (MOTO_DIFFERENCES.messageMove): redrive moves by hand (issue 15).
    it("redrive moves the failure back by hand when StartMessageMoveTask answers a 500 HTML page", async () => {
      // Act
      const redrive = await run("redrive", ["--queue", "copy", "--json"]);

      // Assess: nothing was moved (the key is still archived), so the record is still there to move by hand below.
      assert.equal(redrive.code, 0, redrive.stderr);
      assert.equal(lastJson(redrive).moved, 1);
      const [copyQueue] = lastJson(redrive).queues as Record<string, unknown>[];
      assert.equal(copyQueue?.mode, "manual");
      assert.match(String(copyQueue?.fallback), /StartMessageMoveTask is not SQS's \(HTTP 500/, MOTO_DIFFERENCES.messageMove);
      await waitFor("the redriven key to fail again", settled(jobId, 1), 60_000, 1_000);
    });

    it("redrive --manual sends the failure back; with the object restored the job ends with every key copied", async () => {
      // Prepare: the object is back in an active tier.
      await moto.s3.send(new PutObjectCommand({ Bucket: source, Key: ARCHIVED, Body: "warm again" }));
      await waitFor("the copy DLQ to hold the failure", async () => ((await statusOf(jobId)).queues.copyDlq === 1 ? true : undefined));

      // Act
      const redrive = await run("redrive", ["--manual", "--json"]);
      const done = await waitFor("every key copied", settled(jobId, 0), 90_000, 1_000);
      const report = await run("report", ["--job", jobId]);

      // Assess
      assert.equal(redrive.code, 0, redrive.stderr);
      assert.equal(lastJson(redrive).moved, 1);
      assert.deepEqual(stderrLines(redrive), ["copy DLQ: moved 1", "list DLQ: empty, nothing to move"]);
      assert.deepEqual([done.copied, done.failed, done.listed], [objects.length + 1, 0, objects.length + 1]);
      assert.equal(report.code, 0, report.stderr);
      assert.equal(report.stdout, "Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage\r\n");
      assert.equal((await listKeys(moto.s3, destination)).length, objects.length + 1);
    });
  });

  describe("halt", () => {
    let jobId: string;
    let destination: string;

    it("stops a running job: the queues are purged, no copy lands after it returns, and status counts what it copied", async () => {
      // Prepare: enough keys that moto is still copying when halt arrives.
      const seed = await seeded(generatedKeys(2_500, "h/"));
      destination = seed.destination;
      const kicked = await run("kickoff", ["--source", `s3://${seed.source}/`, "--dest", `s3://${destination}/`, "--json"]);
      assert.equal(kicked.code, 0, kicked.stderr);
      jobId = String(lastJson(kicked).jobId);
      await waitFor(
        "the first copy",
        async () => ((await moto.s3.send(new ListObjectsV2Command({ Bucket: destination, MaxKeys: 1 }))).KeyCount ? true : undefined),
        90_000,
        50,
      );

      // Act
      const halted = await run("halt", ["--job", jobId, "--json"]);
      const atReturn = (await listKeys(moto.s3, destination)).length;
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const later = (await listKeys(moto.s3, destination)).length;
      const status = await run("status", ["--job", jobId, "--json"]);

      // Assess
      assert.equal(halted.code, 0, halted.stderr);
      assert.equal(lastJson(halted).halted, true);
      assert.equal(later, atReturn, "objects appeared in the destination after halt returned");
      assert.equal(status.code, 0, status.stderr);
      const s = lastJson(status);
      assert.ok(Number(s.halted) + Number(s.pendingBatches) > 0, JSON.stringify(s));
      assert.equal(s.copied, later, "the ledger counts exactly the objects in the destination");
      assert.ok(Number(s.copied) < 2_500, `copied ${String(s.copied)} of 2,500: halt came too late to test`);
      assert.deepEqual(s.queues, { list: 0, copy: 0, listDlq: 0, copyDlq: 0 });
    });

    it("status calls the halted job halted and not complete", async () => {
      // Act
      const s = lastJson(await run("status", ["--job", jobId, "--json"]));

      // Assess
      assert.deepEqual([s.state, s.complete], ["halted", false], JSON.stringify(s));
    });

    it("accounts for every listed key after a halt: copied, skipped, vanished, failed or halted", async () => {
      // Act
      const s = lastJson(await run("status", ["--job", jobId, "--json"]));

      // Assess
      const accounted = ["copied", "skipped", "vanished", "failed", "deleted", "halted"].reduce((n, f) => n + Number(s[f]), 0);
      assert.equal(accounted, s.listed, JSON.stringify(s));
    });
  });
});
