/**
 * What issue 11 asked of the stack: alarms that reach a person within minutes
 * (and an SNS topic with the operator's address when given), a versioned
 * ledger, an optional ledger KMS key, and manifest buckets the list function
 * may read and nothing more. Bundling is skipped: these checks are about the
 * template, and the stack tests elsewhere check the bundles.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { stackPropsFromContext } from "../../lib/context.ts";
import { S3FanoutStack } from "../../lib/s3-fanout-stack.ts";
import { asArray, describeFindings, identityStatements, render, type TestApp, testApp, unacknowledgedNagFindings } from "./helpers.ts";

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

const LEDGER_KEY = "arn:aws:kms:eu-west-1:123456789012:key/abcdef01-2345-6789-abcd-ef0123456789";
const BASE = { sourceBucket: "src", destinationBucket: "dst", "aws:cdk:bundling-stacks": [] };

interface Built {
  readonly app: TestApp;
  readonly stack: S3FanoutStack;
  readonly resources: Resources;
  readonly outputs: Record<string, { Value: unknown }>;
  readonly nag: ReturnType<typeof unacknowledgedNagFindings>;
}

function build(context: Record<string, unknown>): Built {
  const app = testApp({ ...BASE, ...context }, { nag: true });
  const stack = new S3FanoutStack(app.app, "S3Fanout", stackPropsFromContext(app.app));
  const nag = unacknowledgedNagFindings(app);
  const template = app.app.synth().getStackByName("S3Fanout").template as { Resources: Resources; Outputs: Built["outputs"] };
  return { app, stack, resources: template.Resources, outputs: template.Outputs, nag };
}

const ofType = (resources: Resources, type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const roleId = (b: Built, which: "lister" | "copier") => b.stack.getLogicalId(b.stack[which].role.node.defaultChild as never);
/** Every S3 and KMS action a role has, as "action on resource". */
const grantsOf = (b: Built, role: string) =>
  identityStatements(b.resources)
    .filter((s) => s.owner === role)
    .flatMap((s) =>
      asArray(s.statement.Action)
        .filter((a) => a.startsWith("s3:") || a.startsWith("kms:"))
        .flatMap((a) => asArray(s.statement.Resource).map((r) => `${a} on ${render(r)}`)),
    )
    .sort();

let plain: Built;
let full: Built;

before(() => {
  plain = build({});
  full = build({ alarmEmail: "ops@example.com", manifestBucket: "inventory-a, inventory-b", ledgerKmsKeyArn: LEDGER_KEY });
});

after(() => {
  plain.app.dispose();
  full.app.dispose();
});

describe("alarms", () => {
  test("every alarm fires within 5 minutes of its first failure: period x evaluation periods <= 300 s", () => {
    const alarms = ofType(plain.resources, "AWS::CloudWatch::Alarm");
    assert.equal(alarms.length, 4, "failures, function errors and the two DLQs");
    for (const [id, alarm] of alarms) {
      const p = alarm.Properties;
      const periods =
        p.Period !== undefined
          ? [p.Period as number]
          : asArray(p.Metrics as { MetricStat?: { Period: number } }[]).flatMap((m) => (m.MetricStat ? [m.MetricStat.Period] : []));
      assert.ok(periods.length > 0, `${id} has a period`);
      for (const period of periods)
        assert.ok(period * (p.EvaluationPeriods as number) <= 300, `${id}: ${period} s x ${String(p.EvaluationPeriods)}`);
      assert.equal(p.Threshold, 1, id);
      assert.equal(p.ComparisonOperator, "GreaterThanOrEqualToThreshold", id);
    }
  });

  test("the failures alarm sums failed keys, parked listings, failed records and refused deletions", () => {
    const failures = ofType(plain.resources, "AWS::CloudWatch::Alarm").find(([id]) => id.includes("Failures"));
    assert.ok(failures);
    const metrics = asArray(failures[1].Properties.Metrics as { MetricStat?: { Metric: { MetricName: string; Namespace: string } } }[])
      .flatMap((m) => (m.MetricStat ? [`${m.MetricStat.Metric.Namespace}/${m.MetricStat.Metric.MetricName}`] : []))
      .sort();
    assert.deepEqual(metrics, [
      "S3Fanout/CopyFailures",
      "S3Fanout/DeletionsRefused",
      "S3Fanout/ListFailures",
      "S3Fanout/PoisonMessages",
      "S3Fanout/RecordFailures",
    ]);
  });

  test("without alarmEmail there is no topic and no alarm action", () => {
    assert.deepEqual(ofType(plain.resources, "AWS::SNS::Topic"), []);
    for (const [id, alarm] of ofType(plain.resources, "AWS::CloudWatch::Alarm")) assert.equal(alarm.Properties.AlarmActions, undefined, id);
    assert.equal(plain.outputs.AlarmTopicArn, undefined);
  });

  test("alarmEmail subscribes that address to one TLS-only topic, which every alarm notifies on alarm and on recovery", () => {
    const topics = ofType(full.resources, "AWS::SNS::Topic");
    assert.equal(topics.length, 1);
    const [topicId] = topics[0] as [string, unknown];
    const subscriptions = ofType(full.resources, "AWS::SNS::Subscription").map(([, s]) => s.Properties);
    assert.deepEqual(
      subscriptions.map((s) => [s.Protocol, s.Endpoint, render(s.TopicArn)]),
      [["email", "ops@example.com", `<${topicId}>`]],
    );
    const policies = ofType(full.resources, "AWS::SNS::TopicPolicy");
    assert.equal(policies.length, 1);
    type PolicyStatement = { Effect: string; Principal: unknown; Action: unknown; Condition?: unknown };
    const [, topicPolicy] = policies[0] ?? [];
    assert.ok(topicPolicy);
    const statements = asArray((topicPolicy.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement);
    const policy = JSON.stringify(statements);
    assert.ok(policy.includes('"aws:SecureTransport":"false"') && policy.includes('"Effect":"Deny"'), "denies non-TLS publishing");
    // The topic policy replaces SNS's default one: without this Allow, alarms could not publish.
    const allow = statements.filter((st) => st.Effect === "Allow");
    assert.equal(allow.length, 1, policy);
    assert.deepEqual(allow[0]?.Principal, { Service: "cloudwatch.amazonaws.com" });
    assert.equal(allow[0]?.Action, "sns:Publish");
    const condition = allow[0]?.Condition as { StringEquals: Record<string, unknown>; ArnLike: Record<string, unknown> };
    assert.equal(render(condition.StringEquals["aws:SourceAccount"]), "<AWS::AccountId>");
    assert.equal(render(condition.ArnLike["aws:SourceArn"]), "arn:aws:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*");
    const alarms = ofType(full.resources, "AWS::CloudWatch::Alarm");
    assert.equal(alarms.length, 4);
    for (const [id, alarm] of alarms) {
      assert.deepEqual(asArray(alarm.Properties.AlarmActions).map(render), [`<${topicId}>`], id);
      assert.deepEqual(asArray(alarm.Properties.OKActions).map(render), [`<${topicId}>`], id);
    }
    assert.equal(render(full.outputs.AlarmTopicArn?.Value), `<${topicId}>`);
  });

  test("a malformed alarmEmail fails with one line", () => {
    assert.throws(() => build({ alarmEmail: "ops at example" }), {
      message: 'alarmEmail must be one email address such as ops@example.com, got "ops at example"',
    });
  });
});

describe("ledger", () => {
  test("the ledger bucket the stack creates is versioned and expires overwritten versions after a year", () => {
    const ledgerId = plain.stack.getLogicalId(plain.stack.ledger.bucket.node.defaultChild as never);
    const props = plain.resources[ledgerId]?.Properties ?? {};
    assert.deepEqual(props.VersioningConfiguration, { Status: "Enabled" });
    assert.deepEqual(
      asArray((props.LifecycleConfiguration as { Rules: { NoncurrentVersionExpiration?: unknown; Status: string }[] }).Rules).map((r) => [
        r.Status,
        r.NoncurrentVersionExpiration,
      ]),
      [["Enabled", { NoncurrentDays: 365 }]],
    );
  });

  test("ledgerKmsKeyArn encrypts a created ledger with that key, and both roles may use it through S3 only", () => {
    const ledgerId = full.stack.getLogicalId(full.stack.ledger.bucket.node.defaultChild as never);
    const encryption = JSON.stringify(full.resources[ledgerId]?.Properties.BucketEncryption);
    assert.ok(encryption.includes(LEDGER_KEY) && encryption.includes('"aws:kms"'), encryption);
    for (const role of [roleId(full, "lister"), roleId(full, "copier")]) {
      const kms = identityStatements(full.resources).filter(
        (s) => s.owner === role && asArray(s.statement.Action).some((a) => a.startsWith("kms:")),
      );
      assert.deepEqual(
        kms.map((s) => [
          asArray(s.statement.Action).sort(),
          asArray(s.statement.Resource).map(render),
          JSON.stringify(s.statement.Condition),
        ]),
        [[["kms:Decrypt", "kms:GenerateDataKey"], [LEDGER_KEY], '{"StringLike":{"kms:ViaService":"s3.*.amazonaws.com"}}']],
      );
    }
  });

  test("a malformed ledgerKmsKeyArn fails with one line", () => {
    assert.throws(() => build({ ledgerKmsKeyArn: "alias/ledger" }), /^Error: ledgerKmsKeyArn must be a KMS key ARN/);
  });
});

describe("manifest buckets", () => {
  test("manifestBucket lets the list function read those buckets' objects, and grants nothing else", () => {
    const added = (which: "lister" | "copier") => {
      const before = new Set(grantsOf(plain, roleId(plain, which)));
      return grantsOf(full, roleId(full, which)).filter((g) => !before.has(g) && !g.startsWith("kms:"));
    };
    assert.deepEqual(added("lister"), [
      "s3:GetObject on arn:aws:s3:::inventory-a/*",
      "s3:GetObject on arn:aws:s3:::inventory-b/*",
      "s3:ListBucket on arn:aws:s3:::inventory-a",
      "s3:ListBucket on arn:aws:s3:::inventory-b",
    ]);
    assert.deepEqual(added("copier"), []);
    // kickoff reads this output to refuse a manifest the list function could not read.
    assert.equal(full.outputs.ManifestBuckets?.Value, "inventory-a,inventory-b");
    assert.equal(plain.outputs.ManifestBuckets, undefined);
  });

  test("a manifest bucket name that is not a plain bucket name fails with one line", () => {
    assert.throws(() => build({ manifestBucket: "arn:aws:s3:::inventory" }), /manifest bucket names must be plain bucket names/);
  });
});

describe("cdk-nag AwsSolutions", () => {
  test("alarm topic, manifest grants and ledger key leave no unacknowledged finding", () => {
    for (const b of [plain, full]) {
      assert.equal(b.nag.synthError, undefined);
      assert.deepEqual(b.nag.findings, [], describeFindings(b.nag.findings));
    }
  });
});
