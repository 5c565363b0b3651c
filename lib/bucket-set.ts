/**
 * The buckets on one side of a copy (source or destination), named by the
 * operator, and least-privilege grants on exactly those buckets: never s3:*,
 * never a wildcard bucket, only `arn:aws:s3:::<named bucket>` and its objects.
 */
import { Aws, Token } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import { acknowledge, iam5ResourceId } from "./nag.ts";

/**
 * A bucket name, including the legacy us-east-1 forms (capitals, underscores, up to 255 characters).
 * No `*`, `?`, `/` or `:`, so a name can never widen into a wildcard or an ARN.
 */
const BUCKET_NAME = /^[A-Za-z0-9._-]{1,255}$/;
/** IAM scopes KMS permissions to key ARNs; an alias ARN in Resource matches nothing. */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

/** The object-level S3 actions the pipeline's roles may be granted: no delete, no bucket configuration. */
export type ObjectAction =
  | "s3:GetObject"
  | "s3:GetObjectVersion"
  | "s3:GetObjectTagging"
  | "s3:GetObjectVersionTagging"
  | "s3:PutObject"
  | "s3:PutObjectTagging"
  | "s3:PutObjectAcl"
  | "s3:AbortMultipartUpload"
  | "s3:ListMultipartUploadParts"
  | "s3:DeleteObject";

/** Context `<side>Bucket` names them. */
export type BucketSide = "source" | "destination" | "manifest";

export interface BucketSetProps {
  /** Bucket names (not ARNs); duplicates are ignored. */
  readonly bucketNames: readonly string[];
  /** Key ARN of the KMS key that encrypts the objects (SSE-KMS). @default none: SSE-S3 or no encryption */
  readonly kmsKeyArn?: string;
}

export class BucketSet {
  /** Which buckets these are, for messages and context hints. */
  public readonly side: BucketSide;
  public readonly bucketNames: readonly string[];
  /** `arn:<partition>:s3:::<name>` of every bucket: for ListBucket. */
  public readonly bucketArns: readonly string[];
  /** `arn:<partition>:s3:::<name>/*` of every bucket: for object actions. */
  public readonly objectArns: readonly string[];
  public readonly kmsKeyArn?: string;

  constructor(side: BucketSide, props: BucketSetProps) {
    this.side = side;
    const names = [...new Set(props.bucketNames.map((name) => name.trim()).filter((name) => name !== ""))];
    if (names.length === 0) {
      throw new Error(
        `no ${side} bucket: pass -c ${side}Bucket=NAME (comma-separated for several) or the ${side}Buckets prop; IAM is scoped to these buckets only`,
      );
    }
    const invalid = names.filter((name) => !Token.isUnresolved(name) && !BUCKET_NAME.test(name));
    if (invalid.length > 0) {
      throw new Error(
        `${side} bucket names must be plain bucket names (no ARN, wildcard or prefix), got ${invalid.map((n) => `"${n}"`).join(", ")}`,
      );
    }
    if (props.kmsKeyArn !== undefined && !Token.isUnresolved(props.kmsKeyArn) && !KMS_KEY_ARN.test(props.kmsKeyArn)) {
      throw new Error(
        `${side}KmsKeyArn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not an alias or key id, got "${props.kmsKeyArn}"`,
      );
    }
    this.bucketNames = names;
    this.bucketArns = names.map((name) => `arn:${Aws.PARTITION}:s3:::${name}`);
    this.objectArns = this.bucketArns.map((arn) => `${arn}/*`);
    this.kmsKeyArn = props.kmsKeyArn;
  }

  /** ListBucket (ListObjectsV2) on the buckets themselves, nothing on their objects. */
  public grantList(role: iam.IRole): void {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["s3:ListBucket"], resources: [...this.bucketArns] }));
  }

  /** Object-level actions on every key of these buckets (the call site says why each is needed). */
  public grantObjectActions(role: iam.IRole, actions: readonly ObjectAction[]): void {
    this.grantObjects(role, [...actions]);
  }

  /**
   * The KMS actions S3 asks for on the side's key (Decrypt to read, GenerateDataKey to write,
   * Decrypt too to complete a multipart upload), through S3 only; nothing when no key is set.
   */
  public grantKeyActions(role: iam.IRole, actions: readonly ("kms:Decrypt" | "kms:GenerateDataKey")[]): void {
    this.grantKey(role, [...actions]);
  }

  private grantObjects(role: iam.IRole, actions: string[]): void {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [...this.objectArns] }));
    for (const arn of this.objectArns) {
      acknowledge(
        role,
        iam5ResourceId(role, arn),
        `Object-level actions need an object ARN; the wildcard covers the keys of the ${this.side} bucket named by the operator, no other bucket, and the keys of a copy job are not known at deploy time.`,
      );
    }
  }

  private grantKey(role: iam.IRole, actions: string[]): void {
    const kmsKeyArn = this.kmsKeyArn;
    if (kmsKeyArn === undefined) return;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions,
        resources: [kmsKeyArn],
        // Only through S3 (any region: the destination may be in another one), never directly.
        conditions: { StringLike: { "kms:ViaService": "s3.*.amazonaws.com" } },
      }),
    );
  }
}
