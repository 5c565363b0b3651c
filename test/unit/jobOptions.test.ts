import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { globToRegExp, keyFilter, optionProblems, resolveJobOptions } from "../../lambdas/core/jobOptions.ts";

describe("include and exclude patterns", () => {
  it("matches * within a path segment, ** across segments and ? for one character", () => {
    assert.equal(globToRegExp("*.csv").test("a.csv"), true);
    assert.equal(globToRegExp("*.csv").test("dir/a.csv"), false);
    assert.equal(globToRegExp("**/*.csv").test("dir/sub/a.csv"), true);
    assert.equal(globToRegExp("log-?.txt").test("log-1.txt"), true);
    assert.equal(globToRegExp("log-?.txt").test("log-10.txt"), false);
  });

  it("treats regular-expression characters in a pattern literally, and any key character too", () => {
    assert.equal(globToRegExp("a+b(1).[x]").test("a+b(1).[x]"), true);
    assert.equal(globToRegExp("a+b").test("aab"), false);
    assert.equal(globToRegExp("**").test("new\nline/😀"), true);
  });

  it("filters on the key below the source prefix: includes first, then excludes", () => {
    const pass = keyFilter({ include: ["**/*.parquet", "*.json"], exclude: ["tmp/**"] }, "data/");
    assert.equal(pass("data/x.json"), true);
    assert.equal(pass("data/y/z.parquet"), true);
    assert.equal(pass("data/tmp/z.parquet"), false);
    assert.equal(pass("data/y/z.csv"), false);
    assert.equal(keyFilter(undefined, "")("anything"), true);
  });
});

describe("job options", () => {
  it("takes the multipart defaults when none are given", () => {
    const o = resolveJobOptions(undefined);
    assert.equal(o.multipartThreshold, 64 * 1024 * 1024);
    assert.equal(o.partSize, 64 * 1024 * 1024);
  });

  it("names options that contradict each other", () => {
    assert.deepEqual(optionProblems({ metadata: { a: "1" } }), ["metadata needs metadataDirective REPLACE"]);
    assert.deepEqual(optionProblems({ tagging: "a=1" }), ["tagging needs taggingDirective REPLACE"]);
    assert.deepEqual(optionProblems({ sseKmsKeyId: "k" }), ["an SSE-KMS key id needs sse aws:kms"]);
    assert.deepEqual(optionProblems({ metadataDirective: "REPLACE", metadata: { a: "1" }, sse: "aws:kms", sseKmsKeyId: "k" }), []);
  });
});
