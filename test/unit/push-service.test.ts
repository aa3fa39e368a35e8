import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors';
import { MAX_PUSH_BYTES, readPushRequest } from '../../lib/push/request';
import { eventIdOf, PLAINTEXT_REFUSED, PushService, revokedOf, TIMESTAMP_WINDOW_SECONDS, type PushRequest } from '../../lib/push/service';
import { encrypt, msgSignature, parsePushMessage, urlSignature } from '../../lib/push/wechat-message';
import { authorizationEvent, signPush, urlCheck, type AuthorizationEvent } from '../../local/wechat-push';
import { httpEvent } from '../support/events';
import { captureLogger } from '../support/log-capture';
import { InMemoryEventDedupe, recordingAccountEvents } from '../support/push';

const SETTINGS = { token: 'pushToken0123456789abcdef', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR', appId: 'wx1234567890abcdef' };
const NOW_S = 1_800_000_000;
const OPENID = 'oUser0000000000000000000001';
const ECHO = 'echo-marker-4375120948';

function setup(options: { acceptPlaintext?: boolean } = {}) {
  const dedupe = new InMemoryEventDedupe();
  const account = recordingAccountEvents();
  const { logger, lines, entries } = captureLogger([SETTINGS.token, SETTINGS.encodingAesKey]);
  const service = new PushService({ ...SETTINGS, ...options, events: account.events, dedupe, now: () => NOW_S * 1000 });
  return { service, dedupe, account, lines, entries, logger, receive: (request: PushRequest) => service.receive(request, logger) };
}

type PushOptions = { plaintext?: boolean; timestamp?: number; revokeInfo?: string; appId?: string; openid?: string };

/** The message of a push of `event` (its JSON as WeChat writes it). */
function messageOf(event: AuthorizationEvent | Record<string, unknown>, options: PushOptions = {}): Record<string, unknown> {
  return typeof event === 'string' ? authorizationEvent(event, options.openid ?? OPENID, options.appId ?? SETTINGS.appId, { createTime: NOW_S - 1, revokeInfo: options.revokeInfo }) : event;
}

/** A push as WeChat would send it now (or at `timestamp`), in 安全模式, or in 明文模式 (`plaintext`), which is refused. */
function push(event: AuthorizationEvent | Record<string, unknown>, options: PushOptions = {}): PushRequest {
  const signed = signPush(SETTINGS, messageOf(event, options), { plaintext: options.plaintext, timestamp: options.timestamp ?? NOW_S });
  return { query: signed.query, body: signed.body! };
}

async function refusal(run: () => unknown): Promise<AppError> {
  try {
    await run();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('Class: PushService', () => {
  describe('Method: verifyUrl', () => {
    it('answers a well-signed URL check with its echostr', () => {
      const { service } = setup();
      const { query } = urlCheck(SETTINGS, { echostr: '4375120948345356249' });
      expect(service.verifyUrl(query)).toBe('4375120948345356249');
    });

    it.each([
      ['a wrong signature', (q: Record<string, string>) => ({ ...q, signature: '0'.repeat(40) })],
      ['a signature made with another Token', () => urlCheck({ token: 'anotherToken' }, { echostr: ECHO }).query],
      ['no signature', (q: Record<string, string>) => ({ ...q, signature: undefined })],
      ['no echostr', (q: Record<string, string>) => ({ ...q, echostr: undefined })],
      ['no nonce', (q: Record<string, string>) => ({ ...q, nonce: undefined })],
    ])('refuses %s with INVALID_SIGNATURE, never echoing', async (_name, change) => {
      const { service } = setup();
      const err = await refusal(() => service.verifyUrl(change(urlCheck(SETTINGS, { echostr: ECHO }).query)));
      expect(err).toMatchObject({ code: 'INVALID_SIGNATURE', status: 403 });
      expect(err.publicMessage).not.toContain(ECHO);
    });
  });

  describe('Method: receive', () => {
    it.each([
      ['user_authorization_revoke', { method: 'authorizationRevoked', openid: OPENID, revoked: { phone: true, profile: false } }],
      ['user_authorization_cancellation', { method: 'accountCancelled', openid: OPENID }],
      ['user_info_modified', { method: 'infoModified', openid: OPENID }],
    ] as const)('runs %s on the account port, for the OpenID (not FromUserName)', async (event, call) => {
      const { receive, account } = setup();
      await expect(receive(push(event, { revokeInfo: '8' }))).resolves.toBe('applied');
      expect(account.calls).toEqual([call]);
    });

    it('refuses a wrong signature with INVALID_SIGNATURE, touching nothing', async () => {
      const { receive, account, dedupe } = setup();
      const request = push('user_authorization_cancellation');
      request.query.msg_signature = request.query.msg_signature!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
      expect(await refusal(() => receive(request))).toMatchObject({ code: 'INVALID_SIGNATURE', details: { refused: 'signature' } });
      expect(account.calls).toEqual([]);
      expect(dedupe.records.size).toBe(0);
    });

    it('refuses a push signed with another Token', async () => {
      const { receive, account } = setup();
      const forged = signPush({ ...SETTINGS, token: 'notOurToken' }, authorizationEvent('user_authorization_cancellation', OPENID, SETTINGS.appId), { timestamp: NOW_S });
      expect(await refusal(() => receive({ query: forged.query, body: forged.body! }))).toMatchObject({ code: 'INVALID_SIGNATURE' });
      expect(account.calls).toEqual([]);
    });

    it.each([
      ['at the window’s edge in the past', -TIMESTAMP_WINDOW_SECONDS, true],
      ['at the window’s edge in the future', TIMESTAMP_WINDOW_SECONDS, true],
      ['a second too old', -TIMESTAMP_WINDOW_SECONDS - 1, false],
      ['a second too far ahead', TIMESTAMP_WINDOW_SECONDS + 1, false],
      ['hours old', -3 * 3600, false],
    ])('with a signed timestamp %s: %s', async (_name, offset, accepted) => {
      const { receive, account } = setup();
      const run = () => receive(push('user_info_modified', { timestamp: NOW_S + offset }));
      if (accepted) {
        await expect(run()).resolves.toBe('applied');
        expect(account.calls).toHaveLength(1);
      } else {
        expect(await refusal(run)).toMatchObject({ code: 'INVALID_SIGNATURE', details: { refused: 'timestamp' } });
        expect(account.calls).toEqual([]);
      }
    });

    it('runs a duplicate once: WeChat’s retries and a replayed request answer success without running again', async () => {
      const { receive, account, entries } = setup();
      const first = push('user_authorization_revoke', { revokeInfo: '6' });
      // WeChat's retry: the same message, signed afresh (another nonce, another timestamp).
      const retry = push('user_authorization_revoke', { revokeInfo: '6', timestamp: NOW_S + 5 });
      expect(await receive(first)).toBe('applied');
      expect(await receive(retry)).toBe('duplicate');
      expect(await receive(first)).toBe('duplicate');
      expect(account.calls).toHaveLength(1);
      expect(entries().filter((e) => e.message === 'push event already applied: not run again')).toHaveLength(2);
    });

    it('accepts fields it does not know, and ignores events and messages it does not handle', async () => {
      const { receive, account, entries } = setup();
      const extra = authorizationEvent('user_info_modified', OPENID, SETTINGS.appId, { createTime: NOW_S, extra: { NewField: 'x', Nested: { a: [1] }, PluginID: 'wxplugin' } });
      await expect(receive(push(extra))).resolves.toBe('applied');
      const demo = { ToUserName: 'gh_97417a04a28d', FromUserName: 'o9AgO5Kd5ggOC-bXrbNODIiE3bGY', CreateTime: NOW_S, MsgType: 'event', Event: 'debug_demo', debug_str: 'hello world' };
      await expect(receive(push(demo))).resolves.toBe('ignored');
      const text = { ToUserName: 'gh_1', FromUserName: 'oUser', CreateTime: NOW_S, MsgType: 'text', Content: 'hi', MsgId: '123' };
      await expect(receive(push(text))).resolves.toBe('ignored');
      expect(account.calls).toHaveLength(1);
      expect(entries().filter((e) => e.message === 'push ignored: not an event this service handles').map((e) => [e.level, e.pushEvent ?? e.msgType])).toEqual([
        ['debug', 'debug_demo'],
        ['debug', 'text'],
      ]);
    });

    it('ignores, with success, an event about another mini-program', async () => {
      const { receive, account, dedupe } = setup();
      await expect(receive(push('user_authorization_cancellation', { appId: 'wx0000000000other' }))).resolves.toBe('ignored');
      expect(account.calls).toEqual([]);
      expect(dedupe.records.size).toBe(0);
    });

    it.each([
      ['OpenID', { OpenID: undefined }],
      ['AppID', { AppID: undefined }],
      ['RevokeInfo', { RevokeInfo: undefined }],
    ])('refuses an authorization event without %s (400): it cannot be applied', async (field, change) => {
      const { receive, account } = setup();
      const message = { ...authorizationEvent('user_authorization_revoke', OPENID, SETTINGS.appId, { createTime: NOW_S }), ...change };
      expect(await refusal(() => receive(push(message)))).toMatchObject({ code: 'INVALID_REQUEST', details: { refused: `${field} is missing` } });
      expect(account.calls).toEqual([]);
    });

    it('releases the event when the account port fails and fails itself, so that WeChat’s retry runs it', async () => {
      const { receive, account, dedupe } = setup();
      account.state.failNext = 1;
      const request = push('user_authorization_cancellation');
      expect(await refusal(() => receive(request))).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(dedupe.records.size).toBe(0);
      expect(await receive(push('user_authorization_cancellation', { timestamp: NOW_S + 5 }))).toBe('applied');
      expect(account.calls.map((c) => c.method)).toEqual(['accountCancelled', 'accountCancelled']);
      expect([...dedupe.records.values()]).toEqual(['done']);
    });

    it('passes a bug of the account port on as it is (500), released all the same', async () => {
      const { receive, account, dedupe } = setup();
      account.state.failNext = 1;
      account.state.error = new TypeError('boom');
      await expect(receive(push('user_info_modified'))).rejects.toThrow(TypeError);
      expect(dedupe.records.size).toBe(0);
    });

    it('runs an event that is claimed but not done (another request on it, or a claim whose answer was lost), and marks it done', async () => {
      const { receive, account, dedupe } = setup();
      const request = push('user_info_modified');
      const id = eventIdOf(parsePushMessage(JSON.stringify(messageOf('user_info_modified'))));
      dedupe.records.set(id, 'running');
      await expect(receive(request)).resolves.toBe('applied');
      expect(account.calls).toHaveLength(1);
      expect(dedupe.records.get(id)).toBe('done');
    });

    it('fails with 503 before running anything when the dedupe store is down', async () => {
      const { receive, account, dedupe } = setup();
      dedupe.fail.claim = true;
      expect(await refusal(() => receive(push('user_info_modified')))).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(account.calls).toEqual([]);
    });

    it('answers success once applied even when the done mark is lost (the port runs twice safely)', async () => {
      const { receive, dedupe, entries } = setup();
      dedupe.fail.complete = true;
      await expect(receive(push('user_info_modified'))).resolves.toBe('applied');
      expect(entries().map((e) => e.message)).toContain('push event applied but not marked done');
    });

    it('still fails, released or not, when the release after a failure is lost too', async () => {
      const { receive, account, dedupe, entries } = setup();
      account.state.failNext = 1;
      dedupe.fail.release = true;
      expect(await refusal(() => receive(push('user_info_modified')))).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(entries().map((e) => e.message)).toContain('push event claim not released: it lapses by itself');
    });

    it('ignores, with success, a 安全模式 push sealed for another AppID', async () => {
      const { receive, account } = setup();
      const foreign = signPush({ ...SETTINGS, appId: 'wx0000000000other' }, authorizationEvent('user_authorization_cancellation', OPENID, SETTINGS.appId, { createTime: NOW_S }), { timestamp: NOW_S });
      await expect(receive({ query: foreign.query, body: foreign.body! })).resolves.toBe('ignored');
      expect(account.calls).toEqual([]);
    });

    it('fails with 500 (a configuration error) when a well-signed 安全模式 push does not decrypt with our key', async () => {
      const { receive, account } = setup();
      const other = signPush({ ...SETTINGS, encodingAesKey: 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' }, authorizationEvent('user_info_modified', OPENID, SETTINGS.appId), { timestamp: NOW_S });
      expect(await refusal(() => receive({ query: other.query, body: other.body! }))).toMatchObject({ code: 'INTERNAL', status: 500 });
      expect(account.calls).toEqual([]);
    });

    it('refuses a 安全模式 push whose Encrypt was changed (msg_signature covers it), and one without Encrypt', async () => {
      const { receive, account } = setup();
      const request = push('user_authorization_cancellation');
      const body = JSON.parse(request.body);
      const sealed = encrypt(SETTINGS.encodingAesKey, SETTINGS.appId, JSON.stringify(authorizationEvent('user_authorization_cancellation', 'oSomeoneElse', SETTINGS.appId)));
      expect(await refusal(() => receive({ ...request, body: JSON.stringify({ ...body, Encrypt: sealed }) }))).toMatchObject({ code: 'INVALID_SIGNATURE' });
      expect(await refusal(() => receive({ ...request, body: '{"ToUserName":"gh"}' }))).toMatchObject({ code: 'INVALID_SIGNATURE' });
      expect(await refusal(() => receive({ ...request, body: 'not json' }))).toMatchObject({ code: 'INVALID_SIGNATURE' });
      expect(account.calls).toEqual([]);
    });

    it('does not take a 明文模式 signature for a 安全模式 push, nor an unknown encrypt_type', async () => {
      const { receive, account } = setup();
      const request = push('user_info_modified');
      expect(await refusal(() => receive({ ...request, query: { ...request.query, msg_signature: request.query.signature } }))).toMatchObject({ code: 'INVALID_SIGNATURE' });
      expect(await refusal(() => receive({ ...request, query: { ...request.query, encrypt_type: 'rsa' } }))).toMatchObject({
        code: 'INVALID_SIGNATURE',
        message: PLAINTEXT_REFUSED,
        details: { refused: 'encrypt_type' },
      });
      expect(account.calls).toEqual([]);
    });

    it('takes a 安全模式 signature that WeChat’s own sum makes, over the Encrypt it sent', async () => {
      const { receive, account } = setup();
      const sealed = encrypt(SETTINGS.encodingAesKey, SETTINGS.appId, JSON.stringify(authorizationEvent('user_info_modified', OPENID, SETTINGS.appId, { createTime: NOW_S })));
      const query = { timestamp: String(NOW_S), nonce: '415670741', encrypt_type: 'aes', msg_signature: msgSignature(SETTINGS.token, String(NOW_S), '415670741', sealed) };
      await expect(receive({ query, body: JSON.stringify({ ToUserName: 'gh_1', Encrypt: sealed }) })).resolves.toBe('applied');
      expect(account.calls).toHaveLength(1);
    });

    it('refuses a verified message it cannot read with 400, saying why in the log fields only', async () => {
      const { receive } = setup();
      const signedXml = signPush(SETTINGS, '<xml><MsgType>event</MsgType></xml>', { timestamp: NOW_S });
      const err = await refusal(() => receive({ query: signedXml.query, body: signedXml.body! }));
      expect(err).toMatchObject({ code: 'INVALID_REQUEST', details: { refused: expect.stringContaining('XML') } });
      expect(err.publicMessage).not.toContain('XML');
    });

    it('refuses a signed 安全模式 push in XML (数据格式 left at XML) with 400 and the fix in the log, not as a bad signature', async () => {
      const { receive, account, lines } = setup();
      const xml = signPush(SETTINGS, authorizationEvent('user_authorization_cancellation', OPENID, SETTINGS.appId, { createTime: NOW_S }), { timestamp: NOW_S, xml: true });
      expect(xml.body).toMatch(/^<xml><ToUserName>.*<Encrypt><!\[CDATA\[/);
      const err = await refusal(() => receive({ query: xml.query, body: xml.body! }));
      expect(err).toMatchObject({ code: 'INVALID_REQUEST', status: 400, details: { refused: 'the body is XML: set 数据格式 to JSON in the console' } });
      expect(account.calls).toHaveLength(0);
      expect(lines.some((line) => line.includes('"level":"warn"') && line.includes('数据格式'))).toBe(true);
      // With an XML declaration in front, the same.
      const declared = await refusal(() => receive({ query: xml.query, body: `<?xml version="1.0" encoding="UTF-8"?>\n${xml.body!}` }));
      expect(declared).toMatchObject({ code: 'INVALID_REQUEST', status: 400 });
      // The same XML with a signature that does not match it is still a forgery.
      const forged = { ...xml.query, msg_signature: 'f'.repeat(40) };
      await expect(refusal(() => receive({ query: forged, body: xml.body! }))).resolves.toMatchObject({ code: 'INVALID_SIGNATURE', status: 403 });
    });

    it('never logs the Token, the EncodingAESKey, the ciphertext or the openid', async () => {
      const { receive, lines, account } = setup();
      const request = push('user_authorization_revoke', { revokeInfo: '8' });
      await receive(request);
      await receive(request);
      account.state.failNext = 1;
      await receive(push('user_info_modified')).catch(() => {});
      await receive(push('user_info_modified', { timestamp: NOW_S - 3600 })).catch(() => {});
      const all = lines.join('\n');
      expect(lines.length).toBeGreaterThan(2);
      for (const secret of [SETTINGS.token, SETTINGS.encodingAesKey, JSON.parse(request.body).Encrypt, OPENID]) expect(all).not.toContain(secret);
    });

    describe('明文模式: refused, however well signed', () => {
      // Its `signature` covers the Token, timestamp and nonce, not the body: whoever sees one
      // signed URL (every 安全模式 push URL carries the same `signature`) could post any body.
      const VICTIM = 'oVictim000000000000000000001';

      /** What a refusal of 明文模式 must leave: a 403 saying so, nothing run, no record. */
      function expectRefusedPlaintext(err: AppError, { account, dedupe }: ReturnType<typeof setup>) {
        expect(err).toMatchObject({ code: 'INVALID_SIGNATURE', status: 403, details: { refused: 'plaintext' } });
        expect(err.publicMessage).toBe(PLAINTEXT_REFUSED);
        expect(err.publicMessage).toContain('安全模式');
        expect(account.calls).toEqual([]);
        expect(dedupe.records.size).toBe(0);
      }

      it.each([
        ['user_authorization_cancellation', 'without encrypt_type', undefined],
        ['user_authorization_cancellation', 'with encrypt_type=raw', 'raw'],
        ['user_authorization_revoke', 'without encrypt_type', undefined],
        ['user_info_modified', 'with encrypt_type=raw', 'raw'],
      ] as const)('refuses a correctly signed %s %s with 403', async (event, _how, encryptType) => {
        const ctx = setup();
        const request = push(event, { plaintext: true, revokeInfo: '8' });
        if (encryptType) request.query.encrypt_type = encryptType;
        // It is what WeChat's 明文模式 sends, signed with our Token.
        expect(request.query.signature).toBe(urlSignature(SETTINGS.token, String(NOW_S), request.query.nonce!));
        expectRefusedPlaintext(await refusal(() => ctx.receive(request)), ctx);
      });

      it('refuses it before reading the body', async () => {
        const ctx = setup();
        const { query } = push('user_authorization_cancellation', { plaintext: true });
        const request = {
          query,
          get body(): string {
            throw new Error('the body was read');
          },
        };
        expectRefusedPlaintext(await refusal(() => ctx.receive(request)), ctx);
      });

      it('refuses a 安全模式 URL’s signature reused with a forged plaintext body', async () => {
        const ctx = setup();
        // A real 安全模式 push, seen on the way (its URL in a log, say)...
        const seen = push('user_info_modified');
        const forged = JSON.stringify(authorizationEvent('user_authorization_cancellation', VICTIM, SETTINGS.appId, { createTime: NOW_S }));
        const { signature, timestamp, nonce } = seen.query;
        // ...its signature, timestamp and nonce, with another body: as 明文模式, as raw...
        expectRefusedPlaintext(await refusal(() => ctx.receive({ query: { signature, timestamp, nonce }, body: forged })), ctx);
        expectRefusedPlaintext(await refusal(() => ctx.receive({ query: { signature, timestamp, nonce, encrypt_type: 'raw' }, body: forged })), ctx);
        // ...or claiming 安全模式 with no msg_signature over an Encrypt of its own.
        expect(await refusal(() => ctx.receive({ query: { ...seen.query, msg_signature: signature! }, body: forged }))).toMatchObject({ code: 'INVALID_SIGNATURE', details: { refused: 'signature' } });
        expect(await refusal(() => ctx.receive({ query: seen.query, body: forged }))).toMatchObject({ code: 'INVALID_SIGNATURE', details: { refused: 'signature' } });
        expect(ctx.account.calls).toEqual([]);
        expect(ctx.dedupe.records.size).toBe(0);
      });

      it('refuses the URL check’s signature reused with a forged body', async () => {
        const ctx = setup();
        const { echostr: _echostr, ...signed } = urlCheck(SETTINGS, { timestamp: NOW_S }).query;
        const forged = JSON.stringify(authorizationEvent('user_authorization_cancellation', VICTIM, SETTINGS.appId, { createTime: NOW_S }));
        expectRefusedPlaintext(await refusal(() => ctx.receive({ query: signed, body: forged })), ctx);
      });

      describe('with WECHAT_PUSH_PLAINTEXT=accept (the operator took the risk)', () => {
        it('runs a correctly signed 明文模式 push, with or without encrypt_type=raw, once', async () => {
          const { receive, account } = setup({ acceptPlaintext: true });
          const request = push('user_authorization_revoke', { plaintext: true, revokeInfo: '8' });
          await expect(receive(request)).resolves.toBe('applied');
          await expect(receive({ ...request, query: { ...request.query, encrypt_type: 'raw' } })).resolves.toBe('duplicate');
          expect(account.calls).toEqual([{ method: 'authorizationRevoked', openid: OPENID, revoked: { phone: true, profile: false } }]);
        });

        it('still refuses a wrong signature, a stale timestamp and an unknown encrypt_type', async () => {
          const { receive, account } = setup({ acceptPlaintext: true });
          const request = push('user_info_modified', { plaintext: true });
          expect(await refusal(() => receive({ ...request, query: { ...request.query, signature: '0'.repeat(40) } }))).toMatchObject({ details: { refused: 'signature' } });
          expect(await refusal(() => receive(push('user_info_modified', { plaintext: true, timestamp: NOW_S - 301 })))).toMatchObject({ details: { refused: 'timestamp' } });
          expect(await refusal(() => receive({ ...request, query: { ...request.query, encrypt_type: 'rot13' } }))).toMatchObject({ details: { refused: 'encrypt_type' } });
          expect(account.calls).toEqual([]);
        });

        it('still takes 安全模式', async () => {
          const { receive } = setup({ acceptPlaintext: true });
          await expect(receive(push('user_info_modified'))).resolves.toBe('applied');
        });
      });

      it('reads 兼容模式 (encrypt_type=aes, the fields in clear beside Encrypt) from the decrypted message alone', async () => {
        const { receive, account } = setup();
        const request = push('user_info_modified');
        // The clear fields are not signed: here they name another user and another event.
        const clear = authorizationEvent('user_authorization_cancellation', VICTIM, SETTINGS.appId, { createTime: NOW_S });
        const body = JSON.stringify({ ...clear, ...JSON.parse(request.body) });
        await expect(receive({ query: request.query, body })).resolves.toBe('applied');
        expect(account.calls).toEqual([{ method: 'infoModified', openid: OPENID }]);
      });
    });
  });

  describe('Function: revokedOf', () => {
    // WeChat's RevokeInfo table (授权用户信息变更) and what this service keeps of each.
    const none = { phone: false, profile: false };
    const table: [string, string, { phone: boolean; profile: boolean }][] = [
      ['8', '手机号', { phone: true, profile: false }],
      ['6', '昵称和头像', { phone: false, profile: true }],
      ['19', '昵称输入键盘中选择的微信昵称', { phone: false, profile: true }],
      ['20', '获取用户头像组件中选择的微信头像', { phone: false, profile: true }],
      ['1', '车牌号', none],
      ['2', '地址', none],
      ['3', '发票信息', none],
      ['4', '蓝牙', none],
      ['5', '麦克风', none],
      ['7', '摄像头', none],
      ['12', '微信运动步数', none],
      ['13', '位置信息', none],
      ['14', '选中的图片或视频', none],
      ['15', '选中的文件', none],
      ['16', '邮箱地址', none],
      ['18', '选择的位置信息', none],
      ['6,8', 'a list of two', { phone: true, profile: true }],
      ['80', 'not 8', none],
    ];
    it.each(table)('maps %s (%s)', (value, _words, revoked) => {
      expect(revokedOf(value)).toEqual(revoked);
    });

    it('runs a revoke of nothing this service keeps nowhere, answering success', async () => {
      const { receive, account, dedupe } = setup();
      await expect(receive(push('user_authorization_revoke', { revokeInfo: '13' }))).resolves.toBe('ignored');
      expect(account.calls).toEqual([]);
      expect(dedupe.records.size).toBe(0);
    });

    it('hands the port what a RevokeInfo of 19 (the WeChat nickname) withdraws', async () => {
      const { receive, account } = setup();
      await receive(push('user_authorization_revoke', { revokeInfo: '19' }));
      expect(account.calls).toEqual([{ method: 'authorizationRevoked', openid: OPENID, revoked: { phone: false, profile: true } }]);
    });
  });

  describe('Function: eventIdOf', () => {
    const base = parsePushMessage(JSON.stringify(authorizationEvent('user_authorization_revoke', OPENID, SETTINGS.appId, { createTime: NOW_S, revokeInfo: '8' })));

    it('is the same for a retry, whatever its field order or added fields', () => {
      const reordered = parsePushMessage(JSON.stringify({ RevokeInfo: '8', AppID: SETTINGS.appId, OpenID: OPENID, Event: 'user_authorization_revoke', MsgType: 'event', CreateTime: NOW_S, FromUserName: 'x', Extra: 1 }));
      expect(eventIdOf(reordered)).toBe(eventIdOf(base));
    });

    it.each([
      ['another user', { openid: 'oOther' }],
      ['another second', { createTime: NOW_S + 1 }],
      ['another event', { event: 'user_info_modified' }],
      ['another RevokeInfo in the same second', { revokeInfo: '6' }],
    ])('tells %s apart', (_name, change) => {
      expect(eventIdOf({ ...base, ...change })).not.toBe(eventIdOf(base));
    });

    it('goes by MsgId when there is one, and names no openid', () => {
      expect(eventIdOf({ ...base, msgId: '1' })).toBe(eventIdOf({ ...base, openid: 'oOther', msgId: '1' }));
      expect(eventIdOf(base)).not.toContain(OPENID);
      expect(eventIdOf(base)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });
  });

  describe('Function: readPushRequest', () => {
    const event = (body: string | undefined, isBase64Encoded = false) =>
      httpEvent({ routeKey: 'POST /wechat/events', body, isBase64Encoded, queryStringParameters: { timestamp: '1', nonce: '2' } });

    it('hands over the method, the query and the body, decoding a base64 one', () => {
      expect(readPushRequest(event('{"a":1}'))).toEqual({ method: 'POST', query: { timestamp: '1', nonce: '2' }, body: '{"a":1}' });
      expect(readPushRequest(event(Buffer.from('{"汉":1}').toString('base64'), true)).body).toBe('{"汉":1}');
      expect(readPushRequest(event(undefined)).body).toBe('');
    });

    it('refuses a body over the limit before decoding it', () => {
      expect(readPushRequest(event('x'.repeat(MAX_PUSH_BYTES))).body).toHaveLength(MAX_PUSH_BYTES);
      expect(() => readPushRequest(event('x'.repeat(MAX_PUSH_BYTES + 1)))).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
      expect(() => readPushRequest(event(Buffer.alloc(MAX_PUSH_BYTES + 1, 'x').toString('base64'), true))).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
    });
  });
});
