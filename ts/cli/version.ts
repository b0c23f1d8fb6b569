import * as fs from 'fs';
import * as path from 'path';
import { packageRoot } from '../native';

let cached: string | null = null;
/** The installed package's version (package.json). */
export function libraryVersion(): string {
  cached ??= JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version as string;
  return cached;
}
