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

/** The first bytes of each accepted type, padded to a plausible file. */
export const IMAGES = {
  png: Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]),
  jpeg: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 2)]),
  webp: Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from('WEBPVP8 '), Buffer.alloc(64, 3)]),
  html: Buffer.from('<!doctype html><html><script>alert(1)</script></html>'),
};
