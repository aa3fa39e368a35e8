import { settings, type Env } from '../config';

/** The open-data function's own settings. */
export interface OpenDataConfig {
  /** How old a watermark may be, in seconds: older data is refused as a replay. */
  maxAgeSeconds: number;
  /** checksession calls per user per fixed window: what an undecryptable request may cost WeChat's quota. */
  checkLimit: { limit: number; windowSeconds: number };
}

export function loadOpenDataConfig(env: Env = process.env): OpenDataConfig {
  const s = settings(env);
  return {
    maxAgeSeconds: s.integer('OPENDATA_MAX_AGE_SECONDS', 600, 10, 86_400),
    checkLimit: {
      limit: s.integer('OPENDATA_CHECK_LIMIT', 10, 1, 10_000),
      windowSeconds: s.integer('OPENDATA_CHECK_WINDOW_SECONDS', 600, 1, 86_400),
    },
  };
}
