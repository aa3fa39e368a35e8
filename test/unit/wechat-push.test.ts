import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  aesKeyOf,
  decrypt,
  encrypt,
  encryptedPart,
  msgSignature,
  parsePushMessage,
  parsePushXml,
  PushDecryptError,
  PushFormatError,
  urlSignature,
  verifyMsgSignature,
  verifySignature,
} from '../../lib/push/wechat-message';
import { revokedOf } from '../../lib/push/service';

/**
 * WeChat's own worked examples, from the mini-program's 消息推送 page
 * (developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html):
 * the URL check, a push in 明文模式, a push in 安全模式 and its decryption, and an encrypted reply.
 */
const DOC = {
  token: 'AAAAA',
  encodingAesKey: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  appId: 'wxba5fad812f8e6fb9',
  urlCheck: { timestamp: '1714036504', nonce: '1514711492', signature: 'f464b24fc39322e44b38aa78f5edd27bd1441696', echostr: '4375120948345356249' },
  plain: { timestamp: '1714037059', nonce: '486452656', signature: '899cf89e464efb63f54ddac96b0a0a235f53aa78' },
  safe: {
    timestamp: '1714112445',
    nonce: '415670741',
    signature: '6c5c811b55cc85e0e1b54100749188c20beb3f5d',
    msgSignature: '046e02f8204d34f8ba5fa3b1db94908f3df2e9b3',
    encrypt:
      '+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=',
    // "random(16B)=a8eedb185eb2fecf", "msg_len=167"
    random: 'a8eedb185eb2fecf',
    message: '{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}',
  },
  reply: {
    random: '707722b803182950',
    message: '{"demo_resp":"good luck"}',
    encrypt: 'ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==',
    timestamp: '1713424427',
    nonce: '415670741',
    msgSignature: '1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1',
  },
};

/** Encrypts raw bytes under the doc's key without any padding of ours: a ciphertext WeChat would never send. */
function rawCiphertext(plaintext: Buffer): string {
  const key = aesKeyOf(DOC.encodingAesKey);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(plaintext), cipher.final()]).toString('base64');
}

/** FullStr as WeChat builds it: random(16) + length(4, big-endian) + message + appid, unpadded. */
function fullStr(message: string, appId: string, length = Buffer.byteLength(message)): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(length);
  return Buffer.concat([Buffer.from(DOC.safe.random), len, Buffer.from(message), Buffer.from(appId)]);
}

function reasonOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    if (err instanceof PushDecryptError) return err.reason;
    throw err;
  }
  return undefined;
}

describe('Module: wechat/push', () => {
  describe('Function: verifySignature', () => {
    it('accepts the URL check of WeChat’s example', () => {
      const { timestamp, nonce, signature } = DOC.urlCheck;
      expect(urlSignature(DOC.token, timestamp, nonce)).toBe(signature);
      expect(verifySignature(DOC.token, timestamp, nonce, signature)).toBe(true);
    });

    it('accepts the 明文模式 push of WeChat’s example, and the signature its 安全模式 URL carries too', () => {
      expect(verifySignature(DOC.token, DOC.plain.timestamp, DOC.plain.nonce, DOC.plain.signature)).toBe(true);
      expect(verifySignature(DOC.token, DOC.safe.timestamp, DOC.safe.nonce, DOC.safe.signature)).toBe(true);
    });

    it('takes the hex digits in either case', () => {
      expect(verifySignature(DOC.token, DOC.plain.timestamp, DOC.plain.nonce, DOC.plain.signature.toUpperCase())).toBe(true);
    });

    it.each([
      ['another request’s signature', DOC.token, DOC.plain.timestamp, DOC.plain.nonce, DOC.urlCheck.signature],
      ['a wrong token', 'AAAAB', DOC.plain.timestamp, DOC.plain.nonce, DOC.plain.signature],
      ['another timestamp', DOC.token, '1714037060', DOC.plain.nonce, DOC.plain.signature],
      ['another nonce', DOC.token, DOC.plain.timestamp, '486452657', DOC.plain.signature],
      ['one digit changed', DOC.token, DOC.plain.timestamp, DOC.plain.nonce, `${DOC.plain.signature.slice(0, -1)}9`],
      ['a truncated signature', DOC.token, DOC.plain.timestamp, DOC.plain.nonce, DOC.plain.signature.slice(0, 39)],
      ['a signature with a non-hex character', DOC.token, DOC.plain.timestamp, DOC.plain.nonce, `${DOC.plain.signature.slice(0, -1)}g`],
      ['an empty signature', DOC.token, DOC.plain.timestamp, DOC.plain.nonce, ''],
      ['no signature', DOC.token, DOC.plain.timestamp, DOC.plain.nonce, undefined],
    ])('refuses %s', (_name, token, timestamp, nonce, signature) => {
      expect(verifySignature(token, timestamp, nonce, signature)).toBe(false);
    });
  });

  describe('Function: msgSignature', () => {
    it('signs the Encrypt of WeChat’s 安全模式 example and of its encrypted reply', () => {
      expect(msgSignature(DOC.token, DOC.safe.timestamp, DOC.safe.nonce, DOC.safe.encrypt)).toBe(DOC.safe.msgSignature);
      expect(msgSignature(DOC.token, DOC.reply.timestamp, DOC.reply.nonce, DOC.reply.encrypt)).toBe(DOC.reply.msgSignature);
      expect(verifyMsgSignature(DOC.token, DOC.safe.timestamp, DOC.safe.nonce, DOC.safe.encrypt, DOC.safe.msgSignature)).toBe(true);
    });

    it('refuses an Encrypt changed by one character, a wrong token, and the plain signature in its place', () => {
      const tampered = `${DOC.safe.encrypt.slice(0, 10)}${DOC.safe.encrypt[10] === 'A' ? 'B' : 'A'}${DOC.safe.encrypt.slice(11)}`;
      expect(verifyMsgSignature(DOC.token, DOC.safe.timestamp, DOC.safe.nonce, tampered, DOC.safe.msgSignature)).toBe(false);
      expect(verifyMsgSignature('AAAAB', DOC.safe.timestamp, DOC.safe.nonce, DOC.safe.encrypt, DOC.safe.msgSignature)).toBe(false);
      // "注意：不要使用signature验证！": the URL's signature does not cover the body.
      expect(verifyMsgSignature(DOC.token, DOC.safe.timestamp, DOC.safe.nonce, DOC.safe.encrypt, DOC.safe.signature)).toBe(false);
    });
  });

  describe('Function: decrypt', () => {
    it('opens WeChat’s 安全模式 example into its 167-byte message', () => {
      const message = decrypt(DOC.encodingAesKey, DOC.appId, DOC.safe.encrypt);
      expect(message).toBe(DOC.safe.message);
      expect(Buffer.byteLength(message)).toBe(167);
    });

    it('opens what encrypt seals, for any message', () => {
      const key = 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR';
      for (const message of ['', '{}', '汉字 and emoji 🙂', 'x'.repeat(1000)]) {
        expect(decrypt(key, 'wx1', encrypt(key, 'wx1', message))).toBe(message);
      }
    });

    it('refuses a message for another AppID', () => {
      expect(reasonOf(() => decrypt(DOC.encodingAesKey, 'wx0000000000000000', DOC.safe.encrypt))).toBe('appid');
      // Nor a prefix or an extension of ours.
      expect(reasonOf(() => decrypt(DOC.encodingAesKey, DOC.appId.slice(0, -1), DOC.safe.encrypt))).toBe('appid');
      expect(reasonOf(() => decrypt(DOC.encodingAesKey, `${DOC.appId}0`, DOC.safe.encrypt))).toBe('appid');
    });

    it('refuses a tampered ciphertext whose length field no longer fits', () => {
      // CBC: flipping a bit of the first block flips the same bit of the second plaintext block,
      // where the length field starts.
      const bytes = Buffer.from(DOC.safe.encrypt, 'base64');
      bytes[0]! ^= 0x80;
      expect(reasonOf(() => decrypt(DOC.encodingAesKey, DOC.appId, bytes.toString('base64')))).toBe('length');
    });

    it('refuses a tampered last block (the padding and the AppID are there)', () => {
      const bytes = Buffer.from(DOC.safe.encrypt, 'base64');
      bytes[bytes.length - 1]! ^= 0x01;
      expect(['padding', 'appid']).toContain(reasonOf(() => decrypt(DOC.encodingAesKey, DOC.appId, bytes.toString('base64'))));
    });

    it('refuses the example under another key', () => {
      const otherKey = 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
      expect(reasonOf(() => decrypt(otherKey, DOC.appId, DOC.safe.encrypt))).toMatch(/^(padding|length|appid)$/);
    });

    it.each([
      ['a zero pad byte', 0, 0],
      ['a pad byte above 32', 33, 33],
      ['pad bytes that disagree', 4, 3],
    ])('refuses wrong padding: %s', (_name, last, rest) => {
      const content = fullStr('{}', DOC.appId);
      const fill = 64 - content.length;
      const padding = Buffer.alloc(fill, rest);
      padding[fill - 1] = last;
      expect(reasonOf(() => decrypt(DOC.encodingAesKey, DOC.appId, rawCiphertext(Buffer.concat([content, padding]))))).toBe('padding');
    });

    it('refuses AES’s own 16-byte padding: WeChat pads to 32-byte blocks', () => {
      const content = fullStr('{}', DOC.appId);
      const fill = 16 - (content.length % 16);
      expect(content.length + fill).not.toBe(Math.ceil(content.length / 32) * 32);
      expect(reasonOf(() => decrypt(DOC.encodingAesKey, DOC.appId, rawCiphertext(Buffer.concat([content, Buffer.alloc(fill, fill)]))))).toBe('format');
    });

    it('refuses a length field that points past the end, and content too short to hold one', () => {
      const long = fullStr('{}', DOC.appId, 2 + DOC.appId.length + 1);
      expect(reasonOf(() => decrypt(DOC.encodingAesKey, DOC.appId, rawCiphertext(Buffer.concat([long, Buffer.alloc(64 - long.length, 64 - long.length)]))))).toBe('length');
      expect(reasonOf(() => decrypt(DOC.encodingAesKey, DOC.appId, rawCiphertext(Buffer.concat([Buffer.alloc(12), Buffer.alloc(20, 20)]))))).toBe('length');
    });

    it.each([
      ['empty', ''],
      ['not base64', '!!!!'],
      ['not whole blocks', DOC.safe.encrypt.slice(0, 40)],
    ])('refuses an Encrypt that is %s', (_name, value) => {
      expect(reasonOf(() => decrypt(DOC.encodingAesKey, DOC.appId, value))).toBe('format');
    });
  });

  describe('Function: encrypt', () => {
    it('seals WeChat’s examples into exactly their Encrypt, given their random prefixes', () => {
      expect(encrypt(DOC.encodingAesKey, DOC.appId, DOC.reply.message, Buffer.from(DOC.reply.random))).toBe(DOC.reply.encrypt);
      expect(encrypt(DOC.encodingAesKey, DOC.appId, DOC.safe.message, Buffer.from(DOC.safe.random))).toBe(DOC.safe.encrypt);
    });

    it('draws a fresh random prefix each time', () => {
      expect(encrypt(DOC.encodingAesKey, DOC.appId, '{}')).not.toBe(encrypt(DOC.encodingAesKey, DOC.appId, '{}'));
    });
  });

  describe('Function: aesKeyOf', () => {
    it('decodes an EncodingAESKey into 32 bytes', () => {
      expect(aesKeyOf(DOC.encodingAesKey)).toEqual(Buffer.alloc(32));
    });

    it.each([['A'.repeat(42)], ['A'.repeat(44)], [`${'A'.repeat(42)}=`], [`${'A'.repeat(42)}-`]])('refuses %s', (key) => {
      expect(() => aesKeyOf(key)).toThrow();
    });
  });

  describe('Function: parsePushMessage', () => {
    const revoke = {
      ToUserName: 'gh_870882ca4b1',
      FromUserName: 'oaKk346BaWE-eIn4oSRWbaM9vR7s',
      CreateTime: 1627359464,
      MsgType: 'event',
      Event: 'user_authorization_revoke',
      OpenID: 'oaKk343WOktAaT2ygsX138BGblrg',
      AppID: 'wx13974bf780d3dc89',
      RevokeInfo: '1',
    };

    it('reads WeChat’s example of a revoke, the user from OpenID and not FromUserName', () => {
      expect(parsePushMessage(JSON.stringify(revoke))).toEqual({
        msgType: 'event',
        event: 'user_authorization_revoke',
        createTime: 1627359464,
        msgId: undefined,
        appId: 'wx13974bf780d3dc89',
        openid: 'oaKk343WOktAaT2ygsX138BGblrg',
        revokeInfo: '1',
      });
    });

    it('accepts fields it does not know, as WeChat adds them', () => {
      const message = parsePushMessage(JSON.stringify({ ...revoke, PluginID: 'wx13974bf780d3dc89', OpenPID: 'G7esq5NVzP76HIHoB95t4CVBP6to', SomethingNew: { nested: [1] } }));
      expect(message).toMatchObject({ event: 'user_authorization_revoke', openid: revoke.OpenID });
    });

    it('takes CreateTime and RevokeInfo as numbers or digit strings', () => {
      expect(parsePushMessage(JSON.stringify({ ...revoke, CreateTime: '1627359464', RevokeInfo: 8 }))).toMatchObject({ createTime: 1627359464, revokeInfo: '8' });
    });

    it('reads messages that are not events, and their MsgId', () => {
      expect(parsePushMessage('{"ToUserName":"wx3d289323f5900f8e","FromUserName":"ohl4L0","Content":"测试","CreateTime":1555684067,"MsgId":"49d72d67b16d115e7935ac386f2f0fa41535298877_1555684067","MsgType":"text"}')).toMatchObject({
        msgType: 'text',
        event: undefined,
        msgId: '49d72d67b16d115e7935ac386f2f0fa41535298877_1555684067',
      });
    });

    it.each([
      ['not JSON', '{"MsgType":', /not JSON/],
      ['XML (数据格式 left at XML)', '<xml><MsgType>event</MsgType></xml>', /XML/],
      ['an array', '[]', /object/],
      ['without MsgType', JSON.stringify({ ...revoke, MsgType: undefined }), /MsgType/],
      ['without CreateTime', JSON.stringify({ ...revoke, CreateTime: undefined }), /CreateTime/],
      ['with a CreateTime that is no time', JSON.stringify({ ...revoke, CreateTime: 'yesterday' }), /CreateTime/],
    ])('refuses a body that is %s', (_name, body, reason) => {
      expect(() => parsePushMessage(body)).toThrow(PushFormatError);
      expect(() => parsePushMessage(body)).toThrow(reason);
    });
  });

  describe('Function: encryptedPart', () => {
    it('finds the Encrypt of a 安全模式 body and nothing in anything else', () => {
      expect(encryptedPart(JSON.stringify({ ToUserName: 'gh_97417a04a28d', Encrypt: DOC.safe.encrypt }))).toBe(DOC.safe.encrypt);
      for (const body of ['', '{', '[]', 'null', '{"Encrypt":1}', '{"ToUserName":"gh"}']) expect(encryptedPart(body), body).toBeUndefined();
    });
  });
});

describe('Function: parsePushXml (a 公众号’s or an App’s message)', () => {
  const event = '<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1627359464</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_authorization_revoke]]></Event><OpenID><![CDATA[o-1]]></OpenID><AppID><![CDATA[wx1]]></AppID><RevokeInfo><![CDATA[205]]></RevokeInfo></xml>';

  it('reads the fields WeChat sends, in CDATA or as plain text with the predefined entities', () => {
    expect(parsePushXml(event)).toEqual({ msgType: 'event', event: 'user_authorization_revoke', createTime: 1627359464, msgId: undefined, appId: 'wx1', openid: 'o-1', revokeInfo: '205' });
    expect(parsePushXml('<?xml version="1.0"?><xml><MsgType>a&amp;b&#33;</MsgType><CreateTime>1</CreateTime></xml>').msgType).toBe('a&b!');
  });

  it.each([
    ['a DOCTYPE', '<!DOCTYPE xml [<!ENTITY e "boom">]><xml><MsgType>&e;</MsgType><CreateTime>1</CreateTime></xml>'],
    ['an entity of its own', '<xml><MsgType>&e;</MsgType><CreateTime>1</CreateTime></xml>'],
    ['a bare &', '<xml><MsgType>a & b</MsgType><CreateTime>1</CreateTime></xml>'],
    ['a character that does not exist', '<xml><MsgType>&#x110000;</MsgType><CreateTime>1</CreateTime></xml>'],
    ['a nested element', '<xml><MsgType><b>x</b></MsgType><CreateTime>1</CreateTime></xml>'],
    ['no <xml> root', '<message><MsgType>event</MsgType></message>'],
    ['no CreateTime', '<xml><MsgType>event</MsgType></xml>'],
  ])('refuses %s with a PushFormatError, never expanding anything', (_name, xml) => {
    expect(() => parsePushXml(xml)).toThrow(PushFormatError);
  });
});

describe('Function: revokedOf, by kind of app', () => {
  it.each([
    ['miniprogram', '8', { phone: true, profile: false }],
    ['officialAccount', '205', { phone: false, profile: true }],
    ['officialAccount', '201', { phone: false, profile: false }],
    ['officialAccount', '8', { phone: false, profile: false }],
    ['mobileApp', '301', { phone: false, profile: false, appSessions: true }],
  ] as const)('%s %s', (kind, info, revoked) => {
    expect(revokedOf(info, kind)).toEqual(revoked);
  });
});
