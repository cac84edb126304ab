import { readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import { EXTENSIONS } from '../../domain/types.js';

export interface FileEntry {
  path: string;
  /** What the user sees: the path relative to the working directory. */
  label: string;
  bytes: number;
}

const SUPPORTED_EXTENSIONS = new Set(Object.values(EXTENSIONS).flat());

/**
 * Expands the arguments into files. Directories are walked recursively in name order; dotfiles
 * and dot-directories are skipped, and so are files of unsupported types (a directory holds
 * more than documents). A file named explicitly is always sent: the server decides.
 * Symbolic links are followed only while they stay inside the directory tree being walked, so
 * a link cannot pull in `/etc` or loop forever.
 */
export async function collectFiles(inputs: string[]): Promise<{ files: FileEntry[]; notes: string[] }> {
  const files: FileEntry[] = [];
  const notes: string[] = [];
  const seen = new Set<string>();
  let unsupported = 0;

  const add = async (path: string, real: string) => {
    if (seen.has(real)) return;
    seen.add(real);
    const info = await stat(real);
    files.push({ path: real, label: relative(process.cwd(), path) || path, bytes: info.size });
  };

  const walk = async (dir: string, root: string, visited: Set<string>) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      notes.push(`skipped ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      let real: string;
      try {
        real = await realpath(path);
      } catch {
        notes.push(`skipped ${path}: broken link`);
        continue;
      }
      if (entry.isSymbolicLink() && real !== root && !real.startsWith(root + sep)) {
        notes.push(`skipped ${path}: links outside ${root}`);
        continue;
      }
      const info = await stat(real).catch(() => null);
      if (!info) {
        notes.push(`skipped ${path}: cannot be read`);
      } else if (info.isDirectory()) {
        if (visited.has(real)) continue;
        visited.add(real);
        await walk(path, root, visited);
      } else if (info.isFile()) {
        if (SUPPORTED_EXTENSIONS.has(extname(entry.name).toLowerCase())) await add(path, real);
        else unsupported++;
      }
    }
  };

  for (const input of inputs) {
    const path = resolve(input);
    let real: string;
    try {
      real = await realpath(path);
    } catch {
      notes.push(`skipped ${input}: no such file or directory`);
      continue;
    }
    const info = await stat(real);
    if (info.isDirectory()) await walk(path, real, new Set([real]));
    else if (info.isFile()) await add(path, real);
    else notes.push(`skipped ${input}: not a regular file`);
  }
  if (unsupported > 0) notes.push(`skipped ${unsupported} file(s) of unsupported types (supported: ${[...SUPPORTED_EXTENSIONS].join(' ')})`);
  return { files, notes };
}

