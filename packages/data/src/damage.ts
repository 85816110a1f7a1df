/**
 * Ways a file is found damaged in the wild, for the tests of every sealed file: cut short (a
 * crash or a full disk), zero-filled (a filesystem that lost its blocks), one bit flipped.
 */
import fs from 'node:fs';

export type Damage = 'truncate' | 'zero-fill' | 'bit-flip';
export const DAMAGES: Damage[] = ['truncate', 'zero-fill', 'bit-flip'];

export function damageFile(file: string, how: Damage): void {
  const bytes = fs.readFileSync(file);
  if (how === 'truncate') fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
  else if (how === 'zero-fill') fs.writeFileSync(file, Buffer.alloc(bytes.length));
  else {
    bytes[Math.floor(bytes.length / 2)] ^= 0x10;
    fs.writeFileSync(file, bytes);
  }
}
