/**
 * A user-supplied filename is only ever a label. It never becomes a path (files are stored
 * under their content hash), but it is shown in listings and citations, so strip what could
 * mislead or break a terminal: directories, control characters, bidi overrides.
 */
export function displayName(raw: string | undefined, fallback = 'untitled'): string {
  if (!raw) return fallback;
  const base = raw.split(/[\\/]/).pop() ?? '';
  const clean = cleanLabel(base).replace(/^\.+/, '').trim();
  return clean.length > 0 ? clean : fallback;
}

/**
 * Any label a user names something with (a knowledge base, a file): NFC, without control
 * characters and bidi marks or overrides (which make a name display as something else), trimmed,
 * at most 255 characters. Slashes and every script are kept.
 */
export function cleanLabel(raw: string): string {
  return raw
    .normalize('NFC')
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
    .trim()
    .slice(0, 255);
}

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot).toLowerCase();
}
