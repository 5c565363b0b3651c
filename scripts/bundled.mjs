/**
 * Runs an operator command (scripts/NAME.ts) from a bundle that esbuild
 * builds the first time and again whenever one of its inputs changed. tsx
 * compiles every module at each start, about 0.7 s of CPU; the bundle loads
 * in about 0.15 s, which a job of 10,000 objects feels (README, Hot path).
 *   node scripts/bundled.mjs NAME [args...]
 * `ensureBundle` does the same for the local runtime's worker threads.
 * Bundles sit two folders down (scripts/.bundle/), as scripts/lib's modules
 * do, so that their paths relative to import.meta.url still hold.
 */
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The repository: found from here, whether this runs as itself or inside a bundle. */
function findRoot() {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, "utf8")).name === "s3-fanout") return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`bundled.mjs: no s3-fanout package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Whether a bundle is missing or older than any file it was built from (node_modules included). */
function stale(root, out, inputsFile) {
  if (!existsSync(out) || !existsSync(inputsFile)) return true;
  const built = statSync(out).mtimeMs;
  const inputs = JSON.parse(readFileSync(inputsFile, "utf8"));
  return inputs.some((file) => {
    try {
      return statSync(join(root, file)).mtimeMs > built;
    } catch {
      return true; // an input gone: rebuild, and let esbuild say what is missing
    }
  });
}

/**
 * The bundle of ENTRY (a path from the repository's root, e.g. scripts/local.ts),
 * at scripts/.bundle/NAME.mjs, built first when stale. Returns its path.
 */
export async function ensureBundle(entry, name) {
  const root = findRoot();
  const out = join(root, "scripts", ".bundle", `${name}.mjs`);
  const inputsFile = `${out}.inputs.json`;
  if (!stale(root, out, inputsFile)) return out;
  const { build } = await import("esbuild");
  // Built aside and renamed into place: two commands starting at once never load half a bundle.
  const aside = join(dirname(out), `.${process.pid}-${name}`);
  const tmp = join(aside, `${name}.mjs`);
  const result = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile: tmp,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    metafile: true,
    sourcemap: "linked",
    logLevel: "warning",
    external: ["esbuild"],
    // CommonJS dependencies (the AWS SDK among them) call require; an ES module bundle has none of its own.
    banner: { js: "import { createRequire as __bundledRequire } from 'node:module'; const require = __bundledRequire(import.meta.url);" },
  });
  // npm keeps a package's own file times, so an upgrade shows in the lock files, not in node_modules' files.
  const inputs = [...Object.keys(result.metafile.inputs), "package-lock.json", "node_modules/.package-lock.json"];
  writeFileSync(`${tmp}.inputs.json`, JSON.stringify(inputs));
  renameSync(`${tmp}.map`, `${out}.map`);
  renameSync(tmp, out);
  renameSync(`${tmp}.inputs.json`, inputsFile);
  rmSync(aside, { recursive: true, force: true });
  return out;
}

// As a command: node scripts/bundled.mjs NAME [args...]
if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const name = process.argv[2];
  const root = findRoot();
  if (!name || !/^[a-z][a-z-]*$/.test(name) || !existsSync(join(root, "scripts", `${name}.ts`))) {
    process.stderr.write(`usage: node scripts/bundled.mjs COMMAND [args...] (COMMAND: a file scripts/COMMAND.ts)\n`);
    process.exit(2);
  }
  const out = await ensureBundle(join("scripts", `${name}.ts`), name);
  process.argv.splice(1, 2, join(dirname(out), `${name}.ts`));
  // Stacks name the TypeScript sources only when asked for (S3_FANOUT_DEBUG): mapping costs ~0.07 s at each start.
  if (process.env.S3_FANOUT_DEBUG) process.setSourceMapsEnabled(true);
  await import(pathToFileURL(out).href);
}
