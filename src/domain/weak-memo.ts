/**
 * The value memoised for `key` in `memo`, computed on first use. For values derived from an
 * object that is replaced rather than changed (a settings read, an opened provider): the memo
 * lives exactly as long as that object. If `compute` throws, nothing is remembered.
 */
export function memoized<K extends object, V>(memo: WeakMap<K, V>, key: K, compute: () => V): V {
  let value = memo.get(key);
  if (value === undefined) memo.set(key, (value = compute()));
  return value;
}
