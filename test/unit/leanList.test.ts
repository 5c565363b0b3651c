/** The lean ListObjectsV2 parser: what S3 writes, in its order or another, and every answer it must hand to the SDK instead. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseListPage } from "../../lambdas/aws/leanS3.ts";
import { decodeS3ListKey } from "../../lambdas/core/keyCodec.ts";

const contents = (key: string, size: string, etag = "&quot;0cc175b9c0f1b6a831c399e269772661&quot;") =>
  `<Contents><Key>${key}</Key><LastModified>2026-12-01T10:00:00.000Z</LastModified><ETag>${etag}</ETag>` +
  `<ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType><Size>${size}</Size>` +
  `<Owner><ID>abc</ID><DisplayName>me</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>`;

/** A page as S3 writes one: the result's fields first, then the objects. */
function s3Page(body: string, { truncated = false, token = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=", encoding = "url" } = {}) {
  const head =
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Name>bucket</Name><Prefix></Prefix>${truncated ? `<NextContinuationToken>${token}</NextContinuationToken>` : ""}` +
    `<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>${encoding ? `<EncodingType>${encoding}</EncodingType>` : ""}` +
    `<IsTruncated>${truncated}</IsTruncated>`;
  return `${head}${body}</ListBucketResult>`;
}

describe("parseListPage", () => {
  it("reads each object's key (URL-decoded), size and ETag, and the continuation", () => {
    const xml = s3Page(contents("a+b%2Bc/%E2%9C%93", "12") + contents("%01ctl", "0"), { truncated: true });
    assert.deepEqual(parseListPage(xml, decodeS3ListKey), {
      objects: [
        { key: "a b+c/✓", size: 12, etag: '"0cc175b9c0f1b6a831c399e269772661"' },
        { key: "\u0001ctl", size: 0, etag: '"0cc175b9c0f1b6a831c399e269772661"' },
      ],
      nextToken: "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
    });
  });

  it("reads the result's fields when they come after the objects, and unescapes a token", () => {
    const xml =
      `<ListBucketResult>${contents("k", "5", '"e"')}<IsTruncated>true</IsTruncated>` +
      `<NextContinuationToken>a&amp;b&#x3D;</NextContinuationToken><EncodingType>url</EncodingType></ListBucketResult>`;
    assert.deepEqual(parseListPage(xml, decodeS3ListKey), { objects: [{ key: "k", size: 5, etag: '"e"' }], nextToken: "a&b=" });
  });

  it("reads an empty last page", () => {
    assert.deepEqual(parseListPage(s3Page(""), decodeS3ListKey), { objects: [], nextToken: undefined });
  });

  it("leaves to the SDK whatever it does not know", () => {
    const cases: Record<string, string> = {
      "keys not URL-encoded (no EncodingType)": s3Page(contents("k", "1"), { encoding: "" }),
      "another encoding": s3Page(contents("k", "1"), { encoding: "base64" }),
      "truncated without a token": s3Page(contents("k", "1")).replace("<IsTruncated>false", "<IsTruncated>true"),
      "no IsTruncated": s3Page(contents("k", "1")).replace("<IsTruncated>false</IsTruncated>", ""),
      "a size that is not a whole number": s3Page(contents("k", "1.5")),
      "a Contents without a Key": s3Page(contents("k", "1").replace("<Key>k</Key>", "")),
      "a Contents cut short": s3Page(contents("k", "1")).replace("</Contents>", ""),
      "an error body": `<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>m</Message></Error>`,
      HTML: "<html><body>proxy</body></html>",
    };
    for (const [name, xml] of Object.entries(cases)) assert.equal(parseListPage(xml, decodeS3ListKey), undefined, name);
  });
});
