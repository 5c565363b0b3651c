/**
 * sync --delete against the emulator: keys only the destination has are
 * deleted once the whole listing is done, awkward keys included, so that
 * verify finds no difference either way; a ledger's records are never
 * deleted; --max-delete refuses all or nothing; a listing that failed
 * deletes nothing; kickoff on the local stack does the same, and report
 * --all names each deletion.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { sortKeys } from "../../lambdas/core/keyOrder.ts";
import type { ListPageRequest, ObjectStore } from "../../lambdas/core/ports.ts";
import { DELETED_MESSAGE, jobReport } from "../../scripts/lib/report.ts";
import { awkwardKeys, ensureBucket, generatedKeys, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { s3VerifyDeps, verifySelections } from "../../scripts/lib/verify.ts";
import { LOCAL_LEDGER_BUCKET, type LocalJobOptions, runLocalJob } from "../../scripts/local/job.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { assertOneLineError, lastJson, listKeys, runOperator, startTestStack, waitFor } from "../support/localStack.ts";

const awkward = awkwardKeys();

describe("sync --delete", () => {
  let emulator: TestEmulator;
  let dir: string;

  before(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-delete-"));
  });

  after(async () => {
    await emulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A source of awkward and generated keys copied once to `copy/`; then some deleted from the source, and keys only the destination has. */
  async function prepare(name: string) {
    const source = bucketName(`${name}-src`);
    const destination = bucketName(`${name}-dst`);
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const keys = [...awkward, ...generatedKeys(1_200, "g/")];
    await putObjects(emulator.s3, source, keys.map(seedObject));
    const job: LocalJobOptions = {
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "copy/" },
      endpoint: emulator.endpoint,
      logLevel: "SILENT",
      // Small pages, early splits and short invocations: many ranges, stretches and continuations.
      pageSize: 50,
      splitAfterPages: 2,
      splitPartPages: 2,
      listTimeoutMs: 1_500,
    };
    const first = await runLocalJob({ ...job, jobOptions: { sync: true } });
    assert.equal(first.copied, keys.length);
    // Every other awkward key and every fifth generated key leave the source...
    const gone = [...awkward.filter((_, i) => i % 2 === 0), ...generatedKeys(1_200, "g/").filter((_, i) => i % 5 === 0)];
    for (const key of gone) await emulator.s3.send(new DeleteObjectCommand({ Bucket: source, Key: key }));
    // ...and the destination gains keys the source never had, awkward ones among them.
    const onlyInDestination = ["zz-only-here", ...awkward.slice(0, 5).map((k) => `${k}.orphan`)];
    for (const key of onlyInDestination)
      await emulator.s3.send(new PutObjectCommand({ Bucket: destination, Key: `copy/${key}`, Body: "x" }));
    // A ledger's records inside the destination selection, and a key outside it.
    const ledgerKeys = ["copy/jobs/J1/spec.json", "copy/jobs/J1/batches/b1.json", "copy/.s3-fanout/jobs/J2/spec.json"];
    for (const key of [...ledgerKeys, "elsewhere/keep-me"])
      await emulator.s3.send(new PutObjectCommand({ Bucket: destination, Key: key, Body: "{}" }));
    return { source, destination, job, keys, gone, onlyInDestination, ledgerKeys };
  }

  it("deletes exactly what only the destination has, awkward keys included; verify then finds no difference either way", async () => {
    // Prepare
    const { source, destination, job, keys, gone, onlyInDestination, ledgerKeys } = await prepare("del");

    // Act
    const result = await runLocalJob({ ...job, jobOptions: { sync: true, delete: true } });

    // Assess: every extra key deleted, nothing else; the ledger records and the key outside the selection stay.
    const expectedDeleted = gone.length + onlyInDestination.length;
    assert.deepEqual(
      { complete: result.complete, copied: result.copied, failed: result.failed, deleted: result.deleted, toDelete: result.toDelete },
      { complete: true, copied: 0, failed: 0, deleted: expectedDeleted, toDelete: expectedDeleted },
    );
    const remaining = await listKeys(emulator.s3, destination);
    const kept = new Set(keys.filter((k) => !gone.includes(k)));
    assert.deepEqual(sortKeys(remaining), sortKeys([...[...kept].map((k) => `copy/${k}`), ...ledgerKeys, "elsewhere/keep-me"]));
    const differences: string[] = [];
    const counts = await verifySelections({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "copy/" },
      ...s3VerifyDeps(emulator.s3),
      onDifference: (d) => differences.push(`${d.kind} ${d.key}`),
    });
    // Only the ledger records (which the job must never delete) are in the destination alone.
    assert.deepEqual(sortKeys(differences), sortKeys(ledgerKeys.map((k) => `extra ${k.slice("copy/".length)}`)));
    assert.equal(counts.missing + counts.different, 0);

    // The ledger names every deletion: report --all lists each as deleted, in the destination's key space.
    const ledger = new S3Ledger(emulator.s3, LOCAL_LEDGER_BUCKET);
    const report = await jobReport({ ledger }, result.jobId, { all: true });
    const deletedRows = report.rows.filter((r) => r.ResultMessage === DELETED_MESSAGE);
    assert.deepEqual(
      sortKeys(deletedRows.map((r) => decodeURIComponent(r.Key))),
      sortKeys([...gone, ...onlyInDestination].map((k) => `copy/${k}`)),
    );
    assert.ok(deletedRows.every((r) => r.Bucket === destination && r.TaskStatus === "succeeded"));
  });

  it("deletes none past --max-delete, says so in one line and exits 1, and the copies it made stand", async () => {
    // Prepare: one more key to copy, so the job has a copy that must stand.
    const { source, destination, gone, onlyInDestination } = await prepare("maxdel");
    await emulator.s3.send(new PutObjectCommand({ Bucket: source, Key: "new/ünïcode key", Body: "new" }));
    const before = await listKeys(emulator.s3, destination);
    const extra = gone.length + onlyInDestination.length;

    // Act
    const run = await runOperator(
      "local",
      [
        "--source",
        `s3://${source}/`,
        "--dest",
        `s3://${destination}/copy/`,
        "--sync",
        "--delete",
        "--max-delete",
        String(extra - 1),
        "--json",
        "--quiet",
      ],
      emulator.endpoint,
    );

    // Assess
    assert.equal(run.code, 1, run.stderr);
    const refusals = run.stderr.split("\n").filter((l) => l.startsWith("deleted none"));
    assert.equal(refusals.length, 1);
    assert.match(refusals[0] ?? "", new RegExp(`${extra} keys are only in the destination, more than --max-delete ${extra - 1}`));
    const summary = lastJson(run);
    assert.equal(summary.deleted, 0);
    assert.equal(summary.copied, 1);
    assert.deepEqual(sortKeys(await listKeys(emulator.s3, destination)), sortKeys([...before, "copy/new/ünïcode key"]));
  });

  it("deletes nothing when part of the listing failed", async () => {
    // Prepare: the listing of one stretch of the source is refused for good.
    const { destination, job } = await prepare("failed-listing");
    const before = await listKeys(emulator.s3, destination);
    const refuse = (store: ObjectStore): ObjectStore => ({
      copy: (r) => store.copy(r),
      listPage: async (r: ListPageRequest) => {
        if (r.bucket === job.source.bucket && (r.startAfter ?? "") >= "g/" && (r.startAfter ?? "") < "h")
          throw Object.assign(new Error("Access Denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } });
        return store.listPage(r);
      },
    });

    // Act
    const result = await runLocalJob({ ...job, jobOptions: { sync: true, delete: true }, wrapStore: refuse, stallMs: 2_000 });

    // Assess: the job is not complete, decided no deletion, and the destination is as it was.
    assert.equal(result.complete, false);
    assert.equal(result.rangesCovered, false);
    assert.equal(result.deleted, 0);
    assert.deepEqual(sortKeys(await listKeys(emulator.s3, destination)), sortKeys(before));
  });

  it("refuses --delete without --sync, and --max-delete without --delete, with one line", async () => {
    const noSync = await runOperator("local", ["--source", "s3://aaa-src/", "--dest", "s3://bbb-dst/", "--delete"], emulator.endpoint);
    assert.equal(noSync.code, 2);
    assertOneLineError(noSync, /--delete needs --sync/);
    const noDelete = await runOperator(
      "kickoff",
      ["--source", "s3://aaa-src/", "--dest", "s3://bbb-dst/", "--sync", "--max-delete", "5"],
      emulator.endpoint,
    );
    assert.equal(noDelete.code, 2);
    assertOneLineError(noDelete, /--max-delete needs --delete/);
  });

  it("kickoff --sync --delete on the stack deletes once the job is listed; status and report --all show it", async () => {
    // Prepare
    const { source, destination, gone, onlyInDestination } = await prepare("kick");
    const stack = await startTestStack(emulator, dir, { pageSize: 50, splitAfterPages: 2, splitPartPages: 2 });
    try {
      // Act
      const started = await runOperator(
        "kickoff",
        [
          "--source",
          `s3://${source}/`,
          "--dest",
          `s3://${destination}/copy/`,
          "--sync",
          "--delete",
          "--outputs",
          stack.outputsFile,
          "--json",
        ],
        emulator.endpoint,
      );
      assert.equal(started.code, 0, started.stderr);
      const jobId = String(lastJson(started).jobId);
      const status = await waitFor("the job to complete", async () => {
        const run = await runOperator("status", ["--job", jobId, "--outputs", stack.outputsFile, "--json"], emulator.endpoint);
        const s = lastJson(run);
        return s.complete === true ? s : undefined;
      });

      // Assess
      const expected = gone.length + onlyInDestination.length;
      assert.equal(status.deleted, expected);
      const report = await runOperator("report", ["--job", jobId, "--all", "--outputs", stack.outputsFile], emulator.endpoint);
      assert.equal(report.code, 0, report.stderr);
      assert.equal(report.stdout.split("\r\n").filter((l) => l.endsWith(DELETED_MESSAGE)).length, expected);
    } finally {
      await stack.stop();
    }
  });
});
