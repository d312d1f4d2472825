/**
 * Node kinds of the configuration schema and the small builders used to declare it.
 * `Infer<typeof node>` gives the TypeScript type a node produces after loading.
 */

import { parseDuration } from './duration.js';

export interface ScalarNode<K extends string, T> {
  readonly kind: K;
  /** Default value; durations are in milliseconds. */
  readonly default: T;
  /** One-line documentation. */
  readonly doc: string;
}

export type StringNode = ScalarNode<'string', string> & {
  /** When set, only these values are valid (`""` is always allowed unless `required`). */
  readonly oneOf?: readonly string[];
};
export type IntNode = ScalarNode<'int', number>;
export type BoolNode = ScalarNode<'bool', boolean>;
export type DurationNode = ScalarNode<'duration', number>;
export type StringListNode = ScalarNode<'string[]', string[]>;
export type MapNode = ScalarNode<'map', Record<string, string>>;

export interface ObjectNode<F extends Fields = Fields> {
  readonly kind: 'object';
  readonly fields: F;
  readonly doc: string;
}

export interface ArrayNode<E extends ObjectNode = ObjectNode> {
  readonly kind: 'array';
  readonly element: E;
  readonly doc: string;
  /** Arrays whose elements are addressed by `name` in env vars (`CENTRIFUGO_<ARRAY>_<NAME>_<OPT>`). */
  readonly named: boolean;
}

export type LeafNode = StringNode | IntNode | BoolNode | DurationNode | StringListNode | MapNode;
export type SchemaNode = LeafNode | ObjectNode | ArrayNode;
export type Fields = { readonly [key: string]: SchemaNode };

/** The loaded value type of a schema node. */
export type Infer<N> =
  N extends ObjectNode<infer F>
    ? { -readonly [K in keyof F]: Infer<F[K]> }
    : N extends ArrayNode<infer E>
      ? Infer<E>[]
      : N extends ScalarNode<string, infer T>
        ? T
        : never;

export const str = (def = '', doc = '', oneOf?: readonly string[]): StringNode =>
  oneOf ? { kind: 'string', default: def, doc, oneOf } : { kind: 'string', default: def, doc };
export const int = (def = 0, doc = ''): IntNode => ({ kind: 'int', default: def, doc });
export const bool = (def = false, doc = ''): BoolNode => ({ kind: 'bool', default: def, doc });
/** Duration with its default written the Go way (`"25s"`). */
export const dur = (def = '0', doc = ''): DurationNode => {
  const ms = parseDuration(def);
  if (ms === undefined) throw new Error(`bad schema duration ${def}`);
  return { kind: 'duration', default: ms, doc };
};
export const list = (def: string[] = [], doc = ''): StringListNode => ({
  kind: 'string[]',
  default: def,
  doc,
});
export const map = (doc = ''): MapNode => ({ kind: 'map', default: {}, doc });
export const obj = <F extends Fields>(fields: F, doc = ''): ObjectNode<F> => ({
  kind: 'object',
  fields,
  doc,
});
export const arr = <E extends ObjectNode>(element: E, doc = '', named = false): ArrayNode<E> => ({
  kind: 'array',
  element,
  doc,
  named,
});
