/**
 * A synthesized stack "deployed" onto the emulator, read generically from
 * its template: every AWS::SQS::Queue created with the template's attributes
 * (visibility, retention, redrive to its DLQ), every AWS::S3::Bucket created,
 * and intrinsic functions (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, ...) resolved
 * to those emulator resources, so that a function's environment and the
 * stack's outputs read as they would after `cdk deploy`. Resources the
 * emulator has no counterpart for (roles, log groups, topics, keys) get the
 * names and ARNs CloudFormation would give them; nothing calls them.
 */

import type { S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { ensureBucket } from "../../scripts/lib/seed.ts";
import { codeDirectory, resourcesOfType, type StackAssembly, type TemplateResource, type TemplateValue } from "./cloudAssembly.ts";

export interface EmulatedQueue {
  readonly logicalId: string;
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  /** The attributes it was created with, from the template. */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface FunctionSpec {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** The Handler property, e.g. index.handler. */
  readonly handler: string;
  readonly runtime: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** The bundled code (the asset uploaded as Code.S3Key); undefined for inline code. */
  readonly codeDir: string | undefined;
  /** Environment.Variables with every intrinsic resolved. */
  readonly environment: Readonly<Record<string, string>>;
  readonly logGroupName: string;
  /** LoggingConfig: JSON makes Lambda set AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL. */
  readonly logFormat: string | undefined;
  readonly applicationLogLevel: string | undefined;
}

export interface SqsEventSourceSpec {
  readonly logicalId: string;
  readonly functionLogicalId: string;
  readonly queue: EmulatedQueue;
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  readonly reportBatchItemFailures: boolean;
  /** ScalingConfig.MaximumConcurrency; undefined: as many as the account allows. */
  readonly maximumConcurrency: number | undefined;
  readonly enabled: boolean;
}

export interface EmulatedDeployment {
  readonly stack: StackAssembly;
  readonly region: string;
  readonly accountId: string;
  readonly queues: ReadonlyMap<string, EmulatedQueue>;
  /** Bucket names by logical id. */
  readonly buckets: ReadonlyMap<string, string>;
  readonly functions: readonly FunctionSpec[];
  readonly eventSources: readonly SqsEventSourceSpec[];
  /** Resolves a template value (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split) against this deployment. */
  resolve(value: TemplateValue): unknown;
  /** The stack's outputs by name, resolved: what `cdk deploy --outputs-file` writes under the stack's name. */
  outputs(): Record<string, string>;
}

/** Queue properties that are not SQS attributes, or that the emulator has no use for (encryption at rest). */
const NOT_QUEUE_ATTRIBUTES = new Set(["QueueName", "Tags", "SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"]);

/** A name as CloudFormation generates one (stack-logicalId-suffix), cut to `max` characters. */
function generatedName(stackName: string, logicalId: string, suffix: string, max: number): string {
  const head = `${stackName}-${logicalId}`.slice(0, max - suffix.length - 1);
  return `${head}-${suffix}`;
}

/**
 * Creates the template's queues and buckets on the emulator. `suffix` makes
 * the generated names unique (CloudFormation appends a random one too).
 */
export async function deployToEmulator(
  stack: StackAssembly,
  clients: { readonly s3: S3Client; readonly sqs: SQSClient },
  suffix: string,
): Promise<EmulatedDeployment> {
  const { template, stackName } = stack;
  const queues = new Map<string, EmulatedQueue>();
  const buckets = new Map<string, string>();
  let accountId = "000000000000";
  const region = stack.region;

  const nameOf = (logicalId: string, resource: TemplateResource, max: number, property?: string): string => {
    const given = property === undefined ? undefined : resource.Properties?.[property];
    return typeof given === "string" ? given : generatedName(stackName, logicalId, suffix, max);
  };

  const resolve = (value: TemplateValue): unknown => {
    if (Array.isArray(value)) return value.map(resolve).filter((v) => v !== NO_VALUE);
    if (typeof value !== "object" || value === null) return value;
    const entries = Object.entries(value);
    const [fn, arg] = entries[0] ?? [];
    if (entries.length === 1 && fn !== undefined && (fn === "Ref" || fn.startsWith("Fn::"))) return intrinsic(fn, arg);
    return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v)]).filter(([, v]) => v !== NO_VALUE));
  };

  const str = (value: TemplateValue, where: string): string => {
    const resolved = resolve(value);
    if (typeof resolved !== "string" && typeof resolved !== "number") throw new Error(`${where} resolved to ${JSON.stringify(resolved)}`);
    return String(resolved);
  };

  const intrinsic = (fn: string, arg: TemplateValue): unknown => {
    switch (fn) {
      case "Ref":
        return ref(String(arg));
      case "Fn::GetAtt": {
        const [id, attribute] = Array.isArray(arg) ? arg.map(String) : String(arg).split(/\.(.*)/s);
        return getAtt(String(id), String(attribute));
      }
      case "Fn::Join": {
        const [sep, parts] = arg as [string, TemplateValue[]];
        return (resolve(parts) as unknown[]).map(String).join(sep);
      }
      case "Fn::Select": {
        const [index, list] = arg as [TemplateValue, TemplateValue];
        return (resolve(list) as unknown[])[Number(resolve(index))];
      }
      case "Fn::Split": {
        const [sep, text] = arg as [string, TemplateValue];
        return str(text, "Fn::Split").split(sep);
      }
      case "Fn::Sub": {
        const [text, vars] = Array.isArray(arg) ? (arg as [string, Record<string, TemplateValue>]) : [String(arg), {}];
        return text.replace(/\$\{([^}!][^}]*)\}/g, (_, name: string) => {
          if (name in vars) return str(vars[name], `Fn::Sub ${name}`);
          const dot = name.indexOf(".");
          return dot > 0 && !name.startsWith("AWS::") ? String(getAtt(name.slice(0, dot), name.slice(dot + 1))) : String(ref(name));
        });
      }
      default:
        throw new Error(`the rehearsal cannot resolve ${fn} (test/support/emulatedDeployment.ts)`);
    }
  };

  const ref = (id: string): unknown => {
    switch (id) {
      case "AWS::Region":
        return region;
      case "AWS::AccountId":
        return accountId;
      case "AWS::Partition":
        return "aws";
      case "AWS::URLSuffix":
        return "amazonaws.com";
      case "AWS::StackName":
        return stackName;
      case "AWS::StackId":
        return `arn:aws:cloudformation:${region}:${accountId}:stack/${stackName}/${suffix}`;
      case "AWS::NoValue":
        return NO_VALUE;
    }
    const parameter = template.Parameters?.[id];
    if (parameter !== undefined) {
      if (parameter.Default === undefined) throw new Error(`parameter ${id} has no default`);
      return parameter.Default;
    }
    const resource = template.Resources[id];
    if (resource === undefined) throw new Error(`Ref to ${id}, which the template does not define`);
    const queue = queues.get(id);
    if (queue) return queue.url;
    const bucket = buckets.get(id);
    if (bucket) return bucket;
    return physical(id, resource).ref;
  };

  const getAtt = (id: string, attribute: string): unknown => {
    const resource = template.Resources[id];
    if (resource === undefined) throw new Error(`Fn::GetAtt of ${id}, which the template does not define`);
    const queue = queues.get(id);
    if (queue) {
      const value = { Arn: queue.arn, QueueName: queue.name, QueueUrl: queue.url }[attribute];
      if (value !== undefined) return value;
    }
    const bucket = buckets.get(id);
    if (bucket) {
      const value = {
        Arn: `arn:aws:s3:::${bucket}`,
        DomainName: `${bucket}.s3.amazonaws.com`,
        RegionalDomainName: `${bucket}.s3.${region}.amazonaws.com`,
      }[attribute];
      if (value !== undefined) return value;
    }
    if (attribute === "Arn" || attribute === "TopicArn") return physical(id, resource).arn;
    if (attribute === "Name" || attribute === "TopicName") return physical(id, resource).name;
    throw new Error(`the rehearsal cannot resolve Fn::GetAtt ${id}.${attribute} of a ${resource.Type}`);
  };

  /** Names and ARNs of resources that exist only on paper here, as CloudFormation would make them. */
  const physical = (id: string, resource: TemplateResource): { ref: string; arn: string; name: string } => {
    const p = resource.Properties ?? {};
    switch (resource.Type) {
      case "AWS::Lambda::Function": {
        const name = nameOf(id, resource, 64, "FunctionName");
        return { ref: name, name, arn: `arn:aws:lambda:${region}:${accountId}:function:${name}` };
      }
      case "AWS::Logs::LogGroup": {
        const name = typeof p.LogGroupName === "string" ? p.LogGroupName : `${stackName}-${id}-${suffix}`;
        return { ref: name, name, arn: `arn:aws:logs:${region}:${accountId}:log-group:${name}:*` };
      }
      case "AWS::IAM::Role": {
        const name = nameOf(id, resource, 64, "RoleName");
        return { ref: name, name, arn: `arn:aws:iam::${accountId}:role/${name}` };
      }
      case "AWS::SNS::Topic": {
        const name = nameOf(id, resource, 256, "TopicName");
        const arn = `arn:aws:sns:${region}:${accountId}:${name}`;
        return { ref: arn, name, arn };
      }
      case "AWS::KMS::Key": {
        const keyId = `00000000-0000-4000-8000-${suffix
          .replace(/[^0-9a-f]/g, "0")
          .padStart(12, "0")
          .slice(-12)}`;
        return { ref: keyId, name: keyId, arn: `arn:aws:kms:${region}:${accountId}:key/${keyId}` };
      }
      case "AWS::CloudWatch::Dashboard": {
        const name = nameOf(id, resource, 255, "DashboardName");
        return { ref: name, name, arn: `arn:aws:cloudwatch::${accountId}:dashboard/${name}` };
      }
      default:
        throw new Error(`the rehearsal has no stand-in for a ${resource.Type} (${id}): teach test/support/emulatedDeployment.ts`);
    }
  };

  // Buckets: one per AWS::S3::Bucket, named as the template says or as CloudFormation would (lowercase, at most 63).
  for (const [id, resource] of resourcesOfType(template, "AWS::S3::Bucket")) {
    const name = nameOf(id, resource, 63, "BucketName").toLowerCase();
    await ensureBucket(clients.s3, name);
    buckets.set(id, name);
  }

  // Queues: a queue's RedrivePolicy names its DLQ's ARN, so queues are created once what they refer to exists.
  const pending = new Map(resourcesOfType(template, "AWS::SQS::Queue"));
  while (pending.size > 0) {
    const ready = [...pending].filter(([, r]) => refersOnlyTo(r.Properties ?? {}, queues, pending));
    if (ready.length === 0) throw new Error(`queues refer to each other in a cycle: ${[...pending.keys()].join(", ")}`);
    await Promise.all(
      ready.map(async ([id, resource]) => {
        const attributes: Record<string, string> = {};
        for (const [property, value] of Object.entries(resource.Properties ?? {})) {
          if (NOT_QUEUE_ATTRIBUTES.has(property)) continue;
          const resolved = resolve(value);
          attributes[property] = typeof resolved === "object" ? JSON.stringify(resolved) : String(resolved);
        }
        const fifo = attributes.FifoQueue === "true";
        const name =
          nameOf(id, resource, fifo ? 75 : 80, "QueueName") + (fifo && resource.Properties?.QueueName === undefined ? ".fifo" : "");
        const created = await clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
        const url = created.QueueUrl ?? "";
        const attrs = await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
        const arn = attrs.Attributes?.QueueArn ?? "";
        accountId = arn.split(":")[4] || accountId;
        queues.set(id, { logicalId: id, name, url, arn, attributes });
        pending.delete(id);
      }),
    );
  }

  const functions: FunctionSpec[] = resourcesOfType(template, "AWS::Lambda::Function").map(([id, resource]) => {
    const p = resource.Properties ?? {};
    const variables = (resolve((p.Environment as { Variables?: TemplateValue } | undefined)?.Variables ?? {}) ?? {}) as Record<
      string,
      unknown
    >;
    const logging = (resolve(p.LoggingConfig ?? {}) ?? {}) as Record<string, unknown>;
    const { name, arn } = physical(id, resource);
    return {
      logicalId: id,
      name,
      arn,
      handler: String(p.Handler ?? ""),
      runtime: String(p.Runtime ?? ""),
      timeoutSeconds: Number(p.Timeout ?? 3),
      memoryMb: Number(p.MemorySize ?? 128),
      codeDir: codeDirectory(stack, resource),
      environment: Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, String(v)])),
      logGroupName: typeof logging.LogGroup === "string" ? logging.LogGroup : `/aws/lambda/${name}`,
      logFormat: typeof logging.LogFormat === "string" ? logging.LogFormat : undefined,
      applicationLogLevel: typeof logging.ApplicationLogLevel === "string" ? logging.ApplicationLogLevel : undefined,
    };
  });

  const eventSources: SqsEventSourceSpec[] = [];
  for (const [id, resource] of resourcesOfType(template, "AWS::Lambda::EventSourceMapping")) {
    const p = resource.Properties ?? {};
    const sourceArn = resolve(p.EventSourceArn);
    const queue = [...queues.values()].find((q) => q.arn === sourceArn);
    if (queue === undefined) continue; // not an SQS source (a stream, say): not rehearsed here
    if (p.FilterCriteria !== undefined) throw new Error(`event source ${id} filters messages: the rehearsal does not (yet)`);
    const target = resolve(p.FunctionName);
    const fn = functions.find((f) => f.name === target || f.arn === target);
    if (fn === undefined) throw new Error(`event source ${id} invokes ${String(target)}, which is no function of the stack`);
    const scaling = p.ScalingConfig as { MaximumConcurrency?: number } | undefined;
    eventSources.push({
      logicalId: id,
      functionLogicalId: fn.logicalId,
      queue,
      // Lambda's defaults for an SQS source.
      batchSize: Number(p.BatchSize ?? 10),
      maximumBatchingWindowSeconds: Number(p.MaximumBatchingWindowInSeconds ?? 0),
      reportBatchItemFailures: ((p.FunctionResponseTypes as string[] | undefined) ?? []).includes("ReportBatchItemFailures"),
      maximumConcurrency: scaling?.MaximumConcurrency === undefined ? undefined : Number(scaling.MaximumConcurrency),
      enabled: p.Enabled === undefined ? true : p.Enabled === true || p.Enabled === "true",
    });
  }

  return {
    stack,
    region,
    get accountId() {
      return accountId;
    },
    queues,
    buckets,
    functions,
    eventSources,
    resolve,
    outputs: () =>
      Object.fromEntries(Object.entries(template.Outputs ?? {}).map(([name, output]) => [name, str(output.Value, `output ${name}`)])),
  };
}

const NO_VALUE = Symbol("AWS::NoValue");

/** Whether every Ref / Fn::GetAtt in `value` names a queue already created, or no queue at all. */
function refersOnlyTo(value: unknown, created: ReadonlyMap<string, unknown>, pending: ReadonlyMap<string, unknown>): boolean {
  if (Array.isArray(value)) return value.every((v) => refersOnlyTo(v, created, pending));
  if (typeof value !== "object" || value === null) return true;
  const record = value as Record<string, unknown>;
  const target =
    typeof record.Ref === "string" ? record.Ref : Array.isArray(record["Fn::GetAtt"]) ? String(record["Fn::GetAtt"][0]) : undefined;
  if (target !== undefined && pending.has(target) && !created.has(target)) return false;
  return Object.values(record).every((v) => refersOnlyTo(v, created, pending));
}
