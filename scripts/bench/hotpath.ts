/**
 * The hot path, measured: `npm run local` (as a child process, its whole CPU)
 * on N objects of SIZE bytes in an emulator of its own process, no added
 * latency. Seeds once, then runs the job --repeat times into fresh
 * destination buckets. Extra arguments after `--` go to `local`; env is
 * passed through (e.g. S3_FANOUT_LEAN_COPY=0).
 *   npx tsx scripts/bench/hotpath.ts [--objects N] [--size BYTES] [--repeat N] [--cpu-prof DIR] [-- local args]
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createS3Client } from "../../lambdas/aws/clients.ts";
import { spawnEmulator } from "../lib/emulator.ts";
import { ensureBucket } from "../lib/seed.ts";
import { countObjects, seedBucket } from "./dataset.ts";

const split = process.argv.indexOf("--");
const own = split < 0 ? process.argv.slice(2) : process.argv.slice(2, split);
const extra = split < 0 ? [] : process.argv.slice(split + 1);
const { values } = parseArgs({
  args: own,
  options: {
    objects: { type: "string", default: "10000" },
    size: { type: "string", default: "1024" },
    repeat: { type: "string", default: "1" },
    "cpu-prof": { type: "string" },
    rclone: { type: "boolean", default: false },
  },
});
const objects = Number(values.objects);
const root = fileURLToPath(new URL("../..", import.meta.url));

/** Runs `local` as `npm run local` does (its bundle) under /usr/bin/time: wall, user and sys of the process. */
function runLocal(endpoint: string, dest: string, peer = false): Promise<{ wall: number; user: number; sys: number; out: string }> {
  const node = [
    ...(values["cpu-prof"] ? ["--cpu-prof", "--cpu-prof-dir", values["cpu-prof"]] : []),
    "scripts/bundled.mjs",
    "local",
    "--source",
    "s3://hotpath-src",
    "--dest",
    `s3://${dest}`,
    "--endpoint",
    endpoint,
    "--json",
    "--quiet",
    ...extra,
  ];
  return new Promise((resolve, reject) => {
    // The peer: rclone's server-side copy on the same emulator, as issue 13 ran it.
    const rclone = ["rclone", "copy", "emu:hotpath-src", `emu:${dest}`, "--transfers", "64", "--checkers", "64"];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      RCLONE_CONFIG_EMU_TYPE: "s3",
      RCLONE_CONFIG_EMU_PROVIDER: "Other",
      RCLONE_CONFIG_EMU_ENDPOINT: endpoint,
      RCLONE_CONFIG_EMU_ACCESS_KEY_ID: "test",
      RCLONE_CONFIG_EMU_SECRET_ACCESS_KEY: "test",
      RCLONE_CONFIG_EMU_FORCE_PATH_STYLE: "true",
    };
    // rclone 1.60 cannot load AWS_CA_BUNDLE into its transport; the emulator is plain HTTP anyway.
    if (peer) delete env.AWS_CA_BUNDLE;
    const argv = peer ? rclone : [process.execPath, ...node];
    const child = spawn("/usr/bin/time", ["-f", "TIME %e %U %S", ...argv], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d;
    });
    child.once("exit", (code) => {
      const m = /TIME (\S+) (\S+) (\S+)/.exec(err);
      if (code !== 0 || !m) reject(new Error(`local exited ${code}: ${err.trim().slice(-800)}`));
      else resolve({ wall: Number(m[1]), user: Number(m[2]), sys: Number(m[3]), out });
    });
  });
}

const emulator = await spawnEmulator();
const s3 = createS3Client({ endpoint: emulator.endpoint });
try {
  const seeded = performance.now();
  await seedBucket(s3, "hotpath-src", objects, Number(values.size), 128);
  process.stderr.write(`seeded ${objects} in ${((performance.now() - seeded) / 1000).toFixed(1)} s\n`);
  for (let r = 0; r < Number(values.repeat); r++) {
    const dest = `hotpath-dst-${r}`;
    await ensureBucket(s3, dest);
    const t = await runLocal(emulator.endpoint, dest, values.rclone);
    const copied = await countObjects(s3, dest);
    const cpu = t.user + t.sys;
    const summary = JSON.parse((values.rclone ? "" : t.out.trim().split("\n").at(-1)) || "{}") as {
      copied?: number;
      failed?: number;
      seconds?: number;
    };
    console.log(
      JSON.stringify({
        run: r + 1,
        objects,
        copied,
        reported: summary.copied,
        failed: summary.failed,
        wall: t.wall,
        jobSeconds: summary.seconds,
        user: t.user,
        sys: t.sys,
        cpu: Number(cpu.toFixed(2)),
        cpuMsPerObject: Number(((cpu * 1000) / objects).toFixed(3)),
        objectsPerSecond: Math.round(objects / t.wall),
      }),
    );
  }
} finally {
  s3.destroy();
  await emulator.stop();
}
