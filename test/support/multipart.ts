import { crc32, deflateSync } from 'node:zlib';
/**
 * A multipart/form-data request as `wx.uploadFile({ name, filePath, formData })` sends it, and
 * as API Gateway hands it to Lambda: the body base64-encoded with `isBase64Encoded: true`.
 * Serialised by the platform's own FormData, not by hand.
 */
export async function uploadEvent(file: Uint8Array, options: { field?: string; filename?: string; type?: string; formData?: Record<string, string> } = {}) {
  const form = new FormData();
  for (const [name, value] of Object.entries(options.formData ?? {})) form.append(name, value);
  form.append(options.field ?? 'file', new Blob([file], { type: options.type ?? 'application/octet-stream' }), options.filename ?? 'tmp_avatar.png');
  const encoded = new Response(form);
  const body = Buffer.from(await encoded.arrayBuffer());
  return { headers: { 'content-type': encoded.headers.get('content-type')! }, body: body.toString('base64'), isBase64Encoded: true, raw: body };
}

/** A real PNG of `width`×`height` red pixels, built chunk by chunk (no encoder needed). */
export function pngOf(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, 0)]);
  for (let x = 0; x < width; x++) row[1 + x * 3] = 0xff;
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', pixels), chunk('IEND', Buffer.alloc(0))]);
}

/** Real images of each accepted type (1–2 px), and files that only start like one. */
export const IMAGES = {
  png: pngOf(2, 2),
  // A 1×1 baseline JPEG and a 1×1 lossless WebP, as encoders write them.
  jpeg: Buffer.from(
    '/9j/4AAQSkZJRgABAQEAYABgAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q==',
    'base64',
  ),
  webp: Buffer.from('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==', 'base64'),
  html: Buffer.from('<!doctype html><html><script>alert(1)</script></html>'),
};
