// A 公众号 H5 page's login against this service (docs/client.md, "A 公众号 H5 page and an App"):
// WeChat's OAuth redirect, the `state` check against CSRF, then POST /user/wechatlogin/web.
// Plain browser JavaScript, no dependencies; `window` is passed in so that it can be tested.

/** Step 1: send the user to WeChat's OAuth page, which comes back to this page with ?code&state. */
export function startLogin(window, { appid, scope = 'snsapi_userinfo' }) {
  // A fresh random state, kept in this tab only: the page that comes back must show the same.
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  const state = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  window.sessionStorage.setItem('wechat-login-state', state);
  const query = new URLSearchParams({ appid, redirect_uri: withoutLogin(window.location.href), response_type: 'code', scope, state });
  // WeChat checks the parameters' order: appid, redirect_uri, response_type, scope, state.
  window.location.assign(`https://open.weixin.qq.com/connect/oauth2/authorize?${query}#wechat_redirect`);
}

/**
 * Step 2, on the page WeChat sent the user back to: check the state, then exchange the code.
 * Resolves with the service's answer ({token, expiresIn, userId, isNewUser}), or null when the
 * page was not opened by a login (no code).
 */
export async function finishLogin(window, { api, appid }) {
  const params = new URLSearchParams(window.location.search);
  const code = params.get('code');
  if (!code) return null;
  const expected = window.sessionStorage.getItem('wechat-login-state');
  window.sessionStorage.removeItem('wechat-login-state');
  // The code is spent either way: off the address bar, so a reload does not try it again.
  window.history?.replaceState(null, '', withoutLogin(window.location.href));
  // Another site's link to this page with its own code would sign the visitor in as someone else.
  if (!expected || params.get('state') !== expected) throw new Error('login refused: the state does not match this tab’s');
  const response = await window.fetch(`${api}/user/wechatlogin/web`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code, appid }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`login failed: ${response.status} ${body.error?.code ?? ''}`);
  return body;
}

/** The page's URL without the login's `code` and `state` and without a fragment: where WeChat sends the user back. */
function withoutLogin(href) {
  const url = new URL(href);
  url.searchParams.delete('code');
  url.searchParams.delete('state');
  url.hash = '';
  return url.toString();
}
