import { runCli } from './cli';
import { processIo } from './stdio';

/** `npm run -s replay -- <command>` / `session-replay <command>`. */
runCli(
  process.argv.slice(2),
  processIo({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }),
).then(
  (code) => {
    process.exitCode = code;
    // Let stdout drain (exports are piped), then leave even if a client keeps a handle open.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
