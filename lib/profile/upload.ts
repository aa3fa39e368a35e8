import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import busboy from 'busboy';
import { AppError } from '../errors';
import { headerValue } from '../http/body';

/** The field `wx.uploadFile({ name: 'file' })` sends the file in. */
export const FILE_FIELD = 'file';

/**
 * Reads the one file of a multipart/form-data body, exactly as `wx.uploadFile` sends it and
 * as API Gateway hands it over (the body base64-encoded, `isBase64Encoded: true`). Parsed by
 * busboy, never by hand. A file over `maxBytes` is AVATAR_TOO_LARGE (413), decided while
 * streaming, so an oversized file is never held whole; anything but one file in field `file`
 * is INVALID_REQUEST, as is any other form field (wx.uploadFile's `formData`): named in the 400.
 */
export async function readUploadedFile(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>, maxBytes: number): Promise<Buffer> {
  const contentType = headerValue(event.headers, 'content-type') ?? '';
  if (!/^multipart\/form-data\b/i.test(contentType)) {
    throw new AppError('INVALID_REQUEST', 'Send the file as multipart/form-data in field "file", as wx.uploadFile does.');
  }
  if (!event.body) throw new AppError('INVALID_REQUEST', 'The body is empty: send the file in field "file".');
  const raw = Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'binary');

  return new Promise<Buffer>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      // busboy stops at its fileSize, counting a file of exactly that size as over: give it one
      // byte more, so "at most maxBytes" means what it says.
      parser = busboy({ headers: { 'content-type': contentType }, limits: { fileSize: maxBytes + 1, files: 1, fields: 20, parts: 21 } });
    } catch {
      return reject(new AppError('INVALID_REQUEST', 'The multipart body has no boundary.'));
    }
    let file: Buffer | undefined;
    let failure: AppError | undefined;
    const fail = (error: AppError) => {
      failure ??= error;
    };
    parser.on('file', (field, stream) => {
      // A body that ends inside a file part (truncated, or cut off by the client) makes busboy
      // destroy the part's stream with "Unexpected end of form". A stream that errors with no
      // listener is an uncaught exception, which ends the Lambda runtime (and all of
      // `npm run dev`); the parser's own 'error' below answers the request.
      stream.on('error', () => fail(new AppError('INVALID_REQUEST', 'The multipart body is malformed: it ends inside the file.')));
      if (field !== FILE_FIELD) {
        stream.resume();
        return fail(new AppError('INVALID_REQUEST', `Unexpected file field "${field.slice(0, 40)}": send the file in field "file".`));
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => fail(new AppError('AVATAR_TOO_LARGE', `The avatar must be at most ${maxBytes} bytes.`)));
      stream.on('close', () => {
        const bytes = Buffer.concat(chunks);
        if (bytes.length > maxBytes) fail(new AppError('AVATAR_TOO_LARGE', `The avatar must be at most ${maxBytes} bytes.`));
        else file = bytes;
      });
    });
    parser.on('field', (field) => fail(new AppError('INVALID_REQUEST', `Unknown field "${field.slice(0, 40)}": send only the file, in field "file".`)));
    parser.on('filesLimit', () => fail(new AppError('INVALID_REQUEST', 'Send one file.')));
    parser.on('error', () => reject(failure ?? new AppError('INVALID_REQUEST', 'The multipart body is malformed.')));
    parser.on('close', () => {
      if (failure) return reject(failure);
      if (!file || file.length === 0) return reject(new AppError('INVALID_REQUEST', 'No file in field "file".'));
      resolve(file);
    });
    parser.end(raw);
  });
}
