/** Runs the CLI from source (`node --import tsx src/cli/main-entry.ts ...`), like bin/gyre.js does from dist. */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
