// Command-line flags: a declarative spec per subcommand, parsed strictly (node's util.parseArgs),
// then each value converted and range-checked. Every mistake is a UsageError: one line, exit 2.
import { parseArgs } from 'util';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagKind = 'string' | 'int' | 'number' | 'boolean';
export interface Flag {
  kind: FlagKind;
  help: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  min?: number;
  max?: number;
  short?: string;
  /** the value's placeholder in --help */
  arg?: string;
  /** may be given more than once (a string flag then yields string[]) */
  multiple?: boolean;
}
export type FlagSpec = Record<string, Flag>;
export type FlagValue = string | string[] | number | boolean | undefined;
export type Parsed = { flags: Record<string, FlagValue>; positionals: string[] };

export function parseFlags(command: string, argv: string[], spec: FlagSpec, allowPositionals = false): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, f] of Object.entries(spec))
    options[name] = { type: f.kind === 'boolean' ? 'boolean' : 'string', ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) };
  let raw: ReturnType<typeof parseArgs>;
  try {
    raw = parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    // node's messages name the flag; drop its advice about '--' which does not apply here
    throw new UsageError(`${command}: ${(e as Error).message.split('\n')[0].replace(/ To specify a positional argument.*$/, '')}`);
  }
  const flags: Parsed['flags'] = {};
  if (raw.values.help) return { flags: { help: true }, positionals: [] };
  for (const [name, f] of Object.entries(spec)) {
    const v = raw.values[name] as string | string[] | boolean | undefined;
    if (v === undefined) flags[name] = f.default;
    else if (Array.isArray(v)) flags[name] = v.map((one) => convert(command, name, f, one) as string);
    else flags[name] = convert(command, name, f, v);
  }
  return { flags, positionals: raw.positionals };
}

function convert(command: string, name: string, f: Flag, v: string | boolean): string | number | boolean {
  if (f.kind === 'boolean') return v as boolean;
  const s = v as string;
  if (f.kind === 'string') {
    if (f.choices && !f.choices.includes(s)) throw new UsageError(`${command}: --${name} must be one of ${f.choices.join(', ')}, got '${s}'`);
    if (s === '') throw new UsageError(`${command}: --${name} needs a value`);
    return s;
  }
  const n = Number(s);
  const isInt = f.kind === 'int';
  if (s.trim() === '' || !Number.isFinite(n) || (isInt && !Number.isSafeInteger(n)))
    throw new UsageError(`${command}: --${name} must be ${isInt ? 'an integer' : 'a number'}, got '${s}'`);
  if ((f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max))
    throw new UsageError(`${command}: --${name} must be ${f.max === undefined ? `>= ${f.min}` : f.min === undefined ? `<= ${f.max}` : `in [${f.min}, ${f.max}]`}, got ${s}`);
  return n;
}

export function helpText(usage: string, description: string, spec: FlagSpec): string {
  const rows = Object.entries(spec).map(([name, f]) => {
    const arg = f.kind === 'boolean' ? '' : ` <${f.arg ?? (f.choices ? f.choices.join('|') : f.kind === 'string' ? 'value' : 'n')}>`;
    const def = f.default !== undefined && f.kind !== 'boolean' ? ` (default: ${f.default})` : '';
    return [`  ${f.short ? `-${f.short}, ` : ''}--${name}${arg}`, `${f.help}${def}`];
  });
  rows.push(['  -h, --help', 'show this help']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return `usage: ${usage}\n\n${description}\n\noptions:\n${rows.map(([l, r]) => l.padEnd(width) + r).join('\n')}\n`;
}
