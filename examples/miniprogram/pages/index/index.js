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
      .catch((err) => this.setData({ profile: null, error: err.code || err.message }));
  },

  logout() {
    app.auth.logout().then(() => this.setData({ profile: null, error: 'logged out' }));
  },

  logoutEverywhere() {
    app.auth.logout({ all: true }).then(() => this.setData({ profile: null, error: 'logged out on every device' }));
  },
});
