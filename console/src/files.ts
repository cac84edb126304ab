/**
 * Files from a drop or a picker, folders walked recursively. Each keeps its path inside the
 * dropped folder as its name, so two `README.md` in different folders stay apart.
 */

export interface PickedFile {
  file: File;
  name: string;
}

/** Files chosen with <input type=file> (webkitdirectory gives each its relative path). */
export function fromInput(list: FileList | null): PickedFile[] {
  return Array.from(list ?? [], (file) => ({ file, name: file.webkitRelativePath || file.name }));
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry: FileSystemEntry, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, name: entry.fullPath.replace(/^\//, '') });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries returns at most ~100 entries per call: read until it returns none.
    for (let batch = await readEntries(reader); batch.length > 0; batch = await readEntries(reader)) {
      for (const child of batch) await walk(child, out);
    }
  }
}

/** Files of a drop, folders included. Entries must be taken synchronously, before any await. */
export async function fromDrop(data: DataTransfer): Promise<PickedFile[]> {
  const entries = Array.from(data.items, (item) => item.webkitGetAsEntry?.() ?? null);
  if (entries.some((e) => e !== null)) {
    const out: PickedFile[] = [];
    for (const entry of entries) if (entry) await walk(entry, out);
    return out;
  }
  return fromInput(data.files);
}
