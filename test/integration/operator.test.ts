/**
 * kickoff, status and halt as an operator runs them: each a child process
 * against the emulator, reading the outputs file of the local stack that
 * runs the real handlers in this process. Judged by exit code, stderr, the
 * JSON last line, the ledger, the queues and the destination bucket.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { ObjectStore } from "../../lambdas/core/ports.ts";
import { connect, type JobStatus, jobStatus } from "../../scripts/lib/operator.ts";
import { awkwardKeys, checkObjects, ensureBucket, generatedKeys, putObjects, type SeedObject, seedObject } from "../../scripts/lib/seed.ts";
import { queueDepth } from "../../scripts/local/queues.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import {
  assertOneLineError,
  type CommandRun,
  lastJson,
  listKeys,
  runOperator,
  sleep,
  startTestStack,
  stderrLines,
  type TestStack,
  waitFor,
} from "../support/localStack.ts";

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;

interface StatusJson {
  readonly jobId: string;
  readonly state: string;
  readonly complete: boolean;
  readonly listed: number;
  readonly copied: number;
  readonly skipped: number;
  readonly vanished: number;
  readonly failed: number;
  readonly halted: number;
  readonly bytes: number;
  readonly rate: number;
  readonly etaSeconds: number | null;
  readonly pendingBatches: number;
  readonly purgedBatches: number;
  readonly deleted: number;
  readonly queues: { readonly list: number; readonly copy: number; readonly listDlq: number; readonly copyDlq: number };
}

const STATUS_FIELDS = [
  "jobId",
  "deleted",
  "state",
  "complete",
  "listed",
  "copied",
  "skipped",
  "vanished",
  "failed",
  "halted",
  "bytes",
  "rate",
  "etaSeconds",
  "pendingBatches",
  "purgedBatches",
  "queues",
];
const COUNT_FIELDS = ["listed", "copied", "skipped", "vanished", "failed", "halted", "bytes", "pendingBatches", "purgedBatches"] as const;

/** `status --json`'s last line, checked field by field against the documented shape. */
function statusJson(run: CommandRun): StatusJson {
  const s = lastJson(run);
  assert.deepEqual(Object.keys(s).sort(), [...STATUS_FIELDS].sort());
  assert.equal(typeof s.jobId, "string");
  assert.ok(["listing", "copying", "complete", "halted"].includes(String(s.state)), `state ${String(s.state)}`);
  assert.equal(typeof s.complete, "boolean");
  for (const field of COUNT_FIELDS) assert.ok(Number.isInteger(s[field]) && Number(s[field]) >= 0, `${field} = ${String(s[field])}`);
  assert.equal(typeof s.rate, "number");
  assert.ok(s.etaSeconds === null || typeof s.etaSeconds === "number", `etaSeconds = ${String(s.etaSeconds)}`);
  const queues = s.queues;
  assert.ok(typeof queues === "object" && queues !== null);
  const q = queues as Record<string, unknown>;
  assert.deepEqual(Object.keys(q).sort(), ["copy", "copyDlq", "list", "listDlq"]);
  for (const name of ["list", "copy", "listDlq", "copyDlq"]) assert.ok(Number.isInteger(q[name]), `queues.${name} = ${String(q[name])}`);
  return s as unknown as StatusJson;
}

/** The job id a kickoff printed: with --json from its JSON line, else its only stdout line. */
function jobIdOf(run: CommandRun): string {
  assert.equal(run.code, 0, run.stderr);
  const json = lastJson(run);
  assert.equal(typeof json.jobId, "string");
  return String(json.jobId);
}

const totalBytes = (objects: readonly SeedObject[]) => objects.reduce((n, o) => n + o.body.length, 0);

describe("operator commands against the local stack on the emulator", () => {
  let emulator: TestEmulator;
  let dir: string;

  before(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-operator-"));
  });

  after(async () => {
    await emulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (command: string, args: readonly string[], onStderr?: (text: string) => void) =>
    runOperator(command, args, emulator.endpoint, onStderr);

  async function seeded(keys: readonly string[]) {
    const source = bucketName("op-src");
    const destination = bucketName("op-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const objects = [...new Set(keys)].map(seedObject);
    await putObjects(emulator.s3, source, objects, 64);
    return { source, destination, objects };
  }

  /** The job's status as the ledger proves it, read in this process (to wait on, not to test status with). */
  async function statusInProcess(t: TestStack, jobId: string): Promise<JobStatus> {
    const c = await connect({ outputs: t.outputsFile, endpoint: emulator.endpoint });
    try {
      return await jobStatus(c, jobId);
    } finally {
      c.s3.destroy();
      c.sqs.destroy();
    }
  }

  async function ledgerKeys(t: TestStack): Promise<string[]> {
    return listKeys(emulator.s3, t.stack.deployment.ledgerBucket);
  }

  describe("kickoff", () => {
    let t: TestStack;

    before(async () => {
      t = await startTestStack(emulator, dir);
    });

    after(async () => {
      await t.stop();
    });

    it("prints only the job id, writes the spec to the ledger, and the stack copies every key intact", async () => {
      // Prepare
      const { source, destination, objects } = await seeded([...awkwardKeys(), ...generatedKeys(2_000)]);

      // Act
      const kicked = await run("kickoff", ["--source", `s3://${source}/`, "--dest", `s3://${destination}/`, "--outputs", t.outputsFile]);

      // Assess
      assert.equal(kicked.code, 0, kicked.stderr);
      const lines = kicked.stdout.split("\n").filter((l) => l !== "");
      assert.equal(lines.length, 1, kicked.stdout);
      const jobId = lines[0] ?? "";
      assert.match(jobId, JOB_ID);
      const specObject = await emulator.s3.send(
        new GetObjectCommand({ Bucket: t.stack.deployment.ledgerBucket, Key: `jobs/${jobId}/spec.json` }),
      );
      const spec = JSON.parse((await specObject.Body?.transformToString()) ?? "") as Record<string, unknown>;
      assert.equal(spec.id, jobId);
      assert.deepEqual(spec.source, { bucket: source, prefix: "" });
      assert.deepEqual(spec.destination, { bucket: destination, prefix: "" });
      assert.equal(spec.mode, "copy");
      assert.ok(Number.isInteger(spec.ranges) && Number(spec.ranges) > 1, `ranges = ${String(spec.ranges)}`);

      const done = await waitFor(
        "the job to complete",
        async () => {
          const s = await statusInProcess(t, jobId);
          return s.complete ? s : undefined;
        },
        90_000,
        500,
      );
      assert.equal(done.listed, objects.length);
      assert.equal(done.copied, objects.length);
      assert.equal(done.failed, 0);
      assert.deepEqual(await checkObjects(emulator.s3, destination, objects), []);
      assert.equal((await listKeys(emulator.s3, destination)).length, objects.length);
    });

    it("refuses a source or destination bucket that does not exist with one line and exit 3, and starts no job", async () => {
      // Prepare
      const destination = bucketName("op-dst");
      await ensureBucket(emulator.s3, destination);
      const ledgerBefore = await ledgerKeys(t);

      // Act
      const [noSource, noDestination] = await Promise.all([
        run("kickoff", ["--source", "s3://no-such-source-bucket/", "--dest", `s3://${destination}/`, "--outputs", t.outputsFile]),
        run("kickoff", ["--source", `s3://${destination}/`, "--dest", "s3://no-such-destination-bucket/", "--outputs", t.outputsFile]),
      ]);

      // Assess
      assert.equal(noSource.code, 3, noSource.stderr);
      assertOneLineError(noSource, /source bucket "no-such-source-bucket" does not exist/);
      assert.equal(noSource.stdout, "");
      assert.equal(noDestination.code, 3, noDestination.stderr);
      assertOneLineError(noDestination, /destination bucket "no-such-destination-bucket" does not exist/);
      assert.equal(noDestination.stdout, "");
      assert.deepEqual(await ledgerKeys(t), ledgerBefore);
    });

    it("refuses a destination inside the source selection with one line and exit 3", async () => {
      // Prepare
      const bucket = bucketName("op-same");
      await ensureBucket(emulator.s3, bucket);
      const ledgerBefore = await ledgerKeys(t);

      // Act
      const refused = await run("kickoff", [
        "--source",
        `s3://${bucket}/data/`,
        "--dest",
        `s3://${bucket}/data/copy/`,
        "--outputs",
        t.outputsFile,
      ]);

      // Assess
      assert.equal(refused.code, 3, refused.stderr);
      assertOneLineError(refused, /overlaps source/);
      assert.deepEqual(await ledgerKeys(t), ledgerBefore);
    });

    it("refuses a source bucket the stack may not read with one line and exit 3", async () => {
      // Prepare
      const { source, destination } = await seeded(["a"]);
      const outputs = t.stack.outputs();
      const name = t.stack.deployment.stackName;
      const restricted = join(dir, "restricted-outputs.json");
      writeFileSync(restricted, JSON.stringify({ [name]: { ...outputs[name], SourceBuckets: "other-source-a,other-source-b" } }));
      const ledgerBefore = await ledgerKeys(t);

      // Act
      const refused = await run("kickoff", ["--source", `s3://${source}/`, "--dest", `s3://${destination}/`, "--outputs", restricted]);

      // Assess
      assert.equal(refused.code, 3, refused.stderr);
      assertOneLineError(refused, new RegExp(`may not read "${source}" \\(it may read: other-source-a, other-source-b\\)`));
      assert.deepEqual(await ledgerKeys(t), ledgerBefore);
    });

    it("refuses a manifest in a bucket the stack may not read (no -c manifestBucket) with one line and exit 3", async () => {
      // Prepare
      const { source, destination } = await seeded(["a"]);
      const outputs = t.stack.outputs();
      const name = t.stack.deployment.stackName;
      const restricted = join(dir, "manifest-outputs.json");
      const stack = { ...outputs[name], SourceBuckets: source, DestinationBuckets: destination };
      writeFileSync(restricted, JSON.stringify({ [name]: stack }));
      const granted = join(dir, "manifest-granted-outputs.json");
      writeFileSync(granted, JSON.stringify({ [name]: { ...stack, ManifestBuckets: "inventory-bucket" } }));
      const ledgerBefore = await ledgerKeys(t);
      const args = ["--source", `s3://${source}/`, "--dest", `s3://${destination}/`, "--manifest", "s3://inventory-bucket/m/manifest.json"];

      // Act
      const refused = await run("kickoff", [...args, "--outputs", restricted]);
      const allowed = await run("kickoff", [...args, "--outputs", granted]);

      // Assess: refused before anything is written; with the grant it gets past this check (to the missing bucket).
      assert.equal(refused.code, 3, refused.stderr);
      assertOneLineError(
        refused,
        /may not read the manifest bucket "inventory-bucket" .*add it with `npm run configure -- --manifest-bucket inventory-bucket` and `npx cdk deploy`/,
      );
      assert.doesNotMatch(allowed.stderr, /may not read the manifest bucket/);
      assert.deepEqual(await ledgerKeys(t), ledgerBefore);
    });

    it("refuses a malformed URL and a missing --dest with one line and exit 2", async () => {
      // Act
      const [malformed, missing] = await Promise.all([
        run("kickoff", ["--source", "http://bucket/x", "--dest", "s3://some-dst/", "--outputs", t.outputsFile]),
        run("kickoff", ["--source", "s3://some-src/", "--outputs", t.outputsFile]),
      ]);

      // Assess
      assert.equal(malformed.code, 2, malformed.stderr);
      assertOneLineError(malformed, /--source must look like s3:\/\/bucket/);
      assert.equal(missing.code, 2, missing.stderr);
      assertOneLineError(missing, /--dest s3:\/\/BUCKET\[\/PREFIX\] is required/);
    });

    it("names a missing outputs file or a missing output in one line, whichever command reads it", async () => {
      // Prepare
      const outputs = t.stack.outputs();
      const name = t.stack.deployment.stackName;
      const { LedgerBucket: _dropped, ...withoutLedger } = outputs[name] ?? {};
      const lacking = join(dir, "lacking-outputs.json");
      writeFileSync(lacking, JSON.stringify({ [name]: withoutLedger }));
      const absent = join(dir, "no-such-outputs.json");

      // Act
      const [kickoffAbsent, statusAbsent, haltAbsent, kickoffLacking] = await Promise.all([
        run("kickoff", ["--source", "s3://some-src/", "--dest", "s3://some-dst/", "--outputs", absent]),
        run("status", ["--job", "some-job", "--outputs", absent]),
        run("halt", ["--job", "some-job", "--outputs", absent]),
        run("kickoff", ["--source", "s3://some-src/", "--dest", "s3://some-dst/", "--outputs", lacking]),
      ]);

      // Assess
      for (const absentRun of [kickoffAbsent, statusAbsent, haltAbsent]) {
        assert.equal(absentRun.code, 2, absentRun.stderr);
        assertOneLineError(absentRun, /cannot read outputs file .*no-such-outputs\.json/);
      }
      assert.equal(kickoffLacking.code, 3, kickoffLacking.stderr);
      assertOneLineError(kickoffLacking, /outputs lack "LedgerBucket"/);
    });
  });

  describe("status", () => {
    let t: TestStack;
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });

    before(async () => {
      // Copies wait at a gate, so the job is provably unfinished while status looks at it.
      t = await startTestStack(emulator, dir, {
        wrapStore: (store: ObjectStore): ObjectStore => ({
          listPage: (request) => store.listPage(request),
          copy: async (request) => {
            await gate;
            await store.copy(request);
          },
        }),
      });
    });

    after(async () => {
      openGate();
      await t.stop();
    });

    it("reports a running job as listing or copying, then --watch follows it to completion with every count", async () => {
      // Prepare
      const { source, destination, objects } = await seeded([...awkwardKeys(), ...generatedKeys(1_000)]);
      const kicked = await run("kickoff", [
        "--source",
        `s3://${source}/`,
        "--dest",
        `s3://${destination}/`,
        "--outputs",
        t.outputsFile,
        "--json",
      ]);
      const jobId = jobIdOf(kicked);
      const kickoffJson = lastJson(kicked);
      assert.deepEqual(Object.keys(kickoffJson).sort(), ["jobId", "ledger", "ranges"]);
      assert.match(jobId, JOB_ID);
      assert.ok(Number.isInteger(kickoffJson.ranges) && Number(kickoffJson.ranges) > 1);
      assert.equal(kickoffJson.ledger, `s3://${t.stack.deployment.ledgerBucket}/jobs/${jobId}/`);

      // Act
      const during = await run("status", ["--job", jobId, "--outputs", t.outputsFile, "--json"]);
      let watchWaiting = false;
      const watching = run("status", ["--job", jobId, "--watch", "--interval", "1", "--outputs", t.outputsFile, "--json"], (text) => {
        watchWaiting ||= text.includes("progress:");
      });
      await waitFor("status --watch to show progress", async () => (watchWaiting ? true : undefined));
      openGate();
      const watched = await watching;

      // Assess
      assert.equal(during.code, 0, during.stderr);
      const running = statusJson(during);
      assert.equal(running.jobId, jobId);
      assert.ok(running.state === "listing" || running.state === "copying", `state ${running.state}`);
      assert.equal(running.complete, false);
      assert.equal(running.copied, 0);
      assert.equal(running.failed, 0);

      assert.equal(watched.code, 0, watched.stderr);
      const finished = statusJson(watched);
      assert.equal(finished.jobId, jobId);
      assert.equal(finished.state, "complete");
      assert.equal(finished.complete, true);
      assert.equal(finished.listed, objects.length);
      assert.equal(finished.copied, objects.length);
      assert.equal(finished.failed, 0);
      assert.equal(finished.vanished, 0);
      assert.equal(finished.halted, 0);
      assert.equal(finished.pendingBatches, 0);
      assert.equal(finished.bytes, totalBytes(objects));
      assert.equal(finished.etaSeconds, 0);
      assert.equal((await listKeys(emulator.s3, destination)).length, objects.length);
    });

    it("refuses a job that is not in the ledger with one line and exit 3", async () => {
      // Act
      const unknown = await run("status", ["--job", "no-such-job", "--outputs", t.outputsFile, "--json"]);

      // Assess
      assert.equal(unknown.code, 3, unknown.stderr);
      assertOneLineError(unknown, /no job "no-such-job" in the ledger/);
      assert.equal(unknown.stdout, "");
    });
  });

  describe("halt", () => {
    const SEEDED = 4_000;
    /** Simulated S3 latency, so that the job is still listing and copying when halt arrives. */
    const LIST_LATENCY_MS = 60;
    const COPY_LATENCY_MS = 50;
    let t: TestStack;
    /** performance.now() at the start of every copy and every list page the stack asked for. */
    const copyStarts: number[] = [];
    const listStarts: number[] = [];
    let copiesDone = 0;

    before(async () => {
      t = await startTestStack(emulator, dir, {
        listConcurrency: 2,
        listTimeoutMs: 500,
        pageSize: 100,
        copyInvocations: 2,
        copyConcurrency: 8,
        copyBatchSize: 2,
        haltTtlMs: 500,
        wrapStore: (store: ObjectStore): ObjectStore => ({
          listPage: async (request) => {
            listStarts.push(performance.now());
            await sleep(LIST_LATENCY_MS);
            return store.listPage(request);
          },
          copy: async (request) => {
            copyStarts.push(performance.now());
            await sleep(COPY_LATENCY_MS);
            await store.copy(request);
            copiesDone++;
          },
        }),
      });
    });

    after(async () => {
      await t.stop();
    });

    it("stops a running job: once halt returns no copy starts, nothing is re-enqueued, and status reports it halted", async (ctx) => {
      // Prepare
      const { source, destination } = await seeded(generatedKeys(SEEDED));
      const jobId = jobIdOf(
        await run("kickoff", ["--source", `s3://${source}/`, "--dest", `s3://${destination}/`, "--outputs", t.outputsFile, "--json"]),
      );
      await waitFor("the first copies", async () => (copiesDone >= 50 ? true : undefined), 90_000, 20);

      // Act
      const haltStarted = performance.now();
      const halted = await run("halt", ["--job", jobId, "--outputs", t.outputsFile, "--json"]);
      const copiedAtReturn = (await listKeys(emulator.s3, destination)).length;
      const depths: { list: number; copy: number }[] = [];
      for (let i = 0; i < 8; i++) {
        const [list, copy] = await Promise.all([
          queueDepth(emulator.sqs, t.stack.queues.list.url),
          queueDepth(emulator.sqs, t.stack.queues.copy.url),
        ]);
        depths.push({ list, copy });
        await sleep(500);
      }
      const copiedLater = (await listKeys(emulator.s3, destination)).length;
      const [reported, watched] = await Promise.all([
        run("status", ["--job", jobId, "--outputs", t.outputsFile, "--json"]),
        run("status", ["--job", jobId, "--watch", "--interval", "1", "--outputs", t.outputsFile, "--json"]),
      ]);

      // Assess
      assert.equal(halted.code, 0, halted.stderr);
      assert.deepEqual(lastJson(halted), {
        jobId,
        halted: true,
        purged: [t.stack.deployment.listQueueUrl, t.stack.deployment.copyQueueUrl],
      });
      assert.equal(stderrLines(halted).at(-1), `halted job ${jobId}; purged 2 queues`);
      assert.ok(
        listStarts.some((at) => at > haltStarted),
        "the job was still listing when halt began",
      );
      assert.ok(
        copyStarts.some((at) => at > haltStarted),
        "the job was still copying when halt began",
      );
      const lateCopies = copyStarts.filter((at) => at > halted.exitedAt).length;
      assert.equal(lateCopies, 0, `${lateCopies} copies started after halt returned`);
      assert.equal(copiedLater, copiedAtReturn, "objects appeared in the destination after halt returned");
      assert.deepEqual(
        depths.filter((d) => d.list !== 0 || d.copy !== 0),
        [],
        "messages were enqueued after the purge",
      );

      assert.equal(reported.code, 0, reported.stderr);
      const status = statusJson(reported);
      assert.equal(status.jobId, jobId);
      assert.equal(status.state, "halted");
      assert.equal(status.complete, false);
      assert.ok(status.listed < SEEDED, `listed ${status.listed} of ${SEEDED}: the listing was not stopped`);
      assert.ok(status.copied < SEEDED, `copied ${status.copied} of ${SEEDED}`);
      assert.equal(status.copied, copiedLater, "the ledger counts exactly the objects in the destination");
      assert.ok(status.halted + status.pendingBatches > 0, `halted ${status.halted}, pending batches ${status.pendingBatches}`);
      assert.equal(status.failed, 0);
      assert.deepEqual(status.queues, { list: 0, copy: 0, listDlq: 0, copyDlq: 0 });
      assert.equal(watched.code, 1, `status --watch of a halted job ends at once and is not a success: ${watched.stderr}`);
      assert.equal(statusJson(watched).state, "halted");
      ctx.diagnostic(
        `listed ${status.listed}, copied ${status.copied}, halted ${status.halted}, pending batches ${status.pendingBatches}; ` +
          `${listStarts.filter((at) => at > haltStarted).length} list pages and ${copyStarts.filter((at) => at > haltStarted).length} copies started after halt began`,
      );
    });

    it("refuses a job that is not in the ledger with one line and exit 3, writing no marker", async () => {
      // Act
      const unknown = await run("halt", ["--job", "no-such-job", "--outputs", t.outputsFile, "--json"]);

      // Assess
      assert.equal(unknown.code, 3, unknown.stderr);
      assertOneLineError(unknown, /no job "no-such-job" in the ledger/);
      assert.deepEqual(await listKeys(emulator.s3, t.stack.deployment.ledgerBucket, "jobs/no-such-job/"), []);
    });
  });
  describe("halt, accounted", () => {
    const SEEDED = 1_500;
    let t: TestStack;
    /** Source keys copied, in order, so that the test can tell which keys a rerun copied. */
    const copied: string[] = [];
    /** While set, every copy's answer is held until it resolves: the one copy invocation then takes no more work. */
    let held: Promise<void> | undefined;
    let holding = 0;

    before(async () => {
      // One copy invocation whose answers the test can hold: the copy queue then still holds batches when halt purges it.
      t = await startTestStack(emulator, dir, {
        listConcurrency: 2,
        pageSize: 100,
        copyInvocations: 1,
        copyConcurrency: 4,
        copyBatchSize: 5,
        haltTtlMs: 500,
        wrapStore: (store: ObjectStore): ObjectStore => ({
          listPage: (request) => store.listPage(request),
          copy: async (request) => {
            await sleep(20);
            await store.copy(request);
            copied.push(request.sourceKey);
            if (held !== undefined) {
              holding++;
              await held;
            }
          },
        }),
      });
    });

    after(async () => {
      await t.stop();
    });

    it("counts the keys of batches the halt purged as halted in status and report --all, and a --sync rerun copies exactly them", async (ctx) => {
      // Prepare: a job whose copies are held mid-way, so that its batches wait in the copy queue.
      const { source, destination, objects } = await seeded(generatedKeys(SEEDED, "acct/"));
      let release: () => void = () => {};
      const jobId = jobIdOf(
        await run("kickoff", ["--source", `s3://${source}/`, "--dest", `s3://${destination}/`, "--outputs", t.outputsFile, "--json"]),
      );
      await waitFor("the first copies", async () => (copied.length >= 50 ? true : undefined), 90_000, 10);
      held = new Promise<void>((resolve) => {
        release = resolve;
      });
      await waitFor("a held copy", async () => (holding > 0 ? true : undefined), 90_000, 10);

      // Act: halt (it purges the waiting batches), let the held answers go, then status, report and a sync rerun.
      const halted = await run("halt", ["--job", jobId, "--outputs", t.outputsFile, "--json"]);
      held = undefined;
      release();
      // The held copies' invocation records its batches (the keys it had not begun are halted): wait for it.
      const inDestination = await waitFor("the halted job's last outcomes", async () => {
        const [s, keys] = await Promise.all([statusInProcess(t, jobId), listKeys(emulator.s3, destination)]);
        return s.copied === keys.length ? new Set(keys) : undefined;
      });
      const reported = await run("status", ["--job", jobId, "--outputs", t.outputsFile, "--json"]);
      const out = join(dir, `${jobId}-all.csv`);
      const report = await run("report", ["--job", jobId, "--all", "--out", out, "--outputs", t.outputsFile, "--json"]);
      const rerunFrom = copied.length;
      const rerunId = jobIdOf(
        await run("kickoff", [
          "--source",
          `s3://${source}/`,
          "--dest",
          `s3://${destination}/`,
          "--sync",
          "--outputs",
          t.outputsFile,
          "--json",
        ]),
      );
      const rerun = await waitFor("the sync rerun", async () => {
        const s = await statusInProcess(t, rerunId);
        return s.complete ? s : undefined;
      });
      const rerunCopied = copied.slice(rerunFrom);

      // Assess: halted, not complete, and every listed key copied or halted (nothing here fails or vanishes).
      assert.equal(halted.code, 0, halted.stderr);
      assert.equal(reported.code, 0, reported.stderr);
      const status = statusJson(reported);
      assert.deepEqual([status.state, status.complete, status.pendingBatches, status.failed], ["halted", false, 0, 0]);
      assert.ok(status.purgedBatches > 0, `no batch was purged: ${JSON.stringify(status)}`);
      assert.ok(status.halted >= status.purgedBatches, `halted ${status.halted}`);
      assert.equal(status.copied, inDestination.size, "the ledger counts exactly the objects in the destination");
      // The listing ended before the halt (only copies were held): a sum that adds up to a shrunken `listed` would not do.
      assert.equal(status.listed, SEEDED);
      assert.equal(
        status.copied + status.skipped + status.vanished + status.failed + status.deleted + status.halted,
        status.listed,
        JSON.stringify(status),
      );
      // report --all: a row for each copied key and none for a halted one, whose count its JSON and stderr give.
      assert.equal(report.code, 0, report.stderr);
      assert.deepEqual(lastJson(report), {
        jobId,
        failed: 0,
        vanished: 0,
        halted: status.halted,
        rows: status.copied,
        out,
        complete: false,
      });
      const rows = readFileSync(out, "utf8").split("\r\n").slice(1, -1);
      assert.deepEqual(rows.map((r) => decodeURIComponent(r.split(",")[1] ?? "")).sort(), [...inDestination].sort());
      assert.match(report.stderr, new RegExp(`job ${jobId} was halted: ${status.halted} keys not copied`));
      // The rerun copied exactly the keys the halted job had not, each once.
      const missing = objects.map((o) => o.key).filter((k) => !inDestination.has(k));
      assert.deepEqual([...rerunCopied].sort(), missing.sort());
      assert.deepEqual(
        [rerun.listed, rerun.copied, rerun.skipped, rerun.failed, rerun.halted],
        [SEEDED, missing.length, inDestination.size, 0, 0],
      );
      assert.deepEqual(await checkObjects(emulator.s3, destination, objects), []);
      ctx.diagnostic(
        `halted job: listed ${status.listed}, copied ${status.copied}, halted ${status.halted} (${status.purgedBatches} batches purged); ` +
          `the sync rerun copied ${rerun.copied} and skipped ${rerun.skipped}`,
      );
    });
  });
});
