import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { errors as undiciErrors } from "undici";
import {
  backoffDelay,
  classifyError,
  DEFAULT_BACKOFF,
  type ErrorClass,
  errorInfo,
  redeliveryDelaySeconds,
} from "../../lambdas/core/retry.ts";

/** An error as the AWS SDK v3 throws it: a named Error with $metadata. */
function sdkError(name: string, status: number | undefined, message = `${name} happened`): Error {
  const err = new Error(message);
  err.name = name;
  return Object.assign(err, { $metadata: { httpStatusCode: status, requestId: "req-1", attempts: 1 } });
}

/** An error as Node's net/http layer throws it: name "Error", a string code. */
function nodeNetworkError(code: string): Error {
  return Object.assign(new Error(`read ${code}`), { code, errno: -104, syscall: "read" });
}

const unitRandom = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe("errorInfo", () => {
  it("reads name, message and HTTP status from an SDK error", () => {
    // Prepare
    const err = sdkError("NoSuchKey", 404, "The specified key does not exist.");

    // Act
    const info = errorInfo(err);

    // Assess
    assert.deepEqual(info, { code: "NoSuchKey", message: "The specified key does not exist.", status: 404 });
  });

  it("prefers the S3 Code field when the SDK sets one", () => {
    // Prepare
    const err = Object.assign(sdkError("S3ServiceException", 503), { Code: "SlowDown" });

    // Act
    const info = errorInfo(err);

    // Assess
    assert.equal(info.code, "SlowDown");
    assert.equal(info.status, 503);
  });

  it("reads the code of a Node network error, with no status", () => {
    // Act
    const info = errorInfo(nodeNetworkError("ECONNRESET"));

    // Assess
    assert.deepEqual(info, { code: "ECONNRESET", message: "read ECONNRESET", status: undefined });
  });

  it("names a status-only error after its status", () => {
    // Prepare
    const err = Object.assign(new Error(""), { $metadata: { httpStatusCode: 500 } });

    // Act
    const info = errorInfo(err);

    // Assess
    assert.deepEqual(info, { code: "HTTP500", message: "HTTP500", status: 500 });
  });

  it("turns thrown strings and other non-objects into Unknown with their text", () => {
    // Act
    const infos = [errorInfo("socket exploded"), errorInfo(undefined), errorInfo(42), errorInfo(null)];

    // Assess
    assert.deepEqual(infos, [
      { code: "Unknown", message: "socket exploded" },
      { code: "Unknown", message: "undefined" },
      { code: "Unknown", message: "42" },
      { code: "Unknown", message: "null" },
    ]);
  });

  it("never throws, whatever was thrown", () => {
    fc.assert(
      fc.property(fc.anything(), (thrown) => {
        // Act
        const info = errorInfo(thrown);

        // Assess
        assert.equal(typeof info.code, "string");
        assert.ok(info.code.length > 0);
        assert.equal(typeof info.message, "string");
      }),
    );
  });
});

describe("classifyError", () => {
  const cases: [string, unknown, ErrorClass][] = [
    ["SlowDown 503", sdkError("SlowDown", 503), "throttle"],
    ["bare 503", sdkError("ServiceUnavailable", 503), "throttle"],
    ["429", sdkError("TooManyRequests", 429), "throttle"],
    ["ThrottlingException 400", sdkError("ThrottlingException", 400), "throttle"],
    ["InternalError 500", sdkError("InternalError", 500), "transient"],
    ["InternalError in a 200 CopyObject response", sdkError("InternalError", 200), "transient"],
    ["bare 500", Object.assign(new Error("x"), { $metadata: { httpStatusCode: 500 } }), "transient"],
    ["ECONNRESET", nodeNetworkError("ECONNRESET"), "transient"],
    ["ETIMEDOUT", nodeNetworkError("ETIMEDOUT"), "transient"],
    ["TimeoutError", sdkError("TimeoutError", undefined), "transient"],
    ["RequestTimeout 400", sdkError("RequestTimeout", 400), "transient"],
    ["NoSuchKey 404", sdkError("NoSuchKey", 404), "vanished"],
    ["AccessDenied 403", sdkError("AccessDenied", 403), "permanent"],
    ["bare 403", Object.assign(new Error("x"), { $metadata: { httpStatusCode: 403 } }), "permanent"],
    ["NoSuchBucket 404", sdkError("NoSuchBucket", 404), "permanent"],
    ["InvalidObjectState 403", sdkError("InvalidObjectState", 403), "permanent"],
  ];

  for (const [label, thrown, expected] of cases) {
    it(`classifies ${label} as ${expected}`, () => {
      // Act
      const errorClass = classifyError(errorInfo(thrown));

      // Assess
      assert.equal(errorClass, expected);
    });
  }

  it("classifies permanent S3 error codes as permanent even without an HTTP status", () => {
    // Prepare: an ErrorInfo rebuilt from a log or DLQ record, or an error from a client that lost $metadata.
    const codes = ["AccessDenied", "NoSuchBucket", "InvalidObjectState"];

    // Act
    const classes = codes.map((code) => classifyError({ code, message: code }));

    // Assess
    assert.deepEqual(classes, ["permanent", "permanent", "permanent"]);
  });

  it("classifies every deadline error of both HTTP paths as transient, by its code", () => {
    // Prepare: undici's (the lean CopyObject path) as it throws them, and the SDK handler's (clients.ts).
    const thrown = [
      new undiciErrors.ConnectTimeoutError(),
      new undiciErrors.HeadersTimeoutError(),
      new undiciErrors.BodyTimeoutError(),
      Object.assign(new Error("a request has exceeded the configured 60000 ms requestTimeout."), {
        name: "TimeoutError",
        code: "ETIMEDOUT",
      }),
      Object.assign(new Error("the request socket timed out after 60000 ms of inactivity"), { name: "TimeoutError" }),
    ];

    // Act
    const infos = thrown.map(errorInfo);

    // Assess
    assert.deepEqual(
      infos.map((i) => [i.code, i.status, classifyError(i)]),
      [
        ["UND_ERR_CONNECT_TIMEOUT", undefined, "transient"],
        ["UND_ERR_HEADERS_TIMEOUT", undefined, "transient"],
        ["UND_ERR_BODY_TIMEOUT", undefined, "transient"],
        ["ETIMEDOUT", undefined, "transient"],
        ["TimeoutError", undefined, "transient"],
      ],
    );
  });

  it("treats an error with no HTTP answer at all as transient (network failure)", () => {
    // Act
    const errorClass = classifyError(errorInfo(new Error("socket hang up")));

    // Assess
    assert.equal(errorClass, "transient");
  });
});

describe("backoffDelay", () => {
  it("stays within [0, min(cap, base * 2^attempt)] and is a whole number of ms", () => {
    // Prepare
    const policy = fc.record({ baseMs: fc.integer({ min: 1, max: 2000 }), capMs: fc.integer({ min: 1, max: 120_000 }) });

    fc.assert(
      fc.property(fc.nat({ max: 200 }), policy, unitRandom, (attempt, p, r) => {
        // Act
        const delay = backoffDelay(attempt, p, () => r);

        // Assess
        assert.ok(Number.isInteger(delay));
        assert.ok(delay >= 0);
        assert.ok(delay <= Math.min(p.capMs, p.baseMs * 2 ** attempt), `delay ${delay} above the ceiling`);
      }),
      { numRuns: 1000 },
    );
  });

  it("spreads delays over the whole window with full jitter", () => {
    // Act
    const lowest = backoffDelay(3, { baseMs: 100, capMs: 5000 }, () => 0);
    const highest = backoffDelay(3, { baseMs: 100, capMs: 5000 }, () => 0.9999999);

    // Assess
    assert.equal(lowest, 0);
    assert.equal(highest, 799);
  });

  it("doubles the window each attempt until the cap", () => {
    // Prepare
    const nearlyOne = () => 0.9999999;

    // Act
    const delays = [0, 1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffDelay(n, DEFAULT_BACKOFF, nearlyOne));

    // Assess
    assert.deepEqual(delays, [99, 199, 399, 799, 1599, 3199, 4999, 4999, 4999]);
  });
});

describe("redeliveryDelaySeconds", () => {
  it("is a whole number of seconds SQS accepts (0 to 900) for any attempt", () => {
    fc.assert(
      fc.property(fc.nat(), unitRandom, (attempt, r) => {
        // Act
        const seconds = redeliveryDelaySeconds(attempt, () => r);

        // Assess
        assert.ok(Number.isInteger(seconds));
        assert.ok(seconds >= 0 && seconds <= 900, `${seconds}s`);
      }),
      { numRuns: 1000 },
    );
  });

  it("waits longer windows for later attempts", () => {
    // Prepare
    const nearlyOne = () => 0.9999999;

    // Act
    const first = redeliveryDelaySeconds(0, nearlyOne);
    const later = redeliveryDelaySeconds(5, nearlyOne);

    // Assess
    assert.equal(first, 1);
    assert.ok(later > first);
  });
});
