/**
 * The synthesized app as a deployment sees it: `cdk synth` into a directory,
 * then the stack's template and its file assets read from the cloud assembly
 * (manifest.json, <stack>.assets.json), with no knowledge of the stack's
 * logical ids or variable names.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CONTEXT_KEYS } from "../../lib/context.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CDK = join(ROOT, "node_modules", "aws-cdk", "bin", "cdk");

export type TemplateValue = unknown;

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, TemplateValue>;
  readonly DependsOn?: string | readonly string[];
  readonly Metadata?: Record<string, TemplateValue>;
}

export interface Template {
  readonly Parameters?: Record<string, { readonly Type: string; readonly Default?: TemplateValue }>;
  readonly Resources: Record<string, TemplateResource>;
  readonly Outputs?: Record<string, { readonly Value: TemplateValue }>;
}

export interface FileAsset {
  readonly hash: string;
  /** The asset's directory or file, absolute. */
  readonly path: string;
  readonly packaging: "zip" | "file";
  /** Where a deployment uploads it. */
  readonly objectKeys: readonly string[];
}

export interface StackAssembly {
  readonly dir: string;
  readonly stackName: string;
  /** The stack's region; the environment-agnostic default is us-east-1, as the template's asset bucket names say. */
  readonly region: string;
  readonly template: Template;
  readonly assets: readonly FileAsset[];
}

/**
 * The context of a rehearsal: these buckets, every other setting at its default whatever an
 * operator's cdk.context.json (written by `npm run configure`) says, since `-c key=` (empty) wins over it.
 */
export function deploymentContext(sourceBucket: string, destinationBucket: string): Record<string, string> {
  return { ...Object.fromEntries(CONTEXT_KEYS.map((key) => [key, ""])), sourceBucket, destinationBucket };
}

/**
 * `cdk synth -q` with the given context into `outDir`, offline (bundling with the local esbuild).
 * Rejects with the CLI's stderr when it fails.
 */
export function synthesize(outDir: string, context: Readonly<Record<string, string>>): Promise<void> {
  const args = [CDK, "synth", "-q", "--no-notices", "-o", outDir];
  for (const [key, value] of Object.entries(context)) args.push("-c", `${key}=${value}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`cdk synth exited with ${code}:\n${stderr}`))));
  });
}

interface ManifestArtifact {
  readonly type: string;
  readonly environment?: string;
  readonly displayName?: string;
  readonly properties?: { readonly templateFile?: string; readonly stackName?: string; readonly file?: string };
  readonly dependencies?: readonly string[];
}

interface AssetManifest {
  readonly files?: Record<
    string,
    {
      readonly source: { readonly path: string; readonly packaging?: string };
      readonly destinations: Record<string, { objectKey: string }>;
    }
  >;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, "utf8")) as T;

/** The one stack of the assembly in `dir` (an app of several stacks is refused: say which). */
export function readStack(dir: string, stackName?: string): StackAssembly {
  const manifest = readJson<{ artifacts: Record<string, ManifestArtifact> }>(join(dir, "manifest.json"));
  const stacks = Object.entries(manifest.artifacts).filter(([, a]) => a.type === "aws:cloudformation:stack");
  const picked = stackName === undefined ? stacks : stacks.filter(([id, a]) => (a.properties?.stackName ?? id) === stackName);
  if (picked.length !== 1) {
    throw new Error(
      `expected one stack in ${dir}${stackName ? ` named ${stackName}` : ""}, found ${stacks.map(([id]) => id).join(", ") || "none"}`,
    );
  }
  const [id, artifact] = picked[0] as [string, ManifestArtifact];
  const templateFile = artifact.properties?.templateFile;
  if (templateFile === undefined) throw new Error(`stack ${id} has no templateFile`);
  const region = /^aws:\/\/[^/]+\/(.+)$/.exec(artifact.environment ?? "")?.[1];
  const assets: FileAsset[] = [];
  for (const depId of artifact.dependencies ?? []) {
    const dep = manifest.artifacts[depId];
    if (dep?.type !== "cdk:asset-manifest" || dep.properties?.file === undefined) continue;
    const files = readJson<AssetManifest>(join(dir, dep.properties.file)).files ?? {};
    for (const [hash, f] of Object.entries(files)) {
      assets.push({
        hash,
        path: join(dir, f.source.path),
        packaging: f.source.packaging === "zip" ? "zip" : "file",
        objectKeys: Object.values(f.destinations).map((d) => d.objectKey),
      });
    }
  }
  return {
    dir,
    stackName: artifact.properties?.stackName ?? id,
    region: region === undefined || region.startsWith("unknown") ? "us-east-1" : region,
    template: readJson<Template>(join(dir, templateFile)),
    assets,
  };
}

/** The resources of one type, by logical id. */
export function resourcesOfType(template: Template, type: string): [string, TemplateResource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** The directory a function's Code.S3Key names (the asset a deployment uploads under that key), or undefined for inline code. */
export function codeDirectory(stack: StackAssembly, fn: TemplateResource): string | undefined {
  const code = fn.Properties?.Code as { S3Key?: unknown } | undefined;
  if (typeof code?.S3Key !== "string") return undefined;
  const key = code.S3Key;
  const asset = stack.assets.find((a) => a.objectKeys.includes(key));
  if (asset === undefined) throw new Error(`no asset of the assembly is uploaded as ${key}`);
  if (asset.packaging !== "zip" || !existsSync(asset.path)) throw new Error(`asset ${asset.hash} is not a directory to zip`);
  return asset.path;
}
