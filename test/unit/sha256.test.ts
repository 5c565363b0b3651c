/**
 * The clients' SHA-256 (lambdas/aws/sha256.ts) against Node's and the SDK's:
 * the same digests and HMACs for any key and data, and SigV4 signatures
 * identical to the SDK's own hash, whatever keys its cache has seen.
 */
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { Sha256 as SdkSha256 } from "@smithy/core/checksum";
import { SignatureV4 } from "@smithy/signature-v4";
import fc from "fast-check";
import { Sha256 } from "../../lambdas/aws/sha256.ts";

const data = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.uint8Array({ maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 }).map((a) => a.buffer as ArrayBuffer),
);
const hex = (u: Uint8Array) => Buffer.from(u).toString("hex");
const bytes = (d: string | Uint8Array | ArrayBuffer) => (typeof d === "string" ? Buffer.from(d, "utf8") : Buffer.from(d as Uint8Array));

describe("Sha256 (the clients' hash)", () => {
  it("hashes and HMACs as Node does, for any key and data, keys reused or not", async () => {
    await fc.assert(
      fc.asyncProperty(fc.option(data, { nil: undefined }), fc.array(data, { maxLength: 4 }), async (secret, parts) => {
        for (let round = 0; round < 2; round++) {
          const ours = new Sha256(secret);
          for (const p of parts) ours.update(p);
          const expected = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
          for (const p of parts) expected.update(bytes(p));
          assert.equal(hex(await ours.digest()), expected.digest("hex"));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps the SDK's rules: an HMAC is finished once digested; reset starts over; a plain hash digests twice", async () => {
    const h = new Sha256("key");
    h.update("a");
    const first = hex(await h.digest());
    assert.throws(() => h.update("b"), /already finished/);
    h.reset();
    h.update("a");
    assert.equal(hex(await h.digest()), first);
    const plain = new Sha256();
    plain.update("a");
    assert.equal(hex(await plain.digest()), hex(await plain.digest()));
  });

  it("signs SigV4 requests exactly as the SDK's own hash does, across many secrets", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ minLength: 1, maxLength: 60 }),
        fc.string({ maxLength: 80 }),
        fc.integer({ min: 0, max: 3 }),
        async (secretAccessKey, sourceKey, path, day) => {
          const request = {
            method: "PUT",
            protocol: "https:",
            hostname: "bucket.s3.us-east-1.amazonaws.com",
            path: `/${encodeURIComponent(path)}`,
            query: { "x-id": "CopyObject" },
            headers: { host: "bucket.s3.us-east-1.amazonaws.com", "x-amz-copy-source": encodeURIComponent(sourceKey) },
          };
          const options = { signingDate: new Date(Date.UTC(2026, 11, 1 + day, 12)) };
          const sign = (sha256: typeof Sha256 | typeof SdkSha256) =>
            new SignatureV4({ credentials: { accessKeyId: "AKID", secretAccessKey }, region: "us-east-1", service: "s3", sha256 }).sign(
              structuredClone(request),
              options,
            );
          const [ours, sdk] = await Promise.all([sign(Sha256), sign(SdkSha256)]);
          assert.deepEqual(ours.headers, sdk.headers);
        },
      ),
      { numRuns: 200 },
    );
  });
});
