/**
 * scripts/bundled.mjs, which `npm run local` goes through: it runs the
 * command from a bundle, builds that bundle only when one of its inputs is
 * newer, and refuses an unknown command with one line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BUNDLE = join(ROOT, "scripts", ".bundle", "local.mjs");

function bundled(...args: string[]) {
  return spawnSync(process.execPath, ["scripts/bundled.mjs", ...args], { cwd: ROOT, encoding: "utf8" });
}

describe("scripts/bundled.mjs (npm run local)", () => {
  it("runs local from its bundle, rebuilt only when an input changed", () => {
    const first = bundled("local", "--help");
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /^usage: npm run local -- --source/);
    const built = statSync(BUNDLE).mtimeMs;
    const inputs = JSON.parse(readFileSync(`${BUNDLE}.inputs.json`, "utf8")) as string[];
    assert.ok(inputs.includes("scripts/local.ts") && inputs.includes("lambdas/core/copier.ts"), "its own sources are inputs");
    assert.ok(inputs.includes("package-lock.json"), "an install rebuilds it");

    const again = bundled("local", "--help");
    assert.equal(again.status, 0, again.stderr);
    assert.equal(statSync(BUNDLE).mtimeMs, built, "not rebuilt when nothing changed");

    // An input touched (its content unchanged): the next start rebuilds.
    const input = join(ROOT, "scripts", "lib", "s3url.ts");
    const later = new Date(built + 2_000);
    utimesSync(input, later, later);
    const rebuilt = bundled("local", "--help");
    assert.equal(rebuilt.status, 0, rebuilt.stderr);
    assert.ok(statSync(BUNDLE).mtimeMs > built, "rebuilt after an input changed");
  });

  it("refuses an unknown command with one usage line and exit 2", () => {
    for (const name of ["nope", "../local", ""]) {
      const run = bundled(name);
      assert.equal(run.status, 2, name);
      assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
      assert.match(run.stderr, /^usage: node scripts\/bundled\.mjs COMMAND/);
    }
  });
});
