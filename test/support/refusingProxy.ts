/**
 * A bucket that refuses some writes: an HTTP proxy in front of the emulator
 * that answers every write (CopyObject, PutObject, CreateMultipartUpload,
 * UploadPartCopy, UploadPart, CompleteMultipartUpload) of a key a rule names
 * with S3's 403 AccessDenied, as a bucket policy denying it would, and
 * forwards everything else untouched. Rules can be added while it runs.
 */
import type http from "node:http";
import { listen, readBody, replyS3Error, replyWith, upstreamTo } from "./forward.ts";

export interface RefusalRule {
  readonly bucket: string;
  /** This key only. */
  readonly key?: string;
  /** Every key under this prefix. */
  readonly prefix?: string;
}

export interface RefusingProxy {
  readonly endpoint: string;
  /** Writes refused so far. */
  readonly refused: number;
  /** Refuses the writes `rule` names from now on. */
  refuse(rule: RefusalRule): void;
  close(): Promise<void>;
}

/** The bucket and key a path-style S3 request names, decoded; undefined for other requests (SQS among them). */
function s3Target(req: http.IncomingMessage): { bucket: string; key: string } | undefined {
  const path = (req.url ?? "").split("?")[0] ?? "";
  const match = /^\/([^/]+)\/(.+)$/s.exec(path);
  if (!match) return undefined;
  try {
    return { bucket: decodeURIComponent(match[1] ?? ""), key: decodeURIComponent(match[2] ?? "") };
  } catch {
    return undefined;
  }
}

const applies = (rule: RefusalRule, target: { bucket: string; key: string }) =>
  rule.bucket === target.bucket && (rule.key === undefined || rule.key === target.key) && target.key.startsWith(rule.prefix ?? "");

export async function startRefusingProxy(options: {
  readonly target: string;
  readonly rules?: readonly RefusalRule[];
}): Promise<RefusingProxy> {
  const upstream = upstreamTo(options.target);
  const rules = [...(options.rules ?? [])];
  let refused = 0;
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = await readBody(req);
    const target = s3Target(req);
    const write = req.method === "PUT" || req.method === "POST";
    if (write && target !== undefined && rules.some((rule) => applies(rule, target))) {
      refused++;
      replyS3Error(res, 403, "AccessDenied", "Access Denied");
      return;
    }
    replyWith(res, await upstream.send(req, body));
  };
  const proxy = await listen((req, res) => void handle(req, res).catch(() => req.socket.destroy()), upstream);
  return {
    endpoint: proxy.endpoint,
    get refused() {
      return refused;
    },
    refuse: (rule) => {
      rules.push(rule);
    },
    close: proxy.close,
  };
}
