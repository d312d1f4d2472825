/**
 * The `gyre` command line (Centrifugo v6 compatible): running the server (root command or `serve`),
 * config tools (`genconfig`, `checkconfig`, `defaultconfig`, `defaultenv`), token tools
 * (`gentoken`, `gensubtoken`, `checktoken`, `checksubtoken`), `version`, and `serve -d <dir>`, the
 * static file server for development that Centrifugo's `serve` is.
 */
import { Command, CommanderError, Option } from 'commander';
import type { CliIO } from './io.js';
import { processIO } from './io.js';
import { runVersion } from './commands/version.js';
import { runServe } from './commands/serve.js';
import { runStaticServe } from './static-serve.js';
import type { ServeFlags } from './commands/serve.js';
import { runCheckconfig, runDefaultconfig, runDefaultenv, runGenconfig } from './commands/config-files.js';
import { runCheckToken, runGenToken } from './commands/tokens.js';
import { configDocMarkdown, exportDotenv } from '../server/config/index.js';

/** Value flags of the server command: flag ⇒ config key. */
const VALUE_FLAGS: Array<[flag: string, key: string, doc: string]> = [
  ['-p, --port <port>', 'http_server.port', 'port to bind the HTTP server to (alias)'],
  ['--http_server.port <port>', 'http_server.port', 'port to bind the HTTP server to'],
  ['-a, --address <address>', 'http_server.address', 'interface address to listen on (alias)'],
  ['--http_server.address <address>', 'http_server.address', 'interface address to listen on'],
  ['--http_server.internal_port <port>', 'http_server.internal_port', 'port for internal endpoints'],
  [
    '--http_server.internal_address <address>',
    'http_server.internal_address',
    'address for internal endpoints',
  ],
  ['--log_level <level>', 'log.level', 'log level (alias of --log.level)'],
  ['--log.level <level>', 'log.level', 'log level: none, trace, debug, info, warn, error'],
  ['--log.file <file>', 'log.file', 'log to this file instead of stdout'],
  ['--pid_file <file>', 'pid_file', 'write the process id to this file'],
  ['--engine.type <type>', 'engine.type', 'engine: memory or redis'],
  ['--broker.type <type>', 'broker.type', 'broker: memory, redis, nats, postgres'],
  ['--presence_manager.type <type>', 'presence_manager.type', 'presence manager: memory or redis'],
  ['--map_broker.type <type>', 'map_broker.type', 'map broker: memory, redis or postgres'],
  ['--grpc_api.port <port>', 'grpc_api.port', 'GRPC API port'],
  ['--uni_grpc.port <port>', 'uni_grpc.port', 'unidirectional GRPC port'],
];

/** Boolean flags of the server command (accept `--x`, `--x=true`, `--x=false`). */
const BOOL_FLAGS = [
  'broker.enabled',
  'presence_manager.enabled',
  'admin.enabled',
  'admin.insecure',
  'admin.external',
  'prometheus.enabled',
  'health.enabled',
  'swagger.enabled',
  'debug.enabled',
  'init.enabled',
  'client.insecure',
  'http_api.insecure',
  'http_api.external',
  'grpc_api.enabled',
  'uni_grpc.enabled',
  'uni_websocket.enabled',
  'uni_sse.enabled',
  'uni_http_stream.enabled',
  'sse.enabled',
  'http_stream.enabled',
];

function addServerOptions(cmd: Command): Command {
  cmd.option('-c, --config <file>', 'path to config file', 'config.json');
  for (const [flag, , doc] of VALUE_FLAGS) cmd.option(flag, doc);
  for (const key of BOOL_FLAGS) cmd.option(`--${key} [bool]`, `set ${key}`);
  cmd.option('--workers <n>', 'worker processes sharing the port (Gyre only; env GYRE_WORKERS; default 1)');
  return cmd;
}

/** Config-key flags the user actually gave (later aliases win over earlier ones). */
function serverFlags(cmd: Command): ServeFlags {
  const opts = cmd.opts<Record<string, string | boolean | undefined>>();
  const flags: ServeFlags = {};
  const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
  for (const [flag, key] of VALUE_FLAGS) {
    const name = new Option(flag).attributeName();
    if (given(name)) flags[key] = opts[name];
  }
  for (const key of BOOL_FLAGS) if (given(key)) flags[key] = opts[key];
  return flags;
}

const intArg = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CommanderError(1, 'gyre.invalidArgument', `not an integer: ${v}`);
  return n;
};

/**
 * Runs the CLI with `argv` (arguments after the executable and script). Resolves with the process
 * exit code; never calls `process.exit` except after a served server shut down.
 */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  // A real process loads ./.env into its environment (tests pass their own IO and environment).
  if (io === processIO) exportDotenv(process.cwd());
  let code = 0;
  const program = new Command('gyre')
    .description('Gyre: real-time messaging server compatible with Centrifugo v6')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError()
    .enablePositionalOptions();
  addServerOptions(program).action(async (_o, cmd: Command) => {
    code = await runServe(
      io,
      cmd.opts<{ config: string }>().config,
      serverFlags(cmd),
      cmd.opts<{ workers?: string }>().workers,
    );
  });

  addServerOptions(
    program
      .command('serve')
      .description('run the server (same as no command); with -d, a static file server for development'),
  )
    .option('-d, --dir <dir>', 'serve the files of this directory instead (port 3000 unless -p is given)')
    .action(async (_o, cmd: Command) => {
      const o = cmd.opts<{
        config: string;
        dir?: string;
        port?: string;
        address?: string;
        workers?: string;
      }>();
      code =
        o.dir !== undefined
          ? await runStaticServe(io, { dir: o.dir, port: o.port, address: o.address })
          : await runServe(io, o.config, serverFlags(cmd), o.workers);
    });

  program
    .command('version')
    .description('print the version')
    .action(() => {
      code = runVersion(io);
    });

  program
    .command('genconfig')
    .description('generate a minimal configuration file with random secrets')
    .option('-c, --config <file>', 'output file (.json, .yaml, .yml or .toml)', 'config.json')
    .action(async (o: { config: string }) => {
      code = await runGenconfig(io, o.config);
    });

  program
    .command('checkconfig')
    .description('check a configuration file')
    .option('-c, --config <file>', 'path to config file', 'config.json')
    .option('-s, --strict', 'fail on unknown keys', false)
    .action(async (o: { config: string; strict: boolean }) => {
      code = await runCheckconfig(io, o.config, o.strict);
    });

  program
    .command('defaultconfig')
    .description('write a configuration file with every option at its default')
    .option('-c, --config <file>', 'output file (.json, .yaml, .yml or .toml)', 'config.json')
    .option('-b, --base <file>', 'base config file whose values replace defaults')
    .option('-d, --dry-run', 'print to stdout instead of writing', false)
    .action(async (o: { config: string; base?: string; dryRun: boolean }) => {
      code = await runDefaultconfig(io, o);
    });

  program
    .command('defaultenv')
    .description('print every option as an environment variable with its default')
    .option('-b, --base <file>', 'base config file whose values replace defaults')
    .option('--base-non-zero-only', 'print only options set to non-zero values in base', false)
    .action(async (o: { base?: string; baseNonZeroOnly: boolean }) => {
      code = await runDefaultenv(io, o);
    });

  program
    .command('configdoc')
    .description('print the configuration reference (Markdown)')
    .option('-m, --markdown', 'Markdown output (the only format)', true)
    .option('-s, --section <key>', 'only this top-level section')
    .action((o: { section?: string }) => {
      io.out(configDocMarkdown(o.section));
      code = 0;
    });

  for (const sub of [false, true]) {
    const cmd = program
      .command(sub ? 'gensubtoken' : 'gentoken')
      .description(sub ? 'generate a subscription token (HS256)' : 'generate a connection token (HS256)')
      .option('-c, --config <file>', 'path to config file', 'config.json')
      .option('-u, --user <user>', 'user id (empty = anonymous)', '')
      .option('-t, --ttl <seconds>', 'token TTL in seconds, -1 for no expiration', intArg, 604800)
      .option('-q, --quiet', 'print only the token', false);
    if (sub) cmd.requiredOption('-s, --channel <channel>', 'channel');
    cmd.action(async (o: { config: string; user: string; ttl: number; quiet: boolean; channel?: string }) => {
      code = await runGenToken(io, sub ? 'subscription' : 'connection', o);
    });
  }

  for (const sub of [false, true]) {
    program
      .command(sub ? 'checksubtoken' : 'checktoken')
      .description(sub ? 'verify a subscription token' : 'verify a connection token')
      .argument('<token>', 'JWT to verify')
      .option('-c, --config <file>', 'path to config file', 'config.json')
      .action(async (token: string, o: { config: string }) => {
        code = await runCheckToken(io, sub ? 'subscription' : 'connection', { config: o.config, token });
      });
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version requests exit 0; usage errors were already printed by commander.
      return err.exitCode;
    }
    io.err(`error: ${(err as Error).message}\n`);
    return 1;
  }
  return code;
}
