/**
 * A minimal ustar writer for image layers and archives: regular files,
 * folders and symbolic links, owned by root, mtime 0, so that the same input
 * always gives the same bytes (and the same image digest).
 */

export type TarEntry =
  | { type: 'file'; path: string; mode: number; data: Buffer }
  | { type: 'dir'; path: string; mode: number }
  | { type: 'symlink'; path: string; target: string };

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width - 1 digits and a NUL, as ustar readers expect.
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** ustar keeps 100 bytes of name and 155 of prefix, split at a '/'. */
function splitPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  const cut = path.lastIndexOf('/', 155);
  const name = path.slice(cut + 1);
  const prefix = path.slice(0, cut);
  if (cut <= 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) {
    throw new RangeError(`tar: path too long for ustar: ${path}`);
  }
  return { name, prefix };
}

function header(entry: TarEntry, size: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  const path = entry.type === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  const { name, prefix } = splitPath(path);
  const put = (text: string, offset: number, width: number): void => {
    if (Buffer.byteLength(text) > width) throw new RangeError(`tar: field too long: ${text}`);
    block.write(text, offset, width, 'utf8');
  };
  const mode = entry.type === 'symlink' ? 0o777 : entry.mode;
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12); // mtime
  put({ file: '0', dir: '5', symlink: '2' }[entry.type], 156, 1);
  if (entry.type === 'symlink') put(entry.target, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  put(prefix, 345, 155);
  // The checksum is summed with its own field as eight spaces.
  block.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return block;
}

/** The archive of `entries`, in their order, with the two zero blocks that end it. */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = entry.type === 'file' ? entry.data : Buffer.alloc(0);
    parts.push(header(entry, data.length), data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
