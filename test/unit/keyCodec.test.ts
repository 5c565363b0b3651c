import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InvalidKeyError } from "../../lambdas/core/errors.ts";
import { copySource, decodeKey, decodeS3ListKey, encodeKey, encodeS3ListKey } from "../../lambdas/core/keyCodec.ts";
import { anyKey, graphemeString, loadAwkwardKeys, s3Key, withLoneSurrogate } from "./arbitraries.ts";

const PRINTABLE_ASCII = /^[\x21-\x7e]*$/;
const keys = fc.oneof(anyKey, graphemeString, s3Key);

describe("encodeKey / decodeKey (transport encoding)", () => {
  it("round-trips every well-formed key", () => {
    fc.assert(
      fc.property(keys, (key) => {
        // Act
        const decoded = decodeKey(encodeKey(key));

        // Assess
        assert.equal(decoded, key);
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips every awkward fixture key", () => {
    // Prepare
    const fixture = loadAwkwardKeys();

    // Act
    const decoded = fixture.map((k) => decodeKey(encodeKey(k)));

    // Assess
    assert.deepEqual(decoded, fixture);
  });

  it("encodes to printable ASCII only, with no space", () => {
    fc.assert(
      fc.property(keys, (key) => {
        // Act
        const encoded = encodeKey(key);

        // Assess
        assert.match(encoded, PRINTABLE_ASCII);
      }),
      { numRuns: 2000 },
    );
  });

  it("encodes characters SQS rejects into plain ASCII", () => {
    // Prepare
    const rejected = ["\u0000", "\u0001", "\u001f", "\ufffe", "\uffff"];

    // Act
    const encoded = rejected.map(encodeKey);

    // Assess
    assert.deepEqual(encoded, ["%00", "%01", "%1F", "%EF%BF%BE", "%EF%BF%BF"]);
  });

  it("rejects a key with a lone surrogate with InvalidKeyError", () => {
    fc.assert(
      fc.property(withLoneSurrogate, (key) => {
        // Act / Assess
        assert.throws(() => encodeKey(key), InvalidKeyError);
      }),
    );
  });

  it("rejects a malformed transport encoding with InvalidKeyError naming the input", () => {
    // Prepare
    const malformed = ["%", "%Z1", "%E0%A4", "%ED%A0%80", "%FF"];

    // Act / Assess
    for (const encoded of malformed) {
      assert.throws(
        () => decodeKey(encoded),
        (err: unknown) => err instanceof InvalidKeyError && err.name === "InvalidKeyError" && err.message.includes(encoded),
      );
    }
  });
});

describe("decodeS3ListKey / encodeS3ListKey (EncodingType=url)", () => {
  it("decodes what S3 encodes, for every well-formed key", () => {
    fc.assert(
      fc.property(keys, (key) => {
        // Act
        const decoded = decodeS3ListKey(encodeS3ListKey(key));

        // Assess
        assert.equal(decoded, key);
      }),
      { numRuns: 2000 },
    );
  });

  it("decodes every awkward fixture key as S3 lists it", () => {
    // Prepare
    const fixture = loadAwkwardKeys();

    // Act
    const decoded = fixture.map((k) => decodeS3ListKey(encodeS3ListKey(k)));

    // Assess
    assert.deepEqual(decoded, fixture);
  });

  it("decodes + as a space and %2B as a plus", () => {
    // Act
    const decoded = [decodeS3ListKey("+"), decodeS3ListKey("%2B"), decodeS3ListKey("a+b%2Bc%2520d"), decodeS3ListKey("++%2B%2B")];

    // Assess
    assert.deepEqual(decoded, [" ", "+", "a b+c%20d", "  ++"]);
  });

  it("encodes a space as + and a plus as %2B, as S3 does", () => {
    // Act
    const encoded = encodeS3ListKey("a b+c");

    // Assess
    assert.equal(encoded, "a+b%2Bc");
  });

  it("decodes control characters and non-ASCII from their percent form", () => {
    // Act
    const decoded = [decodeS3ListKey("%01control"), decodeS3ListKey("new%0Aline"), decodeS3ListKey("%F0%9F%98%80/smile")];

    // Assess
    assert.deepEqual(decoded, ["\u0001control", "new\nline", "\u{1f600}/smile"]);
  });

  it("rejects malformed listing encodings with InvalidKeyError", () => {
    // Act / Assess
    assert.throws(() => decodeS3ListKey("bad%"), InvalidKeyError);
    assert.throws(() => decodeS3ListKey("%C3"), InvalidKeyError);
  });
});

describe("copySource", () => {
  it("URL-encodes the key after the bucket", () => {
    // Act
    const source = copySource("bucket", "a b+c%20d");

    // Assess
    assert.equal(source, "bucket/a%20b%2Bc%2520d");
  });

  it("keeps slashes as path separators", () => {
    // Act
    const source = copySource("bucket", "dir/sub dir/\u00e9.txt");

    // Assess
    assert.equal(source, "bucket/dir/sub%20dir/%C3%A9.txt");
  });

  it("appends an encoded versionId when given", () => {
    // Act
    const source = copySource("bucket", "k", "v1+2/3");

    // Assess
    assert.equal(source, "bucket/k?versionId=v1%2B2%2F3");
  });

  it("is ASCII and decodes back to the key for every well-formed key", () => {
    fc.assert(
      fc.property(keys, (key) => {
        // Act
        const source = copySource("my-bucket", key);

        // Assess
        assert.match(source, PRINTABLE_ASCII);
        assert.ok(source.startsWith("my-bucket/"));
        assert.equal(decodeURIComponent(source.slice("my-bucket/".length)), key);
        assert.ok(!source.includes("?"), "a ? in a key must not start a query string");
      }),
      { numRuns: 1000 },
    );
  });
});
