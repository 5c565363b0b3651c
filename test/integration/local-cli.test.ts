/**
 * `npm run local` as an operator runs it: a child process against the
 * emulator, judged by its exit code, stderr and the JSON last line.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sortKeys } from "../../lambdas/core/keyOrder.ts";
import { awkwardKeys, checkObjects, ensureBucket, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { assertOneLineError, lastJson, runOperator } from "../support/localStack.ts";

describe("npm run local", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  it("copies a bucket of awkward keys it has never seen and reports failed: 0 as JSON", async () => {
    const source = bucketName("cli-src");
    const destination = bucketName("cli-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const objects = awkwardKeys().map((k, i) => seedObject(`in/${k}`, i));
    await putObjects(emulator.s3, source, objects);

    const run = await runOperator(
      "local",
      ["--source", `s3://${source}/in/`, "--dest", `s3://${destination}/out/`, "--endpoint", emulator.endpoint, "--json"],
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
    assert.deepEqual(lastJson(report), { jobId: summary.jobId, failed: 0, vanished: 0, rows: objects.length, out, complete: true });
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

  it("reports an unreachable endpoint with one line and exit 3", async () => {
    const run = await runOperator("local", ["--source", "s3://a-src/", "--dest", "s3://b-dst/", "--endpoint", "http://127.0.0.1:9"], "");
    assert.equal(run.code, 3);
    assertOneLineError(run, /cannot reach source bucket/);
  });
});
