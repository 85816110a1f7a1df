/** Decoding and the paper's preprocessing, with sharp. Formats are detected from content. */
import sharp from 'sharp';

export interface PreprocessOptions {
  size: number;
  channels: 1 | 3;
  /** Decompression-bomb guard: images with more pixels are refused. */
  maxPixels: number;
}

export interface DecodedImage {
  /** size × size × channels, 0…255 (as decoded; types.ts's toSignedUnit maps them to [-1, 1]). */
  pixels: Uint8Array;
  /** 256-bit difference hash of the original image, as eight 32-bit words. */
  dhash: Uint32Array;
  format: string;
  width: number;
  height: number;
  sourceChannels: number;
}

// libvips caches decoded images by default; a dataset is read once, so the cache only costs memory.
sharp.cache(false);

/** Resize the shorter side to `size`, centre-crop to size × size, `channels` channels, [-1, 1]. */
export async function decodeImage(buffer: Buffer, options: PreprocessOptions): Promise<DecodedImage> {
  if (buffer.length === 0) throw new Error('empty file');
  const input = sharp(buffer, { limitInputPixels: options.maxPixels, failOn: 'error' });
  const meta = await input.metadata();
  if (!meta.format || !meta.width || !meta.height) throw new Error('not an image');
  let pipeline = sharp(buffer, { limitInputPixels: options.maxPixels, failOn: 'error' })
    .rotate() // honour EXIF orientation, as viewers do
    .flatten({ background: '#000000' }) // RGBA scans: transparent background is black in MRI
    .resize(options.size, options.size, { fit: 'cover', position: 'centre', kernel: 'lanczos3' });
  pipeline = options.channels === 1 ? pipeline.greyscale() : pipeline.toColourspace('srgb');
  let decoded;
  try {
    decoded = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    // The header read fine, so the pixel data is what is broken; libvips' own message varies
    // (sometimes just "Unknown error"), so say what it means.
    let detail = (err as Error).message.split('\n')[0];
    if (/pixel limit/i.test(detail)) throw err;
    if (!detail || /unknown error/i.test(detail)) {
      // libvips keeps its error text per thread; under parallel decoding it can be lost. A plain
      // decode of this file alone says what is wrong.
      detail = await sharp(buffer, { failOn: 'error' }).raw().toBuffer().then(() => detail, (again: Error) => again.message.split('\n')[0] || detail);
    }
    throw new Error(`truncated or corrupt ${meta.format} image (${detail})`);
  }
  const { data, info } = decoded;
  const n = options.size * options.size;
  let pixels: Uint8Array;
  if (info.channels === options.channels) pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else {
    pixels = new Uint8Array(n * options.channels);
    for (let p = 0; p < n; p++) {
      for (let c = 0; c < options.channels; c++) {
        // A grey source decoded with one band is replicated to three.
        pixels[p * options.channels + c] = info.channels === 1 ? data[p] : data[p * info.channels + Math.min(c, info.channels - 1)];
      }
    }
  }
  return { pixels, dhash: await differenceHash(buffer, options.maxPixels), format: meta.format, width: meta.width, height: meta.height, sourceChannels: meta.channels ?? 0 };
}

/**
 * 256-bit difference hash: grey 17×16 thumbnail, one bit per horizontal neighbour pair
 * (left brighter than right). Robust to contrast and scale changes, which is what BR35H's
 * near-duplicates (same slice, other contrast, other size) differ by.
 */
export async function differenceHash(buffer: Buffer, maxPixels: number): Promise<Uint32Array> {
  const { data } = await sharp(buffer, { limitInputPixels: maxPixels })
    .flatten({ background: '#000000' })
    .greyscale()
    .normalise()
    .resize(17, 16, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return hashFromThumbnail(data, 17, 16);
}

/** The dHash bits of a grey thumbnail of (bits per row + 1) × rows pixels. */
export function hashFromThumbnail(grey: ArrayLike<number>, width: number, rows: number): Uint32Array {
  const hash = new Uint32Array(((width - 1) * rows) / 32);
  let bit = 0;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < width - 1; x++, bit++) {
      if (grey[y * width + x] > grey[y * width + x + 1]) hash[bit >>> 5] |= 1 << (bit & 31);
    }
  }
  return hash;
}

export function hammingDistance(a: Uint32Array, b: Uint32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    let x = a[i] ^ b[i];
    x -= (x >>> 1) & 0x55555555;
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    d += (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return d;
}
