/**
 * Gyre configuration: the Centrifugo v6 layout (snake_case keys, durations in ms, every default
 * filled in). See `types.ts` for the shape, `schema.ts` for keys, defaults and docs, `load.ts` for
 * sources and precedence, `validate.ts` for the start-up checks.
 */
export type * from './types.js';
export { defaultConfig, configSchema, envName, walkSchema, nodeAt, defaultOf } from './schema.js';
export type { SchemaEntry } from './schema.js';
export type { SchemaNode, ObjectNode, ArrayNode, LeafNode } from './schema-types.js';
export { parseDuration, formatDuration } from './duration.js';
export { loadConfig, ConfigError, configFormat, parseConfigText, nameForEnv, exportDotenv } from './load.js';
export type { LoadOptions, LoadResult } from './load.js';
export { validateConfig } from './validate.js';
export {
  startupProblems,
  SUPPORTED_BROKER_TYPES,
  SUPPORTED_CONSUMER_TYPES,
  SUPPORTED_MAP_BROKER_TYPES,
} from './startup.js';
export { compileGoRegex } from './regex.js';
export { toFileValue, stringifyConfig, envLines } from './serialize.js';
export type { EnvLinesOptions } from './serialize.js';
export { configDocMarkdown } from './docs.js';
