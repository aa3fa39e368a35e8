import { settings, type Env } from '../config';

/** The phone function's own settings (the account deletion reads the claims table too). */
export interface PhoneConfig {
  /** The claims table: one item per bound number, keyed by E.164. */
  phonesTable: string;
  /** A number bound to someone else: refuse (PHONE_IN_USE), or move it to the newest verified holder. */
  conflict: 'reject' | 'move';
  /** Binding attempts per user per window (sliding); 0 turns the limit off. */
  limit: { limit: number; windowSeconds: number };
}

export function loadPhoneConfig(env: Env = process.env): PhoneConfig {
  const s = settings(env);
  return {
    phonesTable: s.required('PHONES_TABLE'),
    conflict: s.oneOf('PHONE_CONFLICT', ['reject', 'move'], 'reject'),
    limit: {
      limit: s.integer('PHONE_BIND_LIMIT', 10, 0, 10_000),
      windowSeconds: s.integer('PHONE_BIND_WINDOW_SECONDS', 3600, 1, 86_400),
    },
  };
}
