/**
 * Go RE2 regular expressions as JavaScript RegExp.
 *
 * Differences handled: `(?P<name>…)` named groups are rewritten to `(?<name>…)`; leading inline
 * flags `(?i)`, `(?s)`, `(?m)` (and combinations) become RegExp flags; `\z` becomes `$` (without
 * `m`). Patterns RE2 rejects but JS accepts (lookahead/lookbehind, backreferences) are rejected so
 * a config that Centrifugo refuses is refused here too. Not handled: flags in the middle of a
 * pattern, `\C`, POSIX classes `[[:alpha:]]`, `\Q…\E`; such patterns fail to compile or behave as
 * JS does.
 */
export function compileGoRegex(source: string): RegExp {
  let src = source;
  let flags = 'u';
  const lead = /^\(\?([ims]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1] ?? '') if (!flags.includes(f)) flags += f;
    src = src.slice(lead[0].length);
  }
  if (/\(\?<?[=!]/.test(src)) throw new Error('lookaround assertions are not supported (RE2)');
  if (/(^|[^\\])\\[1-9]/.test(src)) throw new Error('backreferences are not supported (RE2)');
  src = src.replace(/\(\?P</g, '(?<').replace(/\\z/g, '$');
  try {
    return new RegExp(src, flags);
  } catch {
    // Some RE2-valid escapes are invalid in unicode mode; retry without it.
    return new RegExp(src, flags.replace('u', ''));
  }
}
