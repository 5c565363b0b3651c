/**
 * Live changes in the stack: the rule matches the job's bucket and prefix and
 * feeds a queue with a DLQ; the live function may only read the job's source,
 * write its destination, and delete there only with liveDelete; bad settings
 * fail synth with one line; without `live` nothing of it is in the template.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Template } from "aws-cdk-lib/assertions";
import { stackPropsFromContext } from "../../lib/context.ts";
import { S3FanoutStack } from "../../lib/s3-fanout-stack.ts";
import { describeFindings, type TestApp, testApp, unacknowledgedNagFindings } from "./helpers.ts";

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

const BASE = { sourceBucket: "src-a,src-b", destinationBucket: "dst-c" };
const JOB = "--source s3://src-a/in/ --dest s3://dst-c/out/ --exclude '*.tmp'";

const apps: TestApp[] = [];
after(() => {
  for (const a of apps) a.dispose();
});

function build(context: Record<string, unknown>, nag = false) {
  const t = testApp(context, { nag });
  apps.push(t);
  const stack = new S3FanoutStack(t.app, "S3Fanout", stackPropsFromContext(t.app));
  return { t, stack };
}

function synthError(context: Record<string, unknown>): string {
  try {
    build(context);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  assert.fail("synth should have failed");
}

/** Every statement of the live function's role. */
function liveStatements(resources: Resources): { Action: string | string[]; Resource: unknown }[] {
  return Object.entries(resources)
    .filter(([id, r]) => r.Type === "AWS::IAM::Policy" && id.startsWith("LiveSyncLiveFunction"))
    .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement);
}

const actionsOf = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe("live changes (stack)", () => {
  const { t: withDelete, stack } = build({ ...BASE, live: "true", liveDelete: "true", liveJob: JOB }, true);
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Resources;

  test("the rule matches Object Created and Deleted of the job's bucket and prefix, into the live queue with its DLQ", () => {
    const rules = Object.values(resources).filter((r) => r.Type === "AWS::Events::Rule");
    assert.equal(rules.length, 1);
    const rule = rules[0]?.Properties as { EventPattern: unknown; Targets: { Arn: unknown; DeadLetterConfig: { Arn: unknown } }[] };
    assert.deepEqual(rule.EventPattern, {
      source: ["aws.s3"],
      "detail-type": ["Object Created", "Object Deleted"],
      detail: { bucket: { name: ["src-a"] }, object: { key: [{ prefix: "in/" }, { prefix: "in%2F" }] } },
    });
    const queueId = Object.keys(resources).find(
      (id) => id.startsWith("LiveSyncLiveChangesQueue") && resources[id]?.Type === "AWS::SQS::Queue",
    );
    const dlqId = Object.keys(resources).find((id) => id.startsWith("LiveSyncLiveChangesDlq") && resources[id]?.Type === "AWS::SQS::Queue");
    assert.ok(queueId && dlqId);
    assert.deepEqual(rule.Targets[0]?.Arn, { "Fn::GetAtt": [queueId, "Arn"] });
    assert.deepEqual(rule.Targets[0]?.DeadLetterConfig.Arn, { "Fn::GetAtt": [dlqId, "Arn"] });
    const queue = resources[queueId]?.Properties as {
      RedrivePolicy: { maxReceiveCount: number };
      SqsManagedSseEnabled: boolean;
      VisibilityTimeout: number;
    };
    assert.equal(queue.RedrivePolicy.maxReceiveCount, 5);
    assert.equal(queue.SqsManagedSseEnabled, true);
    assert.equal(queue.VisibilityTimeout, 6 * 300);
    template.hasOutput("LiveQueueUrl", { Value: { Ref: queueId } });
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [queueId, "Arn"] },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
  });

  test("EventBridge is turned on for the imported source bucket, keeping its other notifications", () => {
    template.resourceCountIs("Custom::S3BucketNotifications", 1);
    template.hasResourceProperties("Custom::S3BucketNotifications", {
      BucketName: "src-a",
      NotificationConfiguration: { EventBridgeConfiguration: {} },
      Managed: false,
    });
  });

  test("the live role reads the job's source, writes and deletes only under the job's destination prefix", () => {
    const statements = liveStatements(resources);
    const text = JSON.stringify(statements);
    assert.doesNotMatch(text, /src-b/, "only the job's source bucket");
    assert.doesNotMatch(text, /"s3:\*"|"\*"/);
    const deletes = statements.filter((s) => actionsOf(s).includes("s3:DeleteObject"));
    assert.equal(deletes.length, 1);
    assert.match(JSON.stringify(deletes[0]?.Resource), /:s3:::dst-c\/out\/\*"/);
    const writes = statements.filter((s) => actionsOf(s).includes("s3:PutObject"));
    assert.match(JSON.stringify(writes.map((s) => s.Resource)), /dst-c\/\*/);
    assert.doesNotMatch(JSON.stringify(writes.map((s) => s.Resource)), /src-a/);
  });

  test("the function learns its job and that it may delete", () => {
    const fn = Object.entries(resources).find(
      ([id, r]) => r.Type === "AWS::Lambda::Function" && id.startsWith("LiveSyncLiveFunction"),
    )?.[1];
    assert.ok(fn);
    const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    assert.equal(env.LIVE_DELETE, "true");
    assert.deepEqual(JSON.parse(String(env.LIVE_JOB)), {
      source: { bucket: "src-a", prefix: "in%2F" },
      destination: { bucket: "dst-c", prefix: "out%2F" },
      options: { exclude: ["*.tmp"] },
    });
  });

  test("cdk-nag passes", () => {
    const { findings, synthError } = unacknowledgedNagFindings(withDelete);
    assert.equal(synthError, undefined);
    assert.deepEqual(findings, [], describeFindings(findings));
  });

  test("without liveDelete the live role has no DeleteObject", () => {
    const { stack: noDelete } = build({ ...BASE, live: "true", liveJob: JOB });
    const res = Template.fromStack(noDelete).toJSON().Resources as Resources;
    assert.ok(liveStatements(res).length > 0);
    assert.ok(!liveStatements(res).some((s) => actionsOf(s).includes("s3:DeleteObject")));
  });

  test("without live the template has no rule, no live queue and no notification change", () => {
    const { stack: plain } = build(BASE);
    const t = Template.fromStack(plain);
    t.resourceCountIs("AWS::Events::Rule", 0);
    t.resourceCountIs("Custom::S3BucketNotifications", 0);
    assert.equal(t.findOutputs("LiveQueueUrl") && Object.keys(t.findOutputs("LiveQueueUrl")).length, 0);
  });

  test("bad live settings fail synth with one line", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...BASE, live: "true" }, /live=true needs the job to follow/],
      [{ ...BASE, live: "yes", liveJob: JOB }, /context "live" must be true or false/],
      [{ ...BASE, live: "true", liveJob: "--source s3://other/p/ --dest s3://dst-c/q/" }, /source bucket "other" is not a source bucket/],
      [
        { ...BASE, live: "true", liveJob: "--source s3://src-a/p/ --dest s3://dst-x/q/" },
        /destination bucket "dst-x" is not a destination bucket/,
      ],
      [{ ...BASE, live: "true", liveJob: "--source s3://src-a/p/" }, /^liveJob: /],
    ];
    for (const [context, pattern] of cases) {
      const message = synthError(context);
      assert.match(message, pattern);
      assert.doesNotMatch(message, /\n/);
    }
  });
});
