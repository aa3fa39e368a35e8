import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors';
import { AvatarService, ORPHAN_AGE_MS } from '../../lib/profile/avatar';
import { inspectImage, MAX_AVATAR_DIMENSION, sniffImage } from '../../lib/profile/image';
import { NicknameService, validNickname } from '../../lib/profile/nickname';
import type { AvatarStore, ContentCheck } from '../../lib/profile/ports';
import { readUploadedFile } from '../../lib/profile/upload';
import { accountBeingDeleted, type ProfileChange, type ProfileWriter, type User, type WriteLeases } from '../../lib/users/ports';
import { captureLogger } from '../support/log-capture';
import { IMAGES, pngOf, uploadEvent } from '../support/multipart';

const ALICE = { userId: 'U-alice', openid: 'o-alice' };

class RowStore implements ProfileWriter, WriteLeases {
  row: User = { userId: ALICE.userId, openid: ALICE.openid, createdAt: 'c', lastLoginAt: 'l', loginCount: 1 };
  fail = false;
  /** A deletion has begun: leases are refused. */
  deleting = false;
  leases: number[] = [];
  /** Lease tokens no writer has ended. */
  open = new Set<string>();
  async lease(owner: { userId: string }, until: number): Promise<string> {
    if (this.deleting || owner.userId !== this.row.userId) throw accountBeingDeleted();
    this.leases.push(until);
    const token = `${until}:${this.leases.length}`;
    this.open.add(token);
    return token;
  }
  async leaseUpload(owner: { userId: string }, until: number): Promise<{ token: string; uploads: number }> {
    return { token: await this.lease(owner, until), uploads: this.leases.length };
  }
  async endLease(_owner: { userId: string }, token: string): Promise<void> {
    this.open.delete(token);
  }
  async updateProfile(owner: { userId: string }, change: ProfileChange, endLease?: string): Promise<{ user: User; previous: string | undefined }> {
    if (this.fail) throw new AppError('SERVICE_UNAVAILABLE');
    if (owner.userId !== this.row.userId) throw new AppError('NOT_FOUND');
    if (endLease) this.open.delete(endLease);
    const [name, value] = Object.entries(change)[0]!;
    const previous = (this.row as unknown as Record<string, string | undefined>)[name];
    this.row = { ...this.row, ...change };
    return { user: this.row, previous: previous === value ? undefined : previous };
  }
}

class Bucket implements AvatarStore {
  readonly objects = new Map<string, { body: Uint8Array; contentType: string; inUse: boolean; at: number }>();
  clock = 0;
  failOn: Partial<Record<'put' | 'markInUse' | 'list' | 'delete', boolean>> = {};
  async put(key: string, body: Uint8Array, contentType: string) {
    if (this.failOn.put) throw new AppError('SERVICE_UNAVAILABLE');
    this.objects.set(key, { body, contentType, inUse: false, at: this.clock });
  }
  async markInUse(key: string) {
    if (this.failOn.markInUse) throw new AppError('SERVICE_UNAVAILABLE');
    this.objects.get(key)!.inUse = true;
  }
  async list(prefix: string, options?: { modifiedBefore?: number }) {
    if (this.failOn.list) throw new AppError('SERVICE_UNAVAILABLE');
    return [...this.objects.entries()]
      .filter(([key, o]) => key.startsWith(prefix) && (options?.modifiedBefore === undefined || o.at < options.modifiedBefore))
      .map(([key]) => key);
  }
  async delete(keys: string[]) {
    if (this.failOn.delete) throw new AppError('SERVICE_UNAVAILABLE');
    for (const key of keys) this.objects.delete(key);
  }
  async copy(from: string, to: string) {
    this.objects.set(to, { ...this.objects.get(from)!, at: this.clock });
  }
  urlOf(key: string) {
    return `https://img.example.com/${key}`;
  }
}

describe('Function: sniffImage', () => {
  it.each([
    ['a PNG', IMAGES.png, 'png'],
    ['a JPEG', IMAGES.jpeg, 'jpeg'],
    ['a WebP', IMAGES.webp, 'webp'],
    ['HTML (whatever its name says)', IMAGES.html, undefined],
    ['a RIFF that is not WebP (WAV)', Buffer.concat([Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt '), Buffer.alloc(16)]), undefined],
    ['a GIF', Buffer.from('GIF89a........'), undefined],
    ['nothing', Buffer.alloc(0), undefined],
    ['two bytes of a JPEG', Buffer.from([0xff, 0xd8]), undefined],
  ])('tells %s', (_name, bytes, type) => {
    expect(sniffImage(bytes)).toBe(type);
  });
});

describe('Function: inspectImage', () => {
  it.each([
    ['a PNG', IMAGES.png, 'png', 2],
    ['a JPEG', IMAGES.jpeg, 'jpeg', 1],
    ['a WebP', IMAGES.webp, 'webp', 1],
  ] as const)('reads %s with its dimensions', (_name, bytes, type, size) => {
    expect(inspectImage(bytes)).toEqual({ type, width: size, height: size });
  });

  it.each([
    ['PNG magic + HTML', Buffer.concat([IMAGES.png.subarray(0, 8), Buffer.from('<html><script>alert(1)</script></html>')])],
    ['JPEG magic + 900 KB of random bytes', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(900 * 1024)])],
    ['a PNG cut short (no IEND)', IMAGES.png.subarray(0, IMAGES.png.length - 12)],
    ['a JPEG cut short (no EOI)', IMAGES.jpeg.subarray(0, IMAGES.jpeg.length - 2)],
    ['a WebP whose RIFF size is not its own', Buffer.concat([IMAGES.webp, Buffer.from('<script>')])],
    ['a PNG header on WebP magic', Buffer.concat([IMAGES.webp.subarray(0, 12), IMAGES.png.subarray(8)])],
    // Signature, a valid IHDR, raw HTML, then a valid IEND: not chunks, however it starts and ends.
    ['a PNG header and trailer around raw HTML', Buffer.concat([IMAGES.png.subarray(0, 33), Buffer.from('<html><script>alert(1)</script></html>'), IMAGES.png.subarray(-12)])],
    ['a PNG with no image data (IHDR, then IEND)', Buffer.concat([IMAGES.png.subarray(0, 33), IMAGES.png.subarray(-12)])],
    ['a PNG with a chunk whose CRC is wrong', Buffer.concat([IMAGES.png.subarray(0, 32), Buffer.from([IMAGES.png[32]! ^ 1]), IMAGES.png.subarray(33)])],
    ['HTML', IMAGES.html],
  ])('refuses %s with 415 UNSUPPORTED_IMAGE, never a parser error', (_name, bytes) => {
    expect(() => inspectImage(bytes)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_IMAGE', status: 415 }));
  });

  it('refuses an image wider than an avatar can be with 413 AVATAR_TOO_LARGE', () => {
    expect(() => inspectImage(pngOf(MAX_AVATAR_DIMENSION + 1, 1))).toThrow(expect.objectContaining({ code: 'AVATAR_TOO_LARGE', status: 413 }));
    expect(inspectImage(pngOf(MAX_AVATAR_DIMENSION, 1))).toMatchObject({ width: MAX_AVATAR_DIMENSION });
  });
});

describe('Function: readUploadedFile', () => {
  it('reads the file field of a wx.uploadFile body, base64 as API Gateway sends it', async () => {
    const event = await uploadEvent(IMAGES.png);
    await expect(readUploadedFile(event, 1024)).resolves.toEqual(IMAGES.png);
  });

  it('refuses any other form field (wx.uploadFile formData) with 400, naming it', async () => {
    const event = await uploadEvent(IMAGES.png, { formData: { note: 'from the form' } });
    await expect(readUploadedFile(event, 1024)).rejects.toMatchObject({ code: 'INVALID_REQUEST', status: 400, message: expect.stringContaining('"note"') });
  });

  it('reads a body that is not base64-encoded', async () => {
    const { headers, raw } = await uploadEvent(IMAGES.jpeg);
    await expect(readUploadedFile({ headers, body: raw.toString('binary'), isBase64Encoded: false }, 1024)).resolves.toEqual(IMAGES.jpeg);
  });

  it('refuses a file over the limit with 413 AVATAR_TOO_LARGE', async () => {
    const event = await uploadEvent(Buffer.alloc(2048, 7));
    await expect(readUploadedFile(event, 2047)).rejects.toMatchObject({ code: 'AVATAR_TOO_LARGE', status: 413 });
    await expect(readUploadedFile(event, 2048)).resolves.toHaveLength(2048);
  });

  it.each([
    ['JSON instead of a form', { headers: { 'content-type': 'application/json' }, body: '{}', isBase64Encoded: false }],
    ['no boundary', { headers: { 'content-type': 'multipart/form-data' }, body: 'x', isBase64Encoded: false }],
    ['an empty body', { headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '', isBase64Encoded: false }],
  ])('refuses %s with 400 INVALID_REQUEST', async (_name, event) => {
    await expect(readUploadedFile(event, 1024)).rejects.toMatchObject({ code: 'INVALID_REQUEST', status: 400 });
  });

  it('refuses a file in another field, naming it', async () => {
    const event = await uploadEvent(IMAGES.png, { field: 'avatar' });
    await expect(readUploadedFile(event, 1024)).rejects.toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('"avatar"') });
  });

  describe('a body cut short (truncated by the client, or interrupted)', () => {
    /** Runs `act` and reports any exception nobody caught meanwhile (a stream error with no listener). */
    async function uncaughtDuring(act: () => Promise<unknown>): Promise<unknown[]> {
      const seen: unknown[] = [];
      const listener = (err: unknown) => seen.push(err);
      const vitestListeners = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.on('uncaughtException', listener);
      try {
        await act().catch(() => undefined);
        // busboy destroys the part's stream on the next tick of its own close.
        await new Promise((resolve) => setTimeout(resolve, 20));
      } finally {
        process.removeListener('uncaughtException', listener);
        for (const l of vitestListeners) process.on('uncaughtException', l);
      }
      return seen;
    }
    const cut = (raw: Buffer, length: number, headers: Record<string, string>) => ({ headers, body: raw.subarray(0, length).toString('base64'), isBase64Encoded: true });

    it('answers 400 INVALID_REQUEST for the reported body (a file part that ends before its boundary), and nothing escapes', async () => {
      const raw = Buffer.from('--XB\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\nAAAA', 'binary');
      const event = { headers: { 'content-type': 'multipart/form-data; boundary=XB' }, body: raw.toString('base64'), isBase64Encoded: true };
      let answer: unknown;
      const uncaught = await uncaughtDuring(() => readUploadedFile(event, 1024).catch((err: unknown) => (answer = err)));
      expect(uncaught).toEqual([]);
      expect(answer).toMatchObject({ code: 'INVALID_REQUEST', status: 400, message: expect.stringContaining('ends inside the file') });
    });

    it.each([
      ['in the file field', { field: 'file', size: 600, max: 1024 }],
      ['in an oversized file', { field: 'file', size: 4096, max: 1024 }],
      ['in a file of another field', { field: 'avatar', size: 600, max: 1024 }],
    ])('answers a 4xx AppError at every cut point %s, and nothing escapes', async (_name, { field, size, max }) => {
      const { headers, raw } = await uploadEvent(Buffer.concat([IMAGES.png, Buffer.alloc(size, 9)]), { field });
      const answers = new Set<string>();
      const uncaught = await uncaughtDuring(async () => {
        // Every cut from inside the part's headers to just before the closing boundary.
        for (let length = 40; length < raw.length - 2; length += 37) {
          await readUploadedFile(cut(raw, length, headers), max).then(
            () => answers.add('resolved'),
            (err: unknown) => answers.add(err instanceof AppError && err.status < 500 ? `${err.status} ${err.code}` : `not a 4xx: ${String(err)}`),
          );
        }
      });
      expect(uncaught).toEqual([]);
      expect([...answers].every((a) => /^(400 INVALID_REQUEST|413 AVATAR_TOO_LARGE)$/.test(a)), [...answers].join(', ')).toBe(true);
    });
  });
});

describe('Function: validNickname', () => {
  it.each([
    ['latin', 'Rita', 'Rita'],
    ['trimmed', '  丽塔 ', '丽塔'],
    ['32 CJK characters', '字'.repeat(32), '字'.repeat(32)],
    ['32 emoji (64 UTF-16 units)', '😀'.repeat(32), '😀'.repeat(32)],
    ['a family emoji with joiners', '👨‍👩‍👧', '👨‍👩‍👧'],
  ])('accepts %s', (_name, raw, nickname) => {
    expect(validNickname(raw)).toBe(nickname);
  });

  it.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['33 code points', '字'.repeat(33)],
    ['33 emoji', '😀'.repeat(33)],
    ['a newline', 'a\nb'],
    ['a NUL', 'a\u0000b'],
    ['a line separator', 'a\u2028b'],
    ['not a string', 42],
  ])('refuses %s with 400 INVALID_REQUEST', (_name, raw) => {
    expect(() => validNickname(raw)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
  });
});

describe('Class: NicknameService', () => {
  const service = (verdict: Awaited<ReturnType<ContentCheck['checkText']>> | AppError) => {
    const users = new RowStore();
    const checked: string[] = [];
    const content: ContentCheck = {
      async checkText(openid, text) {
        checked.push(`${openid}:${text}`);
        if (verdict instanceof AppError) throw verdict;
        return verdict;
      },
    };
    const { logger, entries } = captureLogger();
    return { users, checked, log: logger, entries, nicknames: new NicknameService({ users, content, avatarUrlOf: (key) => `https://img/${key}` }) };
  };

  it('checks the trimmed nickname with WeChat as the user’s own content, stores it and answers the profile', async () => {
    const { users, checked, log, nicknames } = service({ suggest: 'pass', label: 100 });
    await expect(nicknames.set(ALICE, ' 丽塔 ', log)).resolves.toMatchObject({ userId: ALICE.userId, nickname: '丽塔' });
    expect(checked).toEqual(['o-alice:丽塔']);
    expect(users.row.nickname).toBe('丽塔');
  });

  it('refuses a risky nickname with 400 CONTENT_REJECTED and changes nothing', async () => {
    const { users, log, nicknames } = service({ suggest: 'risky', label: 20002 });
    await expect(nicknames.set(ALICE, 'risky name', log)).rejects.toMatchObject({ code: 'CONTENT_REJECTED', status: 400 });
    expect(users.row.nickname).toBeUndefined();
  });

  it('accepts a nickname WeChat marks for review, and logs it', async () => {
    const { users, log, entries, nicknames } = service({ suggest: 'review', label: 21000 });
    await nicknames.set(ALICE, 'review me', log);
    expect(users.row.nickname).toBe('review me');
    expect(entries()).toContainEqual(expect.objectContaining({ message: 'nickname accepted for review by WeChat’s content check', label: 21000 }));
  });

  it('stores nothing when WeChat cannot check it (503)', async () => {
    const { users, log, nicknames } = service(new AppError('WECHAT_UNAVAILABLE'));
    await expect(nicknames.set(ALICE, 'Rita', log)).rejects.toMatchObject({ code: 'WECHAT_UNAVAILABLE', status: 503 });
    expect(users.row.nickname).toBeUndefined();
  });

  it('answers a user-side errcode (61010) with 503 and Retry-After, logged at warn, not as a configuration error', async () => {
    const { log, entries, nicknames } = service(new AppError('SERVICE_UNAVAILABLE', 'user not active', { retryAfterSeconds: 60, details: { errcode: 61010, userSide: true } }));
    await expect(nicknames.set(ALICE, 'Rita', log)).rejects.toMatchObject({ status: 503, retryAfterSeconds: 60 });
    expect(entries()).toContainEqual(expect.objectContaining({ level: 'warn', errcode: 61010 }));
    expect(entries().some((e) => e.level === 'error')).toBe(false);
  });

  it('never logs the nickname', async () => {
    const { log, entries, nicknames } = service({ suggest: 'risky', label: 20002 });
    await nicknames.set(ALICE, 'secretive-name', log).catch(() => {});
    expect(JSON.stringify(entries())).not.toContain('secretive-name');
  });
});

describe('Class: AvatarService', () => {
  const setup = (limit = 0) => {
    const users = new RowStore();
    const bucket = new Bucket();
    let n = 0;
    const { logger } = captureLogger();
    return { users, bucket, log: logger, avatars: new AvatarService({ users, avatars: bucket, leases: users, writeBudgetMs: 4000, limit: { limit, windowSeconds: 3600 }, newKeyId: () => `k${++n}`, now: () => bucket.clock }) };
  };

  describe('beside an account deletion, and its lease', () => {
    it('answers 503 and stores nothing once the user’s deletion has begun', async () => {
      const { users, bucket, log, avatars } = setup();
      users.deleting = true;
      await expect(avatars.set(ALICE, IMAGES.png, log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 5 });
      expect(bucket.objects.size).toBe(0);
    });

    it('ends its lease with the row write, and on every failure after taking it: over the limit, S3 failing, the row failing', async () => {
      const { users, bucket, log, avatars } = setup(3);
      await avatars.set(ALICE, IMAGES.png, log);
      bucket.failOn.put = true;
      await expect(avatars.set(ALICE, IMAGES.png, log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      bucket.failOn.put = false;
      users.fail = true;
      await expect(avatars.set(ALICE, IMAGES.png, log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      users.fail = false;
      await expect(avatars.set(ALICE, IMAGES.png, log)).rejects.toMatchObject({ code: 'RATE_LIMITED', status: 429 });
      expect(users.leases).toHaveLength(4);
      expect(users.open.size).toBe(0);
    });
  });

  it('stores the file under avatars/<userId>/<random>.<ext> with the sniffed type, in use, and answers its URL', async () => {
    const { users, bucket, log, avatars } = setup();
    const profile = await avatars.set(ALICE, IMAGES.png, log);
    expect(profile.avatarUrl).toBe('https://img.example.com/avatars/U-alice/k1.png');
    expect(bucket.objects.get('avatars/U-alice/k1.png')).toMatchObject({ contentType: 'image/png', inUse: true });
    expect(users.row.avatarKey).toBe('avatars/U-alice/k1.png');
  });

  it('names a PNG sent as .jpg a PNG, and refuses HTML named .png with 415', async () => {
    const { bucket, log, avatars } = setup();
    expect((await avatars.set(ALICE, IMAGES.png, log)).avatarUrl).toMatch(/\.png$/);
    await expect(avatars.set(ALICE, IMAGES.html, log)).rejects.toMatchObject({ code: 'UNSUPPORTED_IMAGE', status: 415 });
    expect(bucket.objects.size).toBe(1);
  });

  it('deletes the previous file only after the row points at the new one', async () => {
    const { users, bucket, log, avatars } = setup();
    await avatars.set(ALICE, IMAGES.png, log);
    users.fail = true;
    await expect(avatars.set(ALICE, IMAGES.jpeg, log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    // The old avatar is in place; the new file is an orphan, which a later upload deletes once
    // it is older than any upload in flight.
    expect(users.row.avatarKey).toBe('avatars/U-alice/k1.png');
    expect([...bucket.objects.keys()]).toEqual(['avatars/U-alice/k1.png', 'avatars/U-alice/k2.jpg']);
    users.fail = false;
    bucket.clock += ORPHAN_AGE_MS + 1;
    await avatars.set(ALICE, IMAGES.webp, log);
    expect([...bucket.objects.keys()]).toEqual(['avatars/U-alice/k3.webp']);
  });

  it('never deletes the file of an upload still in flight: two uploads at once leave the row on a file that exists', async () => {
    const { users, bucket, log, avatars } = setup();
    await avatars.set(ALICE, IMAGES.png, log);
    // Both put and mark their files before either writes the row.
    const markInUse = bucket.markInUse.bind(bucket);
    let release!: () => void;
    const bothStored = new Promise<void>((resolve) => (release = resolve));
    let marked = 0;
    bucket.markInUse = async (key) => {
      await markInUse(key);
      if (++marked === 2) release();
      await bothStored;
    };
    await Promise.all([avatars.set(ALICE, IMAGES.jpeg, log), avatars.set(ALICE, IMAGES.webp, log)]);
    expect(bucket.objects.has(users.row.avatarKey!)).toBe(true);
    expect(bucket.objects.has('avatars/U-alice/k1.png')).toBe(false);
  });

  it('leaves a file it could not mark in use to the lifecycle rule, and the old avatar in place', async () => {
    const { users, bucket, log, avatars } = setup();
    await avatars.set(ALICE, IMAGES.png, log);
    bucket.failOn.markInUse = true;
    await expect(avatars.set(ALICE, IMAGES.jpeg, log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(users.row.avatarKey).toBe('avatars/U-alice/k1.png');
    expect(bucket.objects.get('avatars/U-alice/k2.jpg')?.inUse).toBe(false);
  });

  it('succeeds when the old file cannot be deleted yet: the next upload deletes it', async () => {
    const { users, bucket, log, avatars } = setup();
    await avatars.set(ALICE, IMAGES.png, log);
    bucket.failOn.delete = true;
    await expect(avatars.set(ALICE, IMAGES.jpeg, log)).resolves.toMatchObject({ avatarUrl: expect.stringMatching(/k2\.jpg$/) });
    expect(users.row.avatarKey).toBe('avatars/U-alice/k2.jpg');
    bucket.failOn.delete = false;
    // k1 is no longer what any row replaces: it goes once it is older than any upload in flight.
    bucket.clock += ORPHAN_AGE_MS + 1;
    await avatars.set(ALICE, IMAGES.webp, log);
    expect([...bucket.objects.keys()]).toEqual(['avatars/U-alice/k3.webp']);
  });
});
