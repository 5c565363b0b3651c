/**
 * Stack options: context parsing, rejected combinations (one clear message each), and a stack
 * with KMS keys and an existing ledger bucket, checked with cdk-nag too. Built once (before()).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { App, type CfnElement, Duration, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { stackPropsFromContext } from "../../lib/context.ts";
import { LedgerBucket } from "../../lib/ledger-bucket.ts";
import { PipelineFunction } from "../../lib/pipeline-function.ts";
import { S3FanoutStack, type S3FanoutStackProps } from "../../lib/s3-fanout-stack.ts";
import { WorkQueue } from "../../lib/work-queue.ts";
import { asArray, describeFindings, identityStatements, render, type TestApp, testApp, unacknowledgedNagFindings } from "./helpers.ts";

const SOURCE_KEY = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555";
const DESTINATION_KEY = "arn:aws:kms:eu-west-1:123456789012:key/66666666-7777-8888-9999-000000000000";

/** Constructs a stack in a fresh app; the checks under test throw before any bundling. */
const construct = (props: Partial<S3FanoutStackProps>) =>
  new S3FanoutStack(new App(), "S3Fanout", { sourceBuckets: ["src"], destinationBuckets: ["dst"], ...props });

describe("context", () => {
  test("reads comma-separated bucket lists, keys, the ledger and concurrency", () => {
    const app = new App({
      context: {
        sourceBucket: " a , b,,c ",
        destinationBucket: "d",
        sourceKmsKeyArn: SOURCE_KEY,
        ledgerBucket: "ledger",
        listMaxConcurrency: "4",
        copyMaxConcurrency: 80,
      },
    });
    assert.deepEqual(stackPropsFromContext(app), {
      sourceBuckets: ["a", "b", "c"],
      destinationBuckets: ["d"],
      sourceKmsKeyArn: SOURCE_KEY,
      destinationKmsKeyArn: undefined,
      ledgerBucket: "ledger",
      listMaxConcurrency: 4,
      copyMaxConcurrency: 80,
      copyConcurrency: undefined,
      manifestBuckets: [],
      ledgerKmsKeyArn: undefined,
      alarmEmail: undefined,
      schedule: undefined,
      scheduledJob: undefined,
      allowDelete: undefined,
      live: undefined,
      liveDelete: undefined,
      liveJob: undefined,
    });
  });

  test("accepts JSON arrays from cdk.json", () => {
    const app = new App({ context: { sourceBucket: ["a", "b"], destinationBucket: ["c"] } });
    assert.deepEqual(stackPropsFromContext(app).sourceBuckets, ["a", "b"]);
  });

  test("rejects a concurrency that is not a whole number", () => {
    const app = new App({ context: { copyMaxConcurrency: "lots" } });
    assert.throws(() => stackPropsFromContext(app), { message: 'context "copyMaxConcurrency" must be a whole number, got "lots"' });
  });
});

describe("rejected options", () => {
  test("a stack without source buckets throws, naming the context to pass", () => {
    assert.throws(() => construct({ sourceBuckets: [] }), /no source bucket: pass -c sourceBucket=NAME/);
    assert.throws(() => new S3FanoutStack(new App(), "S3Fanout", stackPropsFromContext(new App())), /no source bucket/);
  });

  test("a stack without destination buckets throws", () => {
    assert.throws(() => construct({ destinationBuckets: [" "] }), /no destination bucket: pass -c destinationBucket=NAME/);
  });

  test("bucket names that would widen IAM (wildcards, ARNs, prefixes) are rejected", () => {
    for (const name of ["*", "bucket*", "arn:aws:s3:::bucket", "bucket/prefix"]) {
      assert.throws(() => construct({ sourceBuckets: [name] }), /source bucket names must be plain bucket names/, name);
      assert.throws(() => construct({ destinationBuckets: [name] }), /destination bucket names must be plain bucket names/, name);
    }
  });

  test("a ledger bucket that is also a source or destination is rejected", () => {
    assert.throws(() => construct({ ledgerBucket: "src" }), /ledgerBucket "src" is also a source or destination bucket/);
    assert.throws(() => construct({ ledgerBucket: "dst" }), /ledgerBucket "dst" is also a source or destination bucket/);
  });

  test("maximum concurrency outside Lambda's 2-1000 is rejected", () => {
    assert.throws(() => construct({ listMaxConcurrency: 1 }), /listMaxConcurrency must be an integer from 2 to 1000/);
    assert.throws(() => construct({ copyMaxConcurrency: 1001 }), /copyMaxConcurrency must be an integer from 2 to 1000/);
  });

  test("a KMS alias instead of a key ARN is rejected", () => {
    assert.throws(
      () => construct({ destinationKmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:alias/backup" }),
      /destinationKmsKeyArn must be a KMS key ARN/,
    );
  });

  test("a work queue whose visibility timeout is under 6 x its consumer's timeout is rejected", () => {
    assert.throws(
      () => new WorkQueue(new Stack(), "Work", { consumerTimeout: Duration.minutes(5), visibilityTimeout: Duration.minutes(10) }),
      /visibilityTimeout \(600 s\) must be at least 6 x consumerTimeout \(1800 s\)/,
    );
  });

  test("a pipeline function may not override the Powertools variables it fixes", () => {
    assert.throws(
      () =>
        new PipelineFunction(new Stack(), "Fn", {
          entry: "lambdas/list/index.ts",
          timeout: Duration.minutes(1),
          environment: { POWERTOOLS_SERVICE_NAME: "other" },
        }),
      /environment must not set POWERTOOLS_SERVICE_NAME/,
    );
  });

  test("access-log options of a created ledger are rejected with an existing ledger bucket", () => {
    assert.throws(
      () => new LedgerBucket(new Stack(), "Ledger", { existingBucketName: "ledger", serverAccessLogs: true }),
      /apply only to a ledger bucket the stack creates/,
    );
  });
});

describe("KMS keys and an existing ledger bucket", () => {
  let built: TestApp;
  let stack: S3FanoutStack;
  let resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  let nag: ReturnType<typeof unacknowledgedNagFindings>;

  before(() => {
    built = testApp(
      {
        sourceBucket: "src",
        destinationBucket: "dst",
        sourceKmsKeyArn: SOURCE_KEY,
        destinationKmsKeyArn: DESTINATION_KEY,
        ledgerBucket: "ops-ledger",
      },
      { nag: true },
    );
    stack = new S3FanoutStack(built.app, "S3Fanout", stackPropsFromContext(built.app));
    nag = unacknowledgedNagFindings(built);
    resources = Template.fromStack(stack).toJSON().Resources;
  });

  after(() => built.dispose());

  const kmsGrants = (role: string) =>
    identityStatements(resources)
      .filter((s) => s.owner === role && asArray(s.statement.Action).some((a) => a.startsWith("kms:")))
      .map((s) => ({ actions: [...asArray(s.statement.Action)].sort(), resources: asArray(s.statement.Resource).map(render) }));
  const roleId = (fn: PipelineFunction) => stack.getLogicalId(fn.role.node.defaultChild as CfnElement);

  test("without concurrency in context, the list event source allows 32 invocations at once and the copy one 50", () => {
    const mappings = Object.values(resources).filter((r) => r.Type === "AWS::Lambda::EventSourceMapping");
    const concurrencyOf = (fn: PipelineFunction) =>
      mappings
        .filter(
          (r) =>
            render((r.Properties as { FunctionName: unknown }).FunctionName) ===
            render({ Ref: stack.getLogicalId(fn.fn.node.defaultChild as CfnElement) }),
        )
        .map((r) => (r.Properties as { ScalingConfig?: { MaximumConcurrency?: number } }).ScalingConfig?.MaximumConcurrency);
    assert.deepEqual(concurrencyOf(stack.lister), [32]);
    assert.deepEqual(concurrencyOf(stack.copier), [50]);
  });

  test("the copy role may decrypt with the source key and encrypt with the destination key", () => {
    assert.deepEqual(kmsGrants(roleId(stack.copier)), [
      { actions: ["kms:Decrypt"], resources: [SOURCE_KEY] },
      { actions: ["kms:Decrypt", "kms:GenerateDataKey"], resources: [DESTINATION_KEY] },
    ]);
  });

  test("the list role may decrypt with the source key only (HEAD of manifest rows), never encrypt", () => {
    assert.deepEqual(kmsGrants(roleId(stack.lister)), [{ actions: ["kms:Decrypt"], resources: [SOURCE_KEY] }]);
  });

  test("no ledger bucket is created; both roles read and write the named one", () => {
    assert.deepEqual(
      Object.values(resources).filter((r) => r.Type === "AWS::S3::Bucket"),
      [],
    );
    for (const fn of [stack.lister, stack.copier]) {
      const ledger = identityStatements(resources)
        .filter((s) => s.owner === roleId(fn))
        .flatMap((s) => asArray(s.statement.Resource).map(render))
        .filter((r) => r.includes("ops-ledger"));
      assert.deepEqual(ledger.sort(), ["arn:aws:s3:::ops-ledger", "arn:aws:s3:::ops-ledger/*"]);
      const env = (resources[stack.getLogicalId(fn.fn.node.defaultChild as CfnElement)]?.Properties.Environment ?? {}) as {
        Variables?: Record<string, unknown>;
      };
      assert.equal(env.Variables?.LEDGER_BUCKET, "ops-ledger");
    }
  });

  test("cdk-nag finds nothing unacknowledged in this configuration either", () => {
    assert.deepEqual(nag.findings, [], describeFindings(nag.findings));
    assert.equal(nag.synthError, undefined);
  });
});
