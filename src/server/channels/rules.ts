import { ClientError, ErrorCode } from '../../protocol/codes.js';
import type { ChannelOptionsConfig, ChannelSectionConfig, PersonalChannelConfig } from './types.js';

/** A channel resolved to its namespace. */
export interface ResolvedChannel {
  /** Namespace name; `""` for `without_namespace`. */
  namespace: string;
  /** The part the namespace's `channel_regex` applies to: after `ns:`, or the whole channel. */
  rest: string;
  options: ChannelOptionsConfig;
}

const defaultHistoryMetaTtl = 720 * 3600 * 1000;

interface CompiledNamespace {
  options: ChannelOptionsConfig;
  regex: RegExp | undefined;
}

/** Everything compiled from one channel section; never mutated once built. */
interface RulesState {
  readonly privatePrefix: string;
  readonly namespaceBoundary: string;
  readonly userBoundary: string;
  readonly userSeparator: string;
  readonly maxLength: number;
  readonly globalHistoryMetaTtl: number;
  readonly globalDataFormat: string;
  readonly withoutNamespace: CompiledNamespace;
  readonly namespaces: ReadonlyMap<string, CompiledNamespace>;
  readonly personalNamespace: string;
}

/**
 * Compiles a Go (RE2) `channel_regex` as a JavaScript RegExp: `(?P<name>` becomes `(?<name>`
 * and leading inline flags like `(?i)` become RegExp flags.
 */
export function compileGoRegex(source: string): RegExp {
  let js = source.replace(/\(\?P</g, '(?<');
  let flags = '';
  const lead = /^\(\?([ims]+)\)/.exec(js);
  if (lead) {
    flags = [...new Set(lead[1])].join('');
    js = js.slice(lead[0].length);
  }
  try {
    return new RegExp(js, flags + 'u');
  } catch {
    return new RegExp(js, flags);
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
}

function compileRules(channel: ChannelSectionConfig, personal: PersonalChannelConfig): RulesState {
  const wn = channel.without_namespace ?? {};
  const namespaces = new Map<string, CompiledNamespace>();
  for (const ns of channel.namespaces ?? []) {
    namespaces.set(ns.name, {
      options: ns,
      regex: ns.channel_regex ? compileGoRegex(ns.channel_regex) : undefined,
    });
  }
  return Object.freeze({
    privatePrefix: channel.private_prefix ?? '$',
    namespaceBoundary: channel.namespace_boundary ?? ':',
    userBoundary: channel.user_boundary ?? '#',
    userSeparator: channel.user_separator ?? ',',
    maxLength: channel.max_length ?? 255,
    globalHistoryMetaTtl: channel.history_meta_ttl ?? defaultHistoryMetaTtl,
    globalDataFormat: channel.publication_data_format ?? '',
    withoutNamespace: { options: wn, regex: wn.channel_regex ? compileGoRegex(wn.channel_regex) : undefined },
    namespaces,
    personalNamespace: personal.personal_channel_namespace ?? '',
  });
}

/**
 * Channel naming and namespace rules of Centrifugo v6 (pure, no I/O):
 * - namespace = text before the first namespace boundary (`:`) after removing one leading
 *   private prefix (`$`); no boundary, or an empty name, selects `without_namespace`;
 * - a name is valid when it matches the namespace `channel_regex` (applied to the part after
 *   `ns:`), else when it is ASCII; and when it is at most `max_length` bytes;
 * - user-limited channels list allowed users after the last user boundary (`#`), separated by
 *   the user separator (`,`).
 *
 * The compiled rules sit behind one reference that {@link ChannelRules.replaceWith} swaps (config
 * reload): every holder of this object sees the new rules from its next call on, without a lock.
 * Each method reads the reference once, so one call never mixes old and new rules.
 */
export class ChannelRules {
  private state: RulesState;

  /** Throws a plain `Error` when a `channel_regex` does not compile. */
  constructor(channel: ChannelSectionConfig = {}, personal: PersonalChannelConfig = {}) {
    this.state = compileRules(channel, personal);
  }

  get privatePrefix(): string {
    return this.state.privatePrefix;
  }
  get namespaceBoundary(): string {
    return this.state.namespaceBoundary;
  }
  get userBoundary(): string {
    return this.state.userBoundary;
  }
  get userSeparator(): string {
    return this.state.userSeparator;
  }
  get maxLength(): number {
    return this.state.maxLength;
  }
  get globalHistoryMetaTtl(): number {
    return this.state.globalHistoryMetaTtl;
  }
  get globalDataFormat(): string {
    return this.state.globalDataFormat;
  }

  /**
   * From now on this object answers with the rules of `next` (built beforehand, so a bad
   * `channel_regex` fails there and leaves these rules untouched).
   */
  replaceWith(next: ChannelRules): void {
    this.state = next.state;
  }

  /** Namespace of `channel`, or undefined when the namespace is unknown. */
  resolve(channel: string): ResolvedChannel | undefined {
    const found = find(this.state, channel);
    return found ? { namespace: found.name, rest: found.rest, options: found.ns.options } : undefined;
  }

  /** True when the name passes `channel_regex` (or the ASCII rule) and the length limit. */
  validName(channel: string): boolean {
    const s = this.state;
    const found = find(s, channel);
    return found !== undefined && validFound(s, channel, found.rest, found.ns);
  }

  /**
   * Resolves a client-side channel: unknown namespace ⇒ `ClientError(102)`, invalid name ⇒
   * `ClientError(107)`.
   */
  lookup(channel: string): ResolvedChannel {
    const s = this.state;
    const found = find(s, channel);
    if (!found) throw new ClientError(ErrorCode.unknownChannel);
    if (!validFound(s, channel, found.rest, found.ns)) throw new ClientError(ErrorCode.badRequest);
    return { namespace: found.name, rest: found.rest, options: found.ns.options };
  }

  /** Starts with the private prefix (needs a subscription token). */
  isPrivate(channel: string): boolean {
    return isPrivate(this.state, channel);
  }

  /** Contains the user boundary. */
  isUserLimited(channel: string): boolean {
    const b = this.state.userBoundary;
    return b !== '' && channel.includes(b);
  }

  /** True when `channel` is not user-limited or lists `user` after its last user boundary. */
  userAllowed(channel: string, user: string): boolean {
    const { userBoundary: b, userSeparator } = this.state;
    if (b === '' || !channel.includes(b)) return true;
    const tail = channel.slice(channel.lastIndexOf(b) + b.length);
    return tail.split(userSeparator).includes(user);
  }

  /** `#<user>`, or `<ns>:#<user>` with `personal_channel_namespace`. */
  personalChannel(user: string): string {
    const s = this.state;
    const ch = s.userBoundary + user;
    return s.personalNamespace === '' ? ch : s.personalNamespace + s.namespaceBoundary + ch;
  }

  /** Effective stream meta TTL (ms) of a namespace. */
  historyMetaTtl(options: ChannelOptionsConfig): number {
    const v = options.history_meta_ttl ?? 0;
    return v > 0 ? v : this.state.globalHistoryMetaTtl;
  }

  /** Effective `publication_data_format` of a namespace. */
  dataFormat(options: ChannelOptionsConfig): string {
    const v = options.publication_data_format ?? '';
    return v !== '' ? v : this.state.globalDataFormat;
  }
}

function isPrivate(s: RulesState, channel: string): boolean {
  return s.privatePrefix !== '' && channel.startsWith(s.privatePrefix);
}

function find(
  s: RulesState,
  channel: string,
): { name: string; rest: string; ns: CompiledNamespace } | undefined {
  const trimmed = isPrivate(s, channel) ? channel.slice(s.privatePrefix.length) : channel;
  const idx = s.namespaceBoundary === '' ? -1 : trimmed.indexOf(s.namespaceBoundary);
  if (idx < 0) return { name: '', rest: channel, ns: s.withoutNamespace };
  const name = trimmed.slice(0, idx);
  const rest = trimmed.slice(idx + s.namespaceBoundary.length);
  if (name === '') return { name, rest, ns: s.withoutNamespace };
  const ns = s.namespaces.get(name);
  return ns ? { name, rest, ns } : undefined;
}

function validFound(s: RulesState, channel: string, rest: string, ns: CompiledNamespace): boolean {
  if (ns.regex) {
    if (!ns.regex.test(rest)) return false;
  } else if (!isAscii(channel)) {
    return false;
  }
  return s.maxLength <= 0 || Buffer.byteLength(channel, 'utf8') <= s.maxLength;
}

/** True when history is kept for the namespace (`history_size` and `history_ttl` both > 0). */
export function historyEnabled(options: ChannelOptionsConfig): boolean {
  return (options.history_size ?? 0) > 0 && (options.history_ttl ?? 0) > 0;
}

/**
 * Checks client publication data against `publication_data_format`: `""` rejects empty data,
 * `json` needs valid JSON, `json_object` a JSON object, `binary` accepts anything.
 */
export function validPublicationData(format: string, data: Uint8Array): boolean {
  switch (format) {
    case 'binary':
      return true;
    case 'json':
    case 'json_object': {
      let v: unknown;
      try {
        v = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
      } catch {
        return false;
      }
      return format === 'json' || (typeof v === 'object' && v !== null && !Array.isArray(v));
    }
    default:
      return data.byteLength > 0;
  }
}
