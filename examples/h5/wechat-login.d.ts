/** The slice of a browser's `window` the page's login uses. */
export interface BrowserLike {
  location: { href: string; search: string; assign(url: string): void };
  sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void; removeItem(key: string): void };
  crypto: { getRandomValues(array: Uint8Array): Uint8Array };
  history?: { replaceState(data: unknown, unused: string, url: string): void };
  fetch(url: string, init: { method: string; headers: Record<string, string>; body: string }): Promise<{ ok: boolean; status: number; json(): Promise<any> }>;
}

export function startLogin(window: BrowserLike, options: { appid: string; scope?: 'snsapi_base' | 'snsapi_userinfo' }): void;
export function finishLogin(window: BrowserLike, options: { api: string; appid?: string }): Promise<{ token: string; expiresIn: number; userId: string; isNewUser: boolean } | null>;
