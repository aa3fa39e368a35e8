const { createAuth } = require('./utils/wechat-auth.js');
const { baseUrl } = require('./config.js');

App({
  onLaunch() {
    // One kit for the whole app: pages share its token and its single in-flight login.
    this.auth = createAuth({ baseUrl, wx });
    // Log in early so the first page's request does not wait for it. A failure here is not
    // fatal: the first auth.request() logs in again.
    this.auth.login().catch((err) => console.warn('login failed', err.code || err.message));
  },
});
