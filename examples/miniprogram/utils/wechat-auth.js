/**
 * wechat-auth.js — the mini-program half of the login (no dependencies; only `wx.*`).
 *
 *   const { createAuth } = require('./wechat-auth.js');
 *   const auth = createAuth({ baseUrl: 'https://abc123.execute-api.ap-southeast-1.amazonaws.com', wx });
 *   const { data } = await auth.request({ url: '/user/me' });
 *
 * - login(): one wx.login and one POST /user/wechatlogin however many callers ask at once.
 * - request(): logs in first when there is no valid token, sends `Authorization: Bearer …`,
 *   logs in again once and retries once when the token is refused (401/403), and backs off
 *   on 429/503, honouring Retry-After.
 * - The token and its expiry live in wx storage, so a relaunch reuses them without wx.login.
 *
 * Written for the mini-program JS runtime: ES2015 and Promise, no async/await, no Node APIs.
 */
'use strict';

var DEFAULTS = {
  storageKey: 'wechat-auth',
  loginPath: '/user/wechatlogin',
  logoutPath: '/user/logout',
  /** Retries of a 409/429/503 answer before giving up. */
  maxRetries: 3,
  /** Longest single wait; a Retry-After longer than this is not waited for. */
  maxDelayMs: 8000,
  baseDelayMs: 300,
  /** Treat a token as expired this long before the server would. */
  expirySkewMs: 1000,
};

function AuthError(message, details) {
  var error = new Error(message);
  error.name = 'AuthError';
  error.statusCode = details.statusCode;
  error.code = details.code;
  error.retryAfterSeconds = details.retryAfterSeconds;
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

function createAuth(options) {
  if (!options || !options.baseUrl || !options.wx) throw new Error('createAuth needs { baseUrl, wx }');
  var wx = options.wx;
  var settings = {};
  for (var key in DEFAULTS) settings[key] = options[key] !== undefined ? options[key] : DEFAULTS[key];
  var baseUrl = String(options.baseUrl).replace(/\/+$/, '');
  var now = options.now || Date.now;
  var sleep =
    options.sleep ||
    function (ms) {
      return new Promise(function (resolve) {
        setTimeout(resolve, ms);
      });
    };
  var inflightLogin = null;

  function absolute(url) {
    return /^https?:\/\//i.test(url) ? url : baseUrl + (url.charAt(0) === '/' ? url : '/' + url);
  }

  function send(request) {
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

  /** How long to wait before retry number `attempt` (0-based), or -1 to give up now. */
  function delayFor(response, attempt) {
    if (attempt >= settings.maxRetries) return -1;
    var asked = retryAfterSeconds(response);
    if (asked !== undefined) {
      var ms = asked * 1000;
      return ms > settings.maxDelayMs ? -1 : ms;
    }
    var exponential = settings.baseDelayMs * Math.pow(2, attempt);
    return Math.min(settings.maxDelayMs, exponential / 2 + Math.random() * (exponential / 2));
  }

  /** Sends, retrying 429/503 (and 409 when `inProgressToo`) with bounded backoff. */
  function sendWithBackoff(request, inProgressToo) {
    function attempt(n) {
      return send(request).then(function (response) {
        var retryable = response.statusCode === 429 || response.statusCode === 503 || (inProgressToo && response.statusCode === 409);
        if (!retryable) return response;
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

  function exchange(code, freshCodeLeft) {
    return sendWithBackoff({ url: settings.loginPath, method: 'POST', data: { code: code }, header: { 'content-type': 'application/json' } }, true).then(
      function (response) {
        if (response.statusCode === 200 && response.data && response.data.token) {
          var ttlMs = response.data.expiresIn * 1000;
          var session = { token: response.data.token, userId: response.data.userId, ttlMs: ttlMs, expiresAt: now() + ttlMs };
          saveSession(session);
          return { token: session.token, userId: session.userId, isNewUser: response.data.isNewUser, expiresIn: response.data.expiresIn };
        }
        var code = errorCodeOf(response);
        // The code was refused (expired, or used elsewhere): one fresh wx.login, then give up.
        if (code === 'INVALID_CODE' && freshCodeLeft) {
          return wxLogin().then(function (fresh) {
            return exchange(fresh, false);
          });
        }
        throw AuthError('login failed (' + response.statusCode + (code ? ' ' + code : '') + ')', {
          statusCode: response.statusCode,
          code: code,
          retryAfterSeconds: retryAfterSeconds(response),
        });
      },
    );
  }

  /** Logs in, sharing one wx.login and one POST among every caller that asks meanwhile. */
  function login() {
    if (inflightLogin) return inflightLogin;
    inflightLogin = wxLogin()
      .then(function (code) {
        return exchange(code, true);
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
    return session ? Promise.resolve(session.token) : login().then(function (result) {
      return result.token;
    });
  }

  function withAuthorization(request, token) {
    var header = {};
    var given = request.header || {};
    for (var name in given) if (Object.prototype.hasOwnProperty.call(given, name)) header[name] = given[name];
    header.Authorization = 'Bearer ' + token;
    var copy = {};
    for (var key in request) if (Object.prototype.hasOwnProperty.call(request, key)) copy[key] = request[key];
    copy.header = header;
    return copy;
  }

  /** Like wx.request, as a Promise of { statusCode, data, header }, signed in. */
  function request(options) {
    if (!options || !options.url) return Promise.reject(new Error('request needs { url }'));
    function attempt(reloginLeft) {
      return ensureToken().then(function (token) {
        return sendWithBackoff(withAuthorization(options, token), false).then(function (response) {
          if ((response.statusCode === 401 || response.statusCode === 403) && reloginLeft) {
            // Refused by the authorizer: expired, revoked or past its absolute cap. Once.
            var current = readSession();
            if (current && current.token === token) clearSession();
            return attempt(false);
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

  /** The stored token if it is still valid, else null. */
  function getToken() {
    var session = validSession();
    return session ? session.token : null;
  }

  return { login: login, request: request, logout: logout, getToken: getToken };
}

module.exports = { createAuth: createAuth };
