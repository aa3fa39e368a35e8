import { crc32 } from 'node:zlib';
import { imageSize } from 'image-size';
import { AppError } from '../errors';
import type { ImageType } from './ports';

/**
 * What an image file is, from its own first bytes (its "magic number"), never from the name or
 * the declared type, which the client chooses: a PNG renamed .jpg is a PNG, and HTML named
 * .png is not an image.
 *   JPEG  FF D8 FF
 *   PNG   89 50 4E 47 0D 0A 1A 0A
 *   WebP  "RIFF" <4-byte size> "WEBP"
 */
export function sniffImage(bytes: Uint8Array): ImageType | undefined {
  const starts = (offset: number, ...expected: number[]) => expected.every((byte, i) => bytes[offset + i] === byte);
  if (starts(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (starts(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (starts(0, 0x52, 0x49, 0x46, 0x46) && starts(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  return undefined;
}

export const IMAGE_FORMATS: Record<ImageType, { contentType: string; extension: string }> = {
  jpeg: { contentType: 'image/jpeg', extension: 'jpg' },
  png: { contentType: 'image/png', extension: 'png' },
  webp: { contentType: 'image/webp', extension: 'webp' },
};

/** An avatar is shown at most a few hundred pixels wide; anything wider is not one. */
export const MAX_AVATAR_DIMENSION = 4096;


/**
 * Decides that a file is an image we serve, reading enough of it to know: the magic number,
 * then its header as a well-kept parser reads it (`image-size`: the dimensions, which must be
 * within MAX_AVATAR_DIMENSION and agree with the magic number), then its frame: a JPEG ends with
 * its EOI marker, a PNG is whole chunks (IHDR first, image data, IEND last, each with its CRC),
 * and a WebP's RIFF size is the file's. So "magic bytes + anything" (random bytes, an HTML
 * page, a header and a trailer around either) is refused, whatever its name or declared type.
 * UNSUPPORTED_IMAGE (415) or AVATAR_TOO_LARGE (413, too many pixels); never a parser's own error.
 */
export function inspectImage(bytes: Uint8Array): { type: ImageType; width: number; height: number } {
  const type = sniffImage(bytes);
  if (!type) throw new AppError('UNSUPPORTED_IMAGE');
  let size: { width?: number; height?: number; type?: string };
  try {
    size = imageSize(bytes);
  } catch {
    throw new AppError('UNSUPPORTED_IMAGE', 'The file is not a readable JPEG, PNG or WebP image.');
  }
  const { width = 0, height = 0 } = size;
  if ((size.type === 'jpg' ? 'jpeg' : size.type) !== type || width < 1 || height < 1 || !framed(type, bytes)) {
    throw new AppError('UNSUPPORTED_IMAGE', 'The file is not a readable JPEG, PNG or WebP image.');
  }
  if (width > MAX_AVATAR_DIMENSION || height > MAX_AVATAR_DIMENSION) {
    throw new AppError('AVATAR_TOO_LARGE', `The avatar must be at most ${MAX_AVATAR_DIMENSION}×${MAX_AVATAR_DIMENSION} pixels.`);
  }
  return { type, width, height };
}

function framed(type: ImageType, bytes: Uint8Array): boolean {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 'jpeg':
      return buffer.length >= 4 && buffer[buffer.length - 2] === 0xff && buffer[buffer.length - 1] === 0xd9;
    case 'png':
      return wholePng(buffer);
    case 'webp':
      return buffer.length >= 12 && buffer.readUInt32LE(4) === buffer.length - 8;
  }
}

/** A PNG's chunks from its signature to its end: IHDR first, at least one IDAT, IEND last, every CRC right. */
function wholePng(buffer: Buffer): boolean {
  let offset = 8;
  const seen: string[] = [];
  while (offset + 12 <= buffer.length) {
    const length = buffer.readUInt32BE(offset);
    const end = offset + 12 + length;
    if (end > buffer.length) return false;
    const type = buffer.toString('latin1', offset + 4, offset + 8);
    if (crc32(buffer.subarray(offset + 4, offset + 8 + length)) !== buffer.readUInt32BE(offset + 8 + length)) return false;
    seen.push(type);
    offset = end;
    if (type === 'IEND') break;
  }
  return offset === buffer.length && seen[0] === 'IHDR' && seen.at(-1) === 'IEND' && seen.includes('IDAT');
}
