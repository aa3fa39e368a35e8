import type { WxLike } from '../../client/wechat-auth';

/** One request as the kit handed it to wx.request, and the status it got. */
export interface RecordedRequest {
  url: string;
  method: string;
  header: Record<string, string>;
  /** The request's data, as the kit handed it over. */
  data?: unknown;
  status: number;
}

/**
 * A stand-in for the mini-program `wx` object: `request` does real HTTP (so the kit talks to
 * the real local stack) and records the headers it sent, `login` hands out codes the WeChat
 * stub understands, `getRandomValues` gives real random bytes as the base library does,
 * storage is a Map that several kits can share (a relaunch). Faults can be injected in front
 * of a path, as API Gateway would answer them.
 */
export interface FakeWx extends WxLike {
  calls: { login: number; randomValues: number; requests: RecordedRequest[] };
  storage: Map<string, unknown>;
  /** The next `count` requests whose path ends with `path` get this answer without reaching the server. */
  failNext(path: string, count: number, statusCode: number, header?: Record<string, string>, data?: unknown): void;
}

/**
 * `files` maps a temporary file path (what chooseAvatar hands the page) to its bytes, for
 * `uploadFile`, which posts it as multipart/form-data exactly as the base library does and,
 * like it, hands the answer's body back as a string.
 */
export function fakeWx(nextCode: () => string, storage: Map<string, unknown> = new Map(), files: Map<string, Uint8Array> = new Map(), appId?: string): FakeWx {
  const faults: { path: string; left: number; statusCode: number; header: Record<string, string>; data: unknown }[] = [];
  const calls: FakeWx['calls'] = { login: 0, randomValues: 0, requests: [] };
  return {
    calls,
    storage,
    failNext(path, count, statusCode, header = {}, data = { message: 'Service Unavailable' }) {
      faults.push({ path, left: count, statusCode, header, data });
    },
    // The base library's account info, when the test names the mini-program's AppID.
    ...(appId ? { getAccountInfoSync: () => ({ miniProgram: { appId } }) } : {}),
    login({ success }) {
      calls.login++;
      setTimeout(() => success({ code: nextCode() }), 5);
    },
    request({ url, method = 'GET', data, header = {}, success, fail }) {
      const path = new URL(url).pathname;
      const fault = faults.find((f) => f.left > 0 && path.endsWith(f.path));
      if (fault) {
        fault.left--;
        calls.requests.push({ url, method, header: { ...header }, data, status: fault.statusCode });
        setTimeout(() => success({ statusCode: fault.statusCode, data: fault.data, header: fault.header }), 1);
        return;
      }
      // wx.request sends JSON by default and parses a JSON answer.
      const headers = { 'content-type': 'application/json', ...header };
      const body = method === 'GET' || data === undefined ? undefined : typeof data === 'string' ? data : JSON.stringify(data);
      fetch(url, { method, headers, body }).then(
        async (response) => {
          const text = await response.text();
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : '';
          } catch {
            // not JSON: hand the text over, as wx.request does
          }
          calls.requests.push({ url, method, header: { ...header }, data, status: response.status });
          success({ statusCode: response.status, data: parsed, header: Object.fromEntries(response.headers) });
        },
        (err: Error) => fail({ errMsg: `request:fail ${err.message}` }),
      );
    },
    uploadFile({ url, filePath, name, header = {}, formData = {}, success, fail }) {
      const bytes = files.get(filePath);
      if (!bytes) return setTimeout(() => fail({ errMsg: `uploadFile:fail file not found ${filePath}` }), 1);
      const form = new FormData();
      for (const [key, value] of Object.entries(formData)) form.append(key, value);
      form.append(name, new Blob([bytes]), filePath.split('/').pop());
      fetch(url, { method: 'POST', headers: header, body: form }).then(
        async (response) => {
          calls.requests.push({ url, method: 'POST', header: { ...header }, status: response.status });
          success({ statusCode: response.status, data: await response.text() });
        },
        (err: Error) => fail({ errMsg: `uploadFile:fail ${err.message}` }),
      );
    },
    getRandomValues({ length, success }) {
      // As the base library does: the bytes as an ArrayBuffer, handed over asynchronously.
      calls.randomValues++;
      const bytes = globalThis.crypto.getRandomValues(new Uint8Array(length));
      setTimeout(() => success({ randomValues: bytes.buffer }), 1);
    },
    getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ''),
    setStorageSync: (key, value) => void storage.set(key, structuredClone(value)),
    removeStorageSync: (key) => void storage.delete(key),
  };
}
