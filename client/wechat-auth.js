/**
 * wechat-auth.js — the mini-program half of the login (no dependencies; only `wx.*`).
 *
 *   const { createAuth } = require('./wechat-auth.js');
 *   const auth = createAuth({ baseUrl: 'https://abc123.execute-api.ap-southeast-1.amazonaws.com', wx });
 *   const { data } = await auth.request({ url: '/user/me' });
 *
 * - login(): one wx.login and one POST /user/wechatlogin however many callers ask at once. The
 *   POST carries an X-Login-Proof made for that code, so a retry of it (another network, a
 *   lost answer) gets the same session back and nobody else can with the code alone.
 * - request(): logs in first when there is no valid token and sends `Authorization: Bearer …`,
 *   but only to baseUrl's own origin. It drops the token and logs in again, once, only when
 *   the authorizer refuses it (401/403 without our error body). It retries with bounded,
 *   jittered backoff what is safe to repeat: for any method, 409 (but PHONE_IN_USE)/429/503
 *   with our error body, and a 500 or 429 without it (the route never ran); for GET and HEAD,
 *   any other 5xx as well.
 * - bindPhone(code): POST /user/phone with getPhoneNumber's e.detail.code, under the same rules.
 * - uploadAvatar(path) / updateProfile({ nickname }): the 头像昵称填写 profile, likewise.
 * - The token and its expiry live in wx storage, so a relaunch reuses them without wx.login.
 *
 * Written for the mini-program JS runtime: ES2015 and Promise, no async/await, no Node APIs.
 */
'use strict';

var DEFAULTS = {
  storageKey: 'wechat-auth',
  loginPath: '/user/wechatlogin',
  logoutPath: '/user/logout',
  phonePath: '/user/phone',
  avatarPath: '/user/avatar',
  profilePath: '/user/profile',
  deletePath: '/user/delete',
  sessionsPath: '/user/sessions',
  opendataPath: '/user/opendata',
  /**
   * The AppID a login names (the server serves several apps: docs/identities.md): this
   * mini-program's own, from wx.getAccountInfoSync(), unless a string is given; false sends none.
   */
  appid: undefined,
  /** Retries of one request before its last answer is handed back. */
  maxRetries: 3,
  /** Longest single wait; a Retry-After longer than this is not waited for. */
  maxDelayMs: 8000,
  baseDelayMs: 300,
  /** Treat a token as expired this long before the server would. */
  expirySkewMs: 1000,
};

/** 32 random bytes: a 43-character base64url X-Login-Proof (the server takes 22–64). */
var PROOF_BYTES = 32;
var BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
var DEFAULT_PORTS = { http: '80', https: '443' };

function AuthError(message, details) {
  var error = new Error(message);
  error.name = 'AuthError';
  error.statusCode = details.statusCode;
  error.code = details.code;
  error.retryAfterSeconds = details.retryAfterSeconds;
  // ACCOUNT_SUSPENDED: the suspension's end time (ISO), when it has one.
  if (details.until) error.until = details.until;
  return error;
}

function headerValue(header, name) {
  if (!header) return undefined;
  var wanted = name.toLowerCase();
  for (var key in header) {
    if (Object.prototype.hasOwnProperty.call(header, key) && key.toLowerCase() === wanted) return header[key];
  }
  return undefined;
}

function retryAfterSeconds(response) {
  var value = Number(headerValue(response.header, 'retry-after'));
  return isFinite(value) && value >= 0 ? value : undefined;
}

/** The `code` of our error body `{"error": {"code", "message"}}`; undefined for any other body (API Gateway's own, for one). */
function errorCodeOf(response) {
  var data = response.data;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch (e) {
      return undefined;
    }
  }
  return data && data.error && typeof data.error.code === 'string' ? data.error.code : undefined;
}

/**
 * scheme, host and port of an absolute http(s) URL, or null when it is not one whose
 * destination is plain to read. Userinfo (`https://api.example.com@evil.com`), backslashes,
 * whitespace and anything else a URL parser might read another way make it null: such a URL
 * is never taken for ours.
 */
function originOf(url) {
  var match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^\/?#]*)/.exec(url);
  if (!match) return null;
  var scheme = match[1].toLowerCase();
  if (!Object.prototype.hasOwnProperty.call(DEFAULT_PORTS, scheme)) return null;
  var hostPort = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?$/.exec(match[2]);
  if (!hostPort) return null;
  var host = hostPort[1].toLowerCase();
  var port = hostPort[2] ? String(Number(hostPort[2])) : DEFAULT_PORTS[scheme];
  return { scheme: scheme, host: host, port: port, key: scheme + '://' + host + ':' + port };
}

/**
 * True for a host that names this machine or one on a private network, where `npm run dev`
 * may be reached over plain HTTP: localhost, 127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12,
 * 192.168.0.0/16, 169.254.0.0/16 (link-local), [::1] and IPv6 unique local addresses
 * (fc00::/7). IPv4 only as four plain decimal parts: `010.0.0.1` is 8.0.0.1 to some parsers.
 */
function isPrivateHost(host) {
  if (host === 'localhost' || host === '[::1]') return true;
  if (/^\[f[cd][0-9a-f]{2}:[0-9a-f:]*\]$/.test(host)) return true;
  var quad = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/.exec(host);
  if (!quad) return false;
  var a = Number(quad[1]);
  var b = Number(quad[2]);
  if (a > 255 || b > 255 || Number(quad[3]) > 255 || Number(quad[4]) > 255) return false;
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
}

function base64url(bytes) {
  var out = '';
  for (var i = 0; i < bytes.length; i += 3) {
    var n = (bytes[i] << 16) | ((i + 1 < bytes.length ? bytes[i + 1] : 0) << 8) | (i + 2 < bytes.length ? bytes[i + 2] : 0);
    out += BASE64URL.charAt((n >> 18) & 63) + BASE64URL.charAt((n >> 12) & 63);
    if (i + 1 < bytes.length) out += BASE64URL.charAt((n >> 6) & 63);
    if (i + 2 < bytes.length) out += BASE64URL.charAt(n & 63);
  }
  return out;
}

/**
 * The fallback where the base library has no wx.getRandomValues (before 2.15.0), or it fails.
 * Math.random is not a cryptographic generator: code running in this mini-program could
 * predict it. That is acceptable here, and only here, because of what the proof guards: it
 * makes a leaked login code useless to someone elsewhere who has the code but not the
 * request it came in. They would have to guess 256 bits from a generator whose state they
 * cannot see, within the code's five minutes; the proof is never stored or reused.
 */
function weakRandomBytes(length) {
  var bytes = [];
  for (var i = 0; i < length; i++) bytes.push(Math.floor(Math.random() * 256));
  return bytes;
}

function createAuth(options) {
  if (!options || !options.baseUrl || !options.wx) throw new Error('createAuth needs { baseUrl, wx }');
  var wx = options.wx;
  var settings = {};
  for (var key in DEFAULTS) settings[key] = options[key] !== undefined ? options[key] : DEFAULTS[key];
  var baseUrl = String(options.baseUrl).replace(/\/+$/, '');
  var base = originOf(baseUrl);
  if (!base || /[?#]/.test(baseUrl)) {
    throw new Error('createAuth: baseUrl must be an http(s) URL without credentials, query or fragment, e.g. https://api.example.com (got ' + baseUrl + ')');
  }
  // The token is a bearer credential: it only travels encrypted, but for `npm run dev` on this
  // machine or, for a real phone in 真机调试, on the same private network.
  if (base.scheme !== 'https' && !isPrivateHost(base.host)) {
    throw new Error(
      'createAuth: baseUrl must use https:// (http:// only for development: localhost, 127.x, 10.x, 172.16-31.x, 192.168.x, 169.254.x, [::1], [fc00::/7]), got ' + baseUrl
    );
  }
  var now = options.now || Date.now;
  var sleep =
    options.sleep ||
    function (ms) {
      return new Promise(function (resolve) {
        setTimeout(resolve, ms);
      });
    };
  var inflightLogin = null;

  /** The URL a request goes to: relative ones under baseUrl, `//host/…` with baseUrl's scheme. */
  function absolute(url) {
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url)) return url;
    if (url.slice(0, 2) === '//') return base.scheme + ':' + url;
    return baseUrl + (url.charAt(0) === '/' ? url : '/' + url);
  }

  /** True only when `url` (absolute) goes to baseUrl's scheme, host and port. */
  function isOwnOrigin(url) {
    var origin = originOf(url);
    return origin !== null && origin.key === base.key;
  }

  // The login code, the token, a phone code and the user's profile go to these: never
  // anywhere but baseUrl's origin.
  ['loginPath', 'logoutPath', 'phonePath', 'avatarPath', 'profilePath', 'deletePath', 'sessionsPath', 'opendataPath'].forEach(function (name) {
    if (!isOwnOrigin(absolute(settings[name]))) {
      throw new Error('createAuth: ' + name + ' must be a path on baseUrl (' + baseUrl + ')');
    }
  });

  function send(request) {
    if (request.filePath) return upload(request);
    return new Promise(function (resolve, reject) {
      wx.request({
        url: absolute(request.url),
        method: request.method || 'GET',
        data: request.data,
        header: request.header || {},
        timeout: request.timeout,
        dataType: request.dataType,
        responseType: request.responseType,
        success: function (res) {
          resolve({ statusCode: res.statusCode, data: res.data, header: res.header || {} });
        },
        fail: function (err) {
          reject(AuthError((err && err.errMsg) || 'request failed', { statusCode: 0, code: 'NETWORK_ERROR' }));
        },
      });
    });
  }

  /**
   * A file, as wx.uploadFile sends it (multipart/form-data, the file in field `name`). Its
   * answer's body comes back as a string: parsed as JSON when it is JSON, so error codes read
   * the same as wx.request's. wx.uploadFile hands back no response headers, so a Retry-After
   * is not seen and the kit's own backoff applies.
   */
  function upload(request) {
    return new Promise(function (resolve, reject) {
      if (typeof wx.uploadFile !== 'function') {
        reject(AuthError('wx.uploadFile is not available', { statusCode: 0, code: 'NO_UPLOAD' }));
        return;
      }
      wx.uploadFile({
        url: absolute(request.url),
        filePath: request.filePath,
        name: request.name || 'file',
        header: request.header || {},
        formData: request.formData,
        timeout: request.timeout,
        success: function (res) {
          var data = res.data;
          if (typeof data === 'string') {
            try {
              data = JSON.parse(data);
            } catch (e) {
              // Not JSON (a gateway's HTML page, say): handed back as the string it is.
            }
          }
          resolve({ statusCode: res.statusCode, data: data, header: res.header || {} });
        },
        fail: function (err) {
          reject(AuthError((err && err.errMsg) || 'upload failed', { statusCode: 0, code: 'NETWORK_ERROR' }));
        },
      });
    });
  }

  /**
   * Whether an answer may be retried. Our functions answer 409/429/503 with our error body
   * when nothing was done and a retry can succeed. A 500 without our body comes from API
   * Gateway: the route never ran (the authorizer threw, say, while the session store was
   * unreachable); so does a 429 without our body (the stage's throttling). Any other 5xx may
   * come after the route did its work, so only a GET or HEAD is repeated then: a POST is never
   * applied twice.
   */
  function isRetryable(response, method) {
    var status = response.statusCode;
    var ours = errorCodeOf(response) !== undefined;
    // A 409 PHONE_IN_USE is a conflict that waiting does not resolve: only the others are retried.
    if (ours && status === 409) return errorCodeOf(response) !== 'PHONE_IN_USE';
    if (ours && (status === 429 || status === 503)) return true;
    if ((status === 500 || status === 429) && !ours) return true;
    return status >= 500 && status <= 599 && (method === 'GET' || method === 'HEAD');
  }

  /** How long to wait before retry number `attempt` (0-based), or -1 to give up now. */
  function delayFor(response, attempt) {
    if (attempt >= settings.maxRetries) return -1;
    var asked = retryAfterSeconds(response);
    if (asked !== undefined && asked > 0) {
      var ms = asked * 1000;
      return ms > settings.maxDelayMs ? -1 : ms;
    }
    // No Retry-After, or `Retry-After: 0`: still a short wait, jittered, so that every client
    // hit by the same outage does not come back in the same instant.
    var exponential = settings.baseDelayMs * Math.pow(2, attempt);
    return Math.min(settings.maxDelayMs, exponential / 2 + Math.random() * (exponential / 2));
  }

  /** Sends the same request again while its answer is retryable, at most maxRetries times. */
  function sendWithRetries(request) {
    var method = String(request.method || 'GET').toUpperCase();
    function attempt(n) {
      return send(request).then(function (response) {
        if (!isRetryable(response, method)) return response;
        var wait = delayFor(response, n);
        if (wait < 0) return response;
        return sleep(wait).then(function () {
          return attempt(n + 1);
        });
      });
    }
    return attempt(0);
  }

  function readSession() {
    var stored = wx.getStorageSync(settings.storageKey);
    return stored && typeof stored === 'object' && stored.token ? stored : null;
  }

  function validSession() {
    var session = readSession();
    return session && now() < session.expiresAt - settings.expirySkewMs ? session : null;
  }

  function saveSession(session) {
    wx.setStorageSync(settings.storageKey, session);
  }

  function clearSession() {
    wx.removeStorageSync(settings.storageKey);
  }

  function wxLogin() {
    return new Promise(function (resolve, reject) {
      wx.login({
        success: function (res) {
          if (res && res.code) resolve(res.code);
          else reject(AuthError('wx.login gave no code', { statusCode: 0, code: 'WX_LOGIN_FAILED' }));
        },
        fail: function (err) {
          reject(AuthError((err && err.errMsg) || 'wx.login failed', { statusCode: 0, code: 'WX_LOGIN_FAILED' }));
        },
      });
    });
  }

  /** A fresh X-Login-Proof: wx.getRandomValues where the base library has it (2.15.0+). */
  function newProof() {
    return new Promise(function (resolve) {
      function fallback() {
        resolve(base64url(weakRandomBytes(PROOF_BYTES)));
      }
      if (typeof wx.getRandomValues !== 'function') return fallback();
      try {
        wx.getRandomValues({
          length: PROOF_BYTES,
          success: function (res) {
            var bytes = res && res.randomValues ? new Uint8Array(res.randomValues) : null;
            if (bytes && bytes.length === PROOF_BYTES) resolve(base64url(bytes));
            else fallback();
          },
          fail: fallback,
        });
      } catch (e) {
        fallback();
      }
    });
  }

  /** The AppID each login names: settings.appid, else this mini-program's own; none when unknown or turned off. */
  function ownAppid() {
    if (settings.appid === false) return undefined;
    if (typeof settings.appid === 'string' && settings.appid) return settings.appid;
    try {
      var info = typeof wx.getAccountInfoSync === 'function' ? wx.getAccountInfoSync() : undefined;
      var appId = info && info.miniProgram && info.miniProgram.appId;
      // DevTools' project without an AppID (测试号 / touristappid) names none: the server's default app.
      return typeof appId === 'string' && appId && appId !== 'touristappid' ? appId : undefined;
    } catch (e) {
      return undefined;
    }
  }

  /** One wx.login code and the proof made for it, which every retry of its POST carries. */
  function freshCode() {
    return wxLogin().then(function (code) {
      return newProof().then(function (proof) {
        return { code: code, proof: proof };
      });
    });
  }

  function loginBody(code) {
    var appid = ownAppid();
    return appid ? { code: code, appid: appid } : { code: code };
  }

  function exchange(attempt, freshCodeLeft) {
    var post = {
      url: settings.loginPath,
      method: 'POST',
      data: loginBody(attempt.code),
      header: { 'content-type': 'application/json', 'X-Login-Proof': attempt.proof },
    };
    return sendWithRetries(post).then(function (response) {
      if (response.statusCode === 200 && response.data && response.data.token) {
        var ttlMs = response.data.expiresIn * 1000;
        var session = { token: response.data.token, userId: response.data.userId, ttlMs: ttlMs, expiresAt: now() + ttlMs };
        saveSession(session);
        return { token: session.token, userId: session.userId, isNewUser: response.data.isNewUser, expiresIn: response.data.expiresIn };
      }
      var code = errorCodeOf(response);
      if (code === 'ACCOUNT_SUSPENDED') {
        // Surfaced once: until login() is called, or the end time passes, no wx.login is made.
        var until = response.data.error.until;
        suspension = { until: typeof until === 'string' ? Date.parse(until) : undefined };
        throw AuthError('the account is suspended', { statusCode: response.statusCode, code: code, until: typeof until === 'string' ? until : undefined });
      }
      // The code was refused (expired, or used elsewhere): one fresh wx.login, then give up.
      if (code === 'INVALID_CODE' && freshCodeLeft) {
        return freshCode().then(function (fresh) {
          return exchange(fresh, false);
        });
      }
      throw AuthError('login failed (' + response.statusCode + (code ? ' ' + code : '') + ')', {
        statusCode: response.statusCode,
        code: code,
        retryAfterSeconds: retryAfterSeconds(response),
      });
    });
  }

  /** A suspension the server answered: no wx.login until its end time, or until login() is called. */
  var suspension = null;

  /** login() as callers see it: an explicit call tries again, suspended or not. */
  function explicitLogin() {
    suspension = null;
    return login();
  }

  /** Logs in, sharing one wx.login and one POST among every caller that asks meanwhile. */
  function login() {
    if (inflightLogin) return inflightLogin;
    inflightLogin = freshCode()
      .then(function (attempt) {
        return exchange(attempt, true);
      })
      .then(
        function (result) {
          inflightLogin = null;
          return result;
        },
        function (error) {
          inflightLogin = null;
          throw error;
        },
      );
    return inflightLogin;
  }

  function ensureToken() {
    var session = validSession();
    if (session) return Promise.resolve(session.token);
    // After deleteAccount the kit stays signed out: only an explicit login() starts a new account.
    var stored = wx.getStorageSync(settings.storageKey);
    if (stored && typeof stored === 'object' && stored.deletedAt) {
      return Promise.reject(AuthError('the account was deleted: call login() to start a new one', { statusCode: 0, code: 'ACCOUNT_DELETED' }));
    }
    if (suspension && (suspension.until === undefined || isNaN(suspension.until) || now() < suspension.until)) {
      var until = suspension.until && !isNaN(suspension.until) ? new Date(suspension.until).toISOString() : undefined;
      return Promise.reject(AuthError('the account is suspended', { statusCode: 0, code: 'ACCOUNT_SUSPENDED', until: until }));
    }
    suspension = null;
    return login().then(function (result) {
      return result.token;
    });
  }

  /** A copy of the request going to `url`, with our Authorization instead of any the caller set. */
  function signed(request, url, token) {
    var header = {};
    var given = request.header || {};
    for (var name in given) {
      if (Object.prototype.hasOwnProperty.call(given, name) && name.toLowerCase() !== 'authorization') header[name] = given[name];
    }
    header.Authorization = 'Bearer ' + token;
    var copy = {};
    for (var key in request) if (Object.prototype.hasOwnProperty.call(request, key)) copy[key] = request[key];
    copy.url = url;
    copy.header = header;
    return copy;
  }

  /** The authorizer's refusal: API Gateway's own 401/403, without our error body. */
  function isDenied(response) {
    return (response.statusCode === 401 || response.statusCode === 403) && errorCodeOf(response) === undefined;
  }

  /** Like wx.request, as a Promise of { statusCode, data, header }, signed in when it goes to baseUrl's origin. */
  function request(options) {
    if (!options || !options.url) return Promise.reject(new Error('request needs { url }'));
    var url = absolute(String(options.url));
    if (!isOwnOrigin(url)) {
      // Someone else's server: no token, no login, and none of our rules about its answers.
      var plain = {};
      for (var key in options) if (Object.prototype.hasOwnProperty.call(options, key)) plain[key] = options[key];
      plain.url = url;
      return send(plain);
    }
    function attempt(reloginLeft) {
      return ensureToken().then(function (token) {
        return sendWithRetries(signed(options, url, token)).then(function (response) {
          if (isDenied(response)) {
            // Expired, revoked or past its absolute cap: this token is dead. A route's own
            // 401/403 (our error body) says nothing about the token and is handed back as is.
            var current = readSession();
            if (current && current.token === token) clearSession();
            return reloginLeft ? attempt(false) : response;
          }
          if (response.statusCode >= 200 && response.statusCode < 300) {
            // The server slides the session on every authorized use: so does the client.
            var session = readSession();
            if (session && session.token === token) {
              session.expiresAt = now() + session.ttlMs;
              saveSession(session);
            }
          }
          return response;
        });
      });
    }
    return attempt(true);
  }

  /** Revokes this session (or, with { all: true }, every session of the user); storage is cleared even if the call fails. */
  function logout(options) {
    var session = readSession();
    if (!session) return Promise.resolve();
    var all = !!(options && options.all);
    return send({
      url: settings.logoutPath,
      method: 'POST',
      data: all ? { all: true } : undefined,
      header: all ? { 'content-type': 'application/json', Authorization: 'Bearer ' + session.token } : { Authorization: 'Bearer ' + session.token },
    }).then(
      function () {
        clearSession();
      },
      function () {
        clearSession();
      },
    );
  }

  /**
   * Reads a wx API's open data on the server (POST /user/opendata): `fetch` calls the API, e.g.
   * function () { return wx.getWeRunData(); }, and its { encryptedData, iv } are posted. Resolves
   * with the decrypted data (e.g. { stepInfoList }). When the server answers SESSION_KEY_EXPIRED
   * (a wx.login it never saw replaced the key), it logs in once with a fresh wx.login code, so
   * the server holds the new key, ends the old session, calls `fetch` again and posts once more:
   * at most once per call. Rejects with an AuthError carrying the server's code
   * (OPENDATA_INVALID, OPENDATA_UNSUPPORTED, RATE_LIMITED, …), NO_OPEN_DATA when `fetch` gave no
   * encryptedData and iv, or the wx API's own error.
   */
  function openData(fetch) {
    if (typeof fetch !== 'function') {
      return Promise.reject(AuthError('openData needs a function that calls the wx API, e.g. function () { return wx.getWeRunData(); }', { statusCode: 0, code: 'NO_OPEN_DATA' }));
    }
    function attempt(healed) {
      // The session the data is fetched under: if another call heals meanwhile, this one's
      // answer comes back for a key the kit no longer holds.
      var sentWith = null;
      // Signed in first: a login after the fetch could replace the key the data is encrypted with.
      return ensureToken()
        .then(function (token) {
          sentWith = token;
          return fetch();
        })
        .then(function (result) {
          if (!result || typeof result.encryptedData !== 'string' || typeof result.iv !== 'string') {
            throw AuthError('the wx API gave no encryptedData and iv', { statusCode: 0, code: 'NO_OPEN_DATA' });
          }
          return request({ url: settings.opendataPath, method: 'POST', data: { encryptedData: result.encryptedData, iv: result.iv }, header: { 'content-type': 'application/json' } });
        })
        .then(function (response) {
          if (response.statusCode === 200 && response.data && typeof response.data === 'object') return response.data;
          var errorCode = errorCodeOf(response);
          var stale = errorCode === 'SESSION_KEY_EXPIRED' || errorCode === 'OPENDATA_INVALID';
          var now = getToken();
          if (stale && !healed && now && now !== sentWith) {
            // The session changed under this call (another call healed, or the token was
            // refused and the kit signed in again): the data was for the old key. Fetch it
            // again for the current one; no login of this call's own.
            return attempt(true);
          }
          if (errorCode === 'SESSION_KEY_EXPIRED' && !healed) {
            // A login the server sees: its fresh code's exchange gives the server the key the
            // data is now encrypted with. Never a wx.login whose code is not sent (it could
            // replace the key again behind the server's back).
            var old = sentWith;
            return explicitLogin()
              .then(function () {
                // The old session holds the stale key: end it (the per-user cap counts both).
                if (!old) return undefined;
                return send({ url: settings.logoutPath, method: 'POST', header: { Authorization: 'Bearer ' + old } }).then(null, function () {});
              })
              .then(function () {
                return attempt(true);
              });
          }
          throw AuthError('open data failed (' + response.statusCode + (errorCode ? ' ' + errorCode : '') + ')', {
            statusCode: response.statusCode,
            code: errorCode,
            retryAfterSeconds: retryAfterSeconds(response),
          });
        });
    }
    return attempt(false);
  }

  /**
   * The user's live sessions (GET /user/sessions), newest first: [{ id, current, createdAt,
   * lastUsedAt, appid, network, agent, … }]. Rejects with an AuthError carrying the server's code.
   */
  function sessions() {
    return request({ url: settings.sessionsPath, method: 'GET' })
      .then(dataOr('listing sessions'))
      .then(function (data) {
        return data.sessions;
      });
  }

  /**
   * Ends one of the user's sessions by the id sessions() lists ("sign out that phone"). Resolves
   * once it has ended; rejects with SESSION_NOT_FOUND when it is no live session of the user's
   * (ended already). Ending this device's own session is logout().
   */
  function endSession(id) {
    if (!id || typeof id !== 'string') return Promise.reject(AuthError('endSession needs a session id from sessions()', { statusCode: 0, code: 'NO_SESSION_ID' }));
    return request({ url: settings.sessionsPath + '/' + encodeURIComponent(id), method: 'DELETE' }).then(function (response) {
      if (response.statusCode === 204) return undefined;
      var errorCode = errorCodeOf(response);
      throw AuthError('ending the session failed (' + response.statusCode + (errorCode ? ' ' + errorCode : '') + ')', {
        statusCode: response.statusCode,
        code: errorCode,
        retryAfterSeconds: retryAfterSeconds(response),
      });
    });
  }

  /**
   * Binds the number the user picked with <button open-type="getPhoneNumber">: pass
   * e.detail.code (valid 5 minutes, usable once). Resolves with { countryCode,
   * purePhoneNumber, phoneNumber }; rejects with an AuthError carrying the server's code
   * (INVALID_PHONE_CODE: ask the user again; PHONE_IN_USE; RATE_LIMITED; …). A retry of the
   * same code is safe: the server answers it without asking WeChat again.
   */
  function bindPhone(code) {
    if (!code || typeof code !== 'string') {
      return Promise.reject(AuthError('bindPhone needs e.detail.code (the user refused, or the quota is used up: see e.detail.errno)', { statusCode: 0, code: 'NO_PHONE_CODE' }));
    }
    return request({ url: settings.phonePath, method: 'POST', data: { code: code }, header: { 'content-type': 'application/json' } }).then(dataOr('phone binding'));
  }

  /** A 200's data, or an AuthError carrying the server's code. */
  function dataOr(what) {
    return function (response) {
      if (response.statusCode === 200 && response.data && typeof response.data === 'object') return response.data;
      var errorCode = errorCodeOf(response);
      throw AuthError(what + ' failed (' + response.statusCode + (errorCode ? ' ' + errorCode : '') + ')', {
        statusCode: response.statusCode,
        code: errorCode,
        retryAfterSeconds: retryAfterSeconds(response),
      });
    };
  }

  /**
   * Sets the avatar the user chose with <button open-type="chooseAvatar">: pass
   * e.detail.avatarUrl (a temporary local file). Sent with wx.uploadFile to POST /user/avatar
   * under the kit's auth and retry rules (a POST: retried only when the route did not run).
   * Resolves with the new profile ({ …, avatarUrl }); rejects with an AuthError carrying the
   * server's code (AVATAR_TOO_LARGE, UNSUPPORTED_IMAGE, …), or NO_FILE without a path.
   */
  function uploadAvatar(tempFilePath) {
    if (!tempFilePath || typeof tempFilePath !== 'string') {
      return Promise.reject(AuthError('uploadAvatar needs the temporary file path of chooseAvatar', { statusCode: 0, code: 'NO_FILE' }));
    }
    return request({ url: settings.avatarPath, method: 'POST', filePath: tempFilePath, name: 'file' }).then(dataOr('avatar upload'));
  }

  /**
   * Sets the nickname from <input type="nickname">. Resolves with the new profile; rejects
   * with CONTENT_REJECTED (WeChat's content check said no: ask for another), INVALID_REQUEST
   * (empty, too long), WECHAT_UNAVAILABLE / SERVICE_UNAVAILABLE after the kit's retries, …
   */
  function updateProfile(profile) {
    var nickname = profile && profile.nickname;
    return request({ url: settings.profilePath, method: 'POST', data: { nickname: nickname }, header: { 'content-type': 'application/json' } }).then(dataOr('profile update'));
  }

  /**
   * Deletes the user's account for good (POST /user/delete), re-authenticated with a fresh
   * wx.login code on every attempt (a code is usable once). Safe to repeat: the server's
   * deletion is, and an attempt whose answer was lost (a network error, a 5xx after the route
   * ran) is tried again; when the authorizer then refuses the token, the earlier attempt
   * deleted the account and took its sessions with it, so that counts as done. Resolves once
   * the account is gone; the kit then holds no session and stays signed out (request() rejects
   * ACCOUNT_DELETED) until login() is called. Rejects with REAUTH_FAILED (the code is another
   * WeChat user's), WECHAT_UNAVAILABLE / SERVICE_UNAVAILABLE after its retries, …
   */
  function deleteAccount() {
    var mayHaveRun = false;
    var signedInAgain = false;
    function finished() {
      wx.setStorageSync(settings.storageKey, { deletedAt: now() });
    }
    function attempt(n) {
      return ensureToken().then(function (token) {
        return freshCode()
          .then(function (fresh) {
            return send({
              url: settings.deletePath,
              method: 'POST',
              data: { code: fresh.code },
              header: { 'content-type': 'application/json', Authorization: 'Bearer ' + token },
            });
          })
          .then(null, function (error) {
            if (error && error.code === 'WX_LOGIN_FAILED') throw error;
            // No answer: the deletion may have been applied.
            return { statusCode: 0, data: undefined, header: {}, error: error };
          })
          .then(function (response) {
            var status = response.statusCode;
            if (status >= 200 && status < 300) return finished();
            if (isDenied(response)) {
              if (mayHaveRun) return finished();
              // The token was dead before this: sign in once more (the user is here), then delete.
              var current = readSession();
              if (current && current.token === token) clearSession();
              if (!signedInAgain) {
                signedInAgain = true;
                return attempt(n);
              }
            }
            var ours = errorCodeOf(response) !== undefined;
            if (status === 0 || (status >= 500 && (ours || status !== 500))) mayHaveRun = true;
            var retryable = status === 0 || status >= 500 || status === 429 || (ours && status === 409);
            var wait = retryable ? delayFor(response, n) : -1;
            if (wait >= 0) {
              return sleep(wait).then(function () {
                return attempt(n + 1);
              });
            }
            if (response.error) throw response.error;
            var errorCode = errorCodeOf(response);
            throw AuthError('account deletion failed (' + status + (errorCode ? ' ' + errorCode : '') + ')', {
              statusCode: status,
              code: errorCode,
              retryAfterSeconds: retryAfterSeconds(response),
            });
          });
      });
    }
    return attempt(0);
  }

  /** The stored token if it is still valid, else null. */
  function getToken() {
    var session = validSession();
    return session ? session.token : null;
  }

  return {
    login: explicitLogin,
    request: request,
    logout: logout,
    bindPhone: bindPhone,
    uploadAvatar: uploadAvatar,
    updateProfile: updateProfile,
    deleteAccount: deleteAccount,
    sessions: sessions,
    endSession: endSession,
    openData: openData,
    getToken: getToken,
  };
}

module.exports = { createAuth: createAuth };
