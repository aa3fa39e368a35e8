// A TypeScript mini-program page as docs/client.md wires the kit: the global `wx` of WeChat's
// official typings (miniprogram-api-typings) goes to createAuth as is. Typechecked only, by
// test/unit/client-typings.test.ts (`tsc -p test/types/miniprogram/tsconfig.json`), never run.
import { createAuth, type AuthError, type PhoneNumber, type Profile } from '../../../client/wechat-auth';

const auth = createAuth({ baseUrl: 'https://api.example.com', wx });

Page({
  data: { nickname: '', phone: '' },
  async onLoad() {
    await auth.login();
    const me = await auth.request<Profile>({ url: '/user/me' });
    this.setData({ nickname: me.data.nickname ?? '' });
    await auth.request({ url: '/user/me', method: 'GET', header: { 'X-Trace': '1' }, timeout: 5000, dataType: 'json', responseType: 'text' });
    await auth.request({ url: '/orders', method: 'POST', data: { item: 1 } });
    await auth.request({ url: '/orders/1', method: 'DELETE' });
    // @ts-expect-error wx.request has no PATCH
    await auth.request({ url: '/orders/1', method: 'PATCH' });
  },
  async onGetPhoneNumber(e: WechatMiniprogram.ButtonGetPhoneNumber) {
    try {
      const phone: PhoneNumber = await auth.bindPhone(e.detail.code);
      this.setData({ phone: phone.phoneNumber });
    } catch (err) {
      wx.showToast({ title: (err as AuthError).code ?? 'error', icon: 'none' });
    }
  },
  async onChooseAvatar(e: WechatMiniprogram.CustomEvent<{ avatarUrl: string }>) {
    const profile: Profile = await auth.uploadAvatar(e.detail.avatarUrl);
    this.setData({ nickname: profile.nickname ?? '' });
  },
  async onNickname(e: WechatMiniprogram.Input) {
    await auth.updateProfile({ nickname: e.detail.value });
  },
  async onDelete() {
    await auth.deleteAccount();
    await auth.logout({ all: true });
    const token: string | null = auth.getToken();
    console.log(token);
  },
});
