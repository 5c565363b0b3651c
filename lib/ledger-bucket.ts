/**
 * The job ledger's bucket: created private (SSL only, public access blocked,
 * SSE-S3, server access logs), or an existing bucket named by the operator.
 * Only the roles granted here may use it; no bucket policy opens it to anyone.
 */
import { Duration, RemovalPolicy, Token } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { acknowledge, iam5ResourceId } from "./nag.ts";

const BUCKET_NAME = /^[A-Za-z0-9._-]{1,255}$/;

export interface LedgerBucketProps {
  /** Name of an existing bucket to hold the ledger. @default a new bucket */
  readonly existingBucketName?: string;
  /** Log requests to a created ledger bucket into its own access-log bucket (not with existingBucketName). @default true */
  readonly serverAccessLogs?: boolean;
  /** Days a created access-log bucket keeps its logs. @default 365 */
  readonly accessLogRetentionDays?: number;
  /** What happens to created buckets when the stack is deleted (not with existingBucketName). @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Key ARN of a KMS key: the key of an existing ledger bucket's default encryption, or the key a created
   * one encrypts with (SSE-KMS, bucket key on). Both roles may use it through S3 only. @default none: SSE-S3
   */
  readonly kmsKeyArn?: string;
  /** Days a created ledger keeps a version that was overwritten. @default 365 */
  readonly noncurrentVersionDays?: number;
}

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

export class LedgerBucket extends Construct {
  /** The bucket that holds job specs, range and batch outcomes, halt markers and summaries. */
  public readonly bucket: s3.IBucket;
  /** Where S3 writes the server access logs of a created ledger bucket. @default undefined with existingBucketName or serverAccessLogs false */
  public readonly accessLogsBucket?: s3.Bucket;
  /** Whether this construct created the ledger bucket. */
  public readonly created: boolean;
  /** The KMS key the ledger's objects are encrypted with, if any. */
  public readonly kmsKeyArn?: string;

  constructor(scope: Construct, id: string, props: LedgerBucketProps = {}) {
    super(scope, id);
    const kmsKeyArn = props.kmsKeyArn?.trim();
    if (kmsKeyArn !== undefined && !Token.isUnresolved(kmsKeyArn) && !KMS_KEY_ARN.test(kmsKeyArn)) {
      throw new Error(
        `ledgerKmsKeyArn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not an alias or key id, got "${kmsKeyArn}"`,
      );
    }
    this.kmsKeyArn = kmsKeyArn;
    const existing = props.existingBucketName?.trim();
    if (existing !== undefined) {
      if (
        props.serverAccessLogs !== undefined ||
        props.removalPolicy !== undefined ||
        props.accessLogRetentionDays !== undefined ||
        props.noncurrentVersionDays !== undefined
      ) {
        throw new Error(
          "LedgerBucket: serverAccessLogs, accessLogRetentionDays, noncurrentVersionDays and removalPolicy apply only to a ledger bucket the stack creates, not with existingBucketName",
        );
      }
      if (!Token.isUnresolved(existing) && !BUCKET_NAME.test(existing)) {
        throw new Error(`ledgerBucket must be a plain bucket name (no ARN, wildcard or prefix), got "${existing}"`);
      }
      this.bucket = s3.Bucket.fromBucketName(this, "Bucket", existing);
      this.created = false;
      return;
    }

    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const retentionDays = props.accessLogRetentionDays ?? 365;
    if (!Number.isInteger(retentionDays) || retentionDays < 1) {
      throw new Error(`LedgerBucket: accessLogRetentionDays must be a positive integer, got ${retentionDays}`);
    }
    if (props.serverAccessLogs ?? true) {
      this.accessLogsBucket = new s3.Bucket(this, "AccessLogs", {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        // Server access logging delivers only to SSE-S3 buckets.
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        // No objectOwnership: log delivery is granted by bucket policy under the feature flag
        // @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy (cdk.json), by the LogDeliveryWrite ACL without it.
        lifecycleRules: [{ expiration: Duration.days(retentionDays) }],
        removalPolicy,
      });
      acknowledge(
        this.accessLogsBucket,
        "AwsSolutions-S1",
        "This is the server access log bucket of the ledger; logging it into itself would loop, and into another bucket would only move the same finding there.",
      );
    }
    const noncurrentDays = props.noncurrentVersionDays ?? 365;
    if (!Number.isInteger(noncurrentDays) || noncurrentDays < 1) {
      throw new Error(`LedgerBucket: noncurrentVersionDays must be a positive integer, got ${noncurrentDays}`);
    }
    this.bucket = new s3.Bucket(this, "Bucket", {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      ...(kmsKeyArn === undefined
        ? { encryption: s3.BucketEncryption.S3_MANAGED }
        : { encryption: s3.BucketEncryption.KMS, encryptionKey: kms.Key.fromKeyArn(this, "Key", kmsKeyArn), bucketKeyEnabled: true }),
      enforceSSL: true,
      // The ledger is the proof of what was copied: an overwritten or deleted record keeps its earlier version.
      versioned: true,
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(noncurrentDays) }],
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: this.accessLogsBucket ? "ledger/" : undefined,
      removalPolicy,
    });
    if (!this.accessLogsBucket) {
      acknowledge(
        this.bucket,
        "AwsSolutions-S1",
        "Server access logging of the ledger was turned off by the operator (serverAccessLogs: false).",
      );
    }
    this.created = true;
  }

  /** Read and write ledger objects and list the ledger: what the handlers and operator scripts do, no delete. */
  public grantReadWrite(role: iam.IRole): void {
    const objects = this.bucket.arnForObjects("*");
    // A job's records are read back by listing its prefix (status, completion).
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["s3:ListBucket"], resources: [this.bucket.bucketArn] }));
    // Specs, halt markers and records are read; outcomes and portions are written.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["s3:GetObject", "s3:PutObject"], resources: [objects] }));
    if (this.kmsKeyArn !== undefined) {
      // SSE-KMS ledger: reading decrypts, writing asks for a data key; only through S3.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ["kms:Decrypt", "kms:GenerateDataKey"],
          resources: [this.kmsKeyArn],
          conditions: { StringLike: { "kms:ViaService": "s3.*.amazonaws.com" } },
        }),
      );
    }
    acknowledge(
      role,
      iam5ResourceId(role, objects),
      "Ledger entries are keyed by job, range and batch ids made at run time; the wildcard covers the objects of the ledger bucket only.",
    );
  }
}
