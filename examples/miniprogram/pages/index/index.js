const app = getApp();

Page({
  data: { profile: null, error: '' },

  onShow() {
    this.loadProfile();
  },

  loadProfile() {
    // Logs in first if needed, and again once if the token was revoked or expired.
    app.auth
      .request({ url: '/user/me' })
      .then((res) => {
        if (res.statusCode === 200) this.setData({ profile: res.data, error: '' });
        else this.setData({ profile: null, error: `HTTP ${res.statusCode}` });
      })
      .catch((err) =>
        this.setData({ profile: null, error: err.code === 'ACCOUNT_DELETED' ? 'your account was deleted: tap Log in to start a new one' : err.code || err.message }),
      );
  },

  // After a deletion the kit stays signed out: only this starts a new account.
  login() {
    app.auth.login().then(() => this.loadProfile(), (err) => this.setData({ error: err.code || err.message }));
  },

  // <button open-type="chooseAvatar">: e.detail.avatarUrl is a temporary local file, already
  // through WeChat's own content check (base library 2.24.4+). The kit uploads it to our API.
  onChooseAvatar(e) {
    app.auth
      .uploadAvatar(e.detail.avatarUrl)
      .then((profile) => this.setData({ profile, error: '' }))
      .catch((err) => this.setData({ error: err.code === 'AVATAR_TOO_LARGE' ? 'that picture is too large' : err.code || err.message }));
  },

  // The nickname <input type="nickname"> inside a form: read on submit, as WeChat advises,
  // because the input's own events can fire before a nickname picked from WeChat is filled in.
  onSaveNickname(e) {
    app.auth
      .updateProfile({ nickname: e.detail.value.nickname })
      .then((profile) => this.setData({ profile, error: '' }))
      .catch((err) => this.setData({ error: err.code === 'CONTENT_REJECTED' ? 'please choose another nickname' : err.code || err.message }));
  },

  // <button open-type="getPhoneNumber">: e.detail.code is valid 5 minutes and usable once.
  onPhone(e) {
    const { code, errno } = e.detail;
    if (!code) {
      // 1400001: the mini-program's quota of phone verifications is used up (the operator tops
      // it up in the WeChat console); anything else: the user said no.
      this.setData({ error: errno === 1400001 ? 'phone verification is unavailable right now' : 'no phone number shared' });
      return;
    }
    app.auth
      .bindPhone(code)
      .then(() => this.loadProfile())
      .catch((err) => {
        const messages = {
          PHONE_IN_USE: 'this number is bound to another account',
          INVALID_PHONE_CODE: 'please tap the button again',
          RATE_LIMITED: 'too many tries, please wait',
        };
        this.setData({ error: messages[err.code] || err.code || err.message });
      });
  },

  logout() {
    app.auth.logout().then(() => this.setData({ profile: null, error: 'logged out' }));
  },

  logoutEverywhere() {
    app.auth.logout({ all: true }).then(() => this.setData({ profile: null, error: 'logged out on every device' }));
  },

  // Deleting is for good (phone binding, avatar, nickname, every session): ask first. The kit
  // re-authenticates the user with a fresh login code and retries safely; calling it again
  // after a failure resumes the deletion.
  deleteAccount() {
    wx.showModal({
      title: 'Delete your account?',
      content: 'Your profile, phone number and sessions are deleted for good. This cannot be undone.',
      confirmText: 'Delete',
      confirmColor: '#e64340',
      success: (res) => {
        if (!res.confirm) return;
        app.auth
          .deleteAccount()
          .then(() => this.setData({ profile: null, error: 'your account was deleted' }))
          .catch((err) => this.setData({ error: `could not delete the account (${err.code || err.message}): please try again` }));
      },
    });
  },
});
