/** cdk-nag acknowledgments, written next to the grant or resource that causes the finding. */
import { Stack, Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/** Acknowledges one cdk-nag finding on a construct and everything under it. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * The finding id of AwsSolutions-IAM5 for a wildcard resource, as cdk-nag
 * spells it: the resolved ARN with Ref as <Name>, Fn::GetAtt as <Name.Attr>
 * and Fn::Join flattened, e.g. `arn:<AWS::Partition>:s3:::bucket/*`.
 */
export function iam5ResourceId(scope: IConstruct, arn: string): string {
  return `AwsSolutions-IAM5[Resource::${flatten(Stack.of(scope).resolve(arn))}]`;
}

function flatten(node: unknown): string {
  if (typeof node === "string") return node.replace(/\$\{/g, "<").replace(/\}/g, ">");
  if (isObject(node)) {
    const join = node["Fn::Join"];
    if (Array.isArray(join) && typeof join[0] === "string" && Array.isArray(join[1])) return join[1].map(flatten).join(join[0]);
    const getAtt = node["Fn::GetAtt"];
    if (Array.isArray(getAtt)) return `<${flatten(getAtt[0])}.${flatten(getAtt[1])}>`;
    if ("Ref" in node) return `<${flatten(node.Ref)}>`;
  }
  return JSON.stringify(node);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
