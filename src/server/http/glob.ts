/**
 * Glob patterns with the syntax Centrifugo uses (gobwas/glob without separators):
 * `*` and `**` match any run of characters, `?` one character, `[abc]` / `[a-z]` a class,
 * `[!abc]` a negated class, `{a,b}` alternatives (nestable), `\` escapes the next character.
 */

/** Thrown for a malformed pattern (unclosed `[` or `{`, trailing `\`). */
export class GlobSyntaxError extends Error {}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/-]/g;

function escapeRe(s: string): string {
  return s.replace(REGEX_SPECIAL, '\\$&');
}

/** Compiles `pattern` into a matcher function. Throws `GlobSyntaxError` on a malformed pattern. */
export function compileGlob(pattern: string): (s: string) => boolean {
  if (pattern === '*' || pattern === '**') return () => true;
  let i = 0;
  let depth = 0;
  const parse = (): string => {
    let out = '';
    while (i < pattern.length) {
      const c = pattern[i] as string;
      if (c === '\\') {
        if (i + 1 >= pattern.length) throw new GlobSyntaxError('trailing escape');
        out += escapeRe(pattern[i + 1] as string);
        i += 2;
      } else if (c === '*') {
        while (pattern[i] === '*') i++;
        out += '.*';
      } else if (c === '?') {
        out += '.';
        i++;
      } else if (c === '[') {
        const end = pattern.indexOf(']', i + 1);
        if (end === -1) throw new GlobSyntaxError('unclosed character class');
        let body = pattern.slice(i + 1, end);
        let neg = false;
        if (body.startsWith('!')) {
          neg = true;
          body = body.slice(1);
        }
        if (body === '') throw new GlobSyntaxError('empty character class');
        let cls = '';
        for (let j = 0; j < body.length; j++) {
          const ch = body[j] as string;
          if (body[j + 1] === '-' && j + 2 < body.length) {
            cls += `${escapeRe(ch)}-${escapeRe(body[j + 2] as string)}`;
            j += 2;
          } else {
            cls += escapeRe(ch);
          }
        }
        out += `[${neg ? '^' : ''}${cls}]`;
        i = end + 1;
      } else if (c === '{') {
        i++;
        depth++;
        const alts: string[] = [parse()];
        while (pattern[i] === ',') {
          i++;
          alts.push(parse());
        }
        if (pattern[i] !== '}') throw new GlobSyntaxError('unclosed alternatives');
        i++;
        depth--;
        out += `(?:${alts.join('|')})`;
      } else if (depth > 0 && (c === ',' || c === '}')) {
        return out;
      } else {
        out += escapeRe(c);
        i++;
      }
    }
    return out;
  };
  const source = parse();
  if (i < pattern.length) throw new GlobSyntaxError('unexpected character');
  const re = new RegExp(`^${source}$`, 's');
  return (s) => re.test(s);
}
